// luci-app-tunguard on OpenWrt's own web stack, driven by Chromium: a run on demand, not a CI test.
// The netns lab's router runs the real tunguard daemon and, in a private mount namespace,
// cross-build/openwrt-luci.sh's ubusd, logd, rpcd and uhttpd with LuCI's ucode runtime on the
// router's LAN address. Debian's Chromium runs in the LAN host's namespace (a client on the LAN),
// logs in with a real password (rpcd checks the shadow entry) and opens every tunguard page.
//
//   npm run build && UL_ROOT=/path/to/root flock /tmp/tunguard-lab.lock node cross-build/openwrt-luci-drive.mjs
//
// Prints one line per check (ok / FAIL) and exits 1 if any failed; screenshots go to build/luci-real/.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, createWriteStream, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_UCI } from '../dist/src/config/index.js';
import { CHROMIUM, launchChromium } from '../dist/test/lab/browser.js';
import { ADDR, Lab, REPO_ROOT, sleep } from '../dist/test/lab/lab.js';

const UL_ROOT = process.env.UL_ROOT;
if (!UL_ROOT) throw new Error('set UL_ROOT to the staging root (see cross-build/openwrt-luci.sh)');
const SHOTS = join(REPO_ROOT, 'build', 'luci-real');
const PORT = 8080;
const BASE = `http://${ADDR.rtrLan4}:${PORT}/cgi-bin/luci`;
const PASSWORD = randomBytes(9).toString('base64url');
let failed = 0;
const check = (what, ok, detail = '') => {
  if (!ok) failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}${detail ? ` (${detail})` : ''}`);
};

mkdirSync(SHOTS, { recursive: true });
const lab = Lab.create();
let web;
let browser;
let profile;
let page;
const errors = [];
/** ubus objects of daemons not run here (netifd, procd's service): calls to them are listed, not failed. */
const NOT_RUN = new Set(['network.interface', 'network', 'service', 'network.device', 'network.wireless']);
const notRun = new Set();
/** How each login was done (the theme's dialog, or the form posted directly). */
const loginPaths = [];
try {
  // The daemon's UCI file: the package default with the lab's devices and paths, API on loopback.
  const conf = join(lab.stateDir, 'tunguard.conf');
  writeFileSync(
    conf,
    DEFAULT_UCI.replace("option wan_device 'wan'", "option wan_device 'wan0'")
      .replace("list lan_device 'br-lan'", "list lan_device 'lan0'")
      .replace("option state_dir '/var/run/tunguard'", `option state_dir '${lab.stateDir}'`)
      .replace("option durable_dir '/etc/tunguard'", `option durable_dir '${lab.stateDir}/durable'`)
      .replace(
        "option token_file '/etc/tunguard/api.token'",
        `option token_file '${lab.stateDir}/api.token'`,
      ),
  );
  const fifo = join(lab.stateDir, 'daemon.log');
  lab.run(lab.ns.rtr, 'mkfifo', [fifo]);

  // The web stack in the router's namespace; it copies the file to its /etc/config/tunguard.
  web = spawn('ip', ['netns', 'exec', lab.ns.rtr, 'bash', join(REPO_ROOT, 'cross-build/openwrt-luci.sh')], {
    env: {
      ...process.env,
      UL_ROOT,
      LISTEN: `${ADDR.rtrLan4}:${PORT}`,
      ROOT_PW: PASSWORD,
      TG_CONF: conf,
      TG_LOG: fifo,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let webOut = '';
  web.stdout.on('data', (d) => (webOut += d));
  web.stderr.on('data', (d) => (webOut += d));
  for (let i = 0; !webOut.includes('ready ') && i < 300; i++) await sleep(100);
  if (!webOut.includes('ready ')) throw new Error(`web stack not ready:\n${webOut}`);
  const etc = /^etc (.*)$/m.exec(webOut)?.[1];

  // tunguard reads the same /etc/config/tunguard that LuCI's Settings writes; its output goes to
  // logd as procd would send it.
  const tg = lab.startTunguard(['--config', join(etc, 'config/tunguard')], false);
  const log = createWriteStream(fifo);
  log.on('error', () => {}); // the logger ends first when the stack stops
  tg.proc.stdout.on('data', (d) => log.write(d));
  tg.proc.stderr.on('data', (d) => log.write(d));
  await tg.ready();

  // Chromium as a LAN client: its binary started through `ip netns exec` (playwright talks over a pipe).
  const wrapper = join(lab.stateDir, 'chromium-in-lan');
  writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${lab.ns.lan} ${CHROMIUM} "$@"\n`);
  chmodSync(wrapper, 0o755);
  profile = join(lab.stateDir, 'chromium-profile');
  ({ browser } = await launchChromium({ executablePath: wrapper, profile }));
  page = browser.pages()[0] ?? (await browser.newPage());
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => m.type() === 'error' && errors.push(`console: ${m.text()}`));
  page.on('response', async (r) => {
    if (r.status() >= 400) errors.push(`HTTP ${r.status()} ${r.url()}`);
    // ubus calls refused or failed (JSON-RPC errors come with HTTP 200, one per call of a batch).
    if (r.url().includes('/ubus') && r.request().method() === 'POST') {
      const calls = [r.request().postDataJSON()].flat();
      const replies = [await r.json().catch(() => [])].flat();
      for (const reply of replies) {
        if (!reply?.error) continue;
        const call = calls.find((c) => c.id === reply.id);
        const what = `${call?.params?.[1]}.${call?.params?.[2]}`;
        if (NOT_RUN.has(call?.params?.[1]) && reply.error.message === 'Object not found') notRun.add(what);
        else errors.push(`ubus ${what} ${JSON.stringify(call?.params?.[3])}: ${reply.error.message}`);
      }
    }
  });
  const shot = (name) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  // Real LuCI marks nothing when a view has rendered (the tests' stub sets data-rendered): wait for
  // each tab's own element instead.
  const MARK = {
    status: '#tg-tier[data-tier]',
    hosts: '#tg-hosts',
    rules: '#tg-rules',
    log: '#tg-log',
    settings: '.cbi-map',
  };
  const rendered = (tab) => page.locator(`#view ${MARK[tab]}`).first().waitFor({ timeout: 30_000 });
  const cli = (...args) =>
    JSON.parse(
      lab.run(
        lab.ns.rtr,
        process.execPath,
        [join(REPO_ROOT, 'bin/tunguard'), ...args, '--json', '--state-dir', lab.stateDir],
        60_000,
      ),
    );

  // A host for the Hosts tab: a stored OpenVAS report imported with the CLI.
  const imported = cli(
    'scan',
    'import',
    join(REPO_ROOT, 'test/fixtures/scanners/defectdojo_openvas_report_detail_v2.xml'),
  );

  async function login(user, password) {
    await browser.clearCookies();
    await page.goto(`${BASE}/`);
    // luci-theme-bootstrap's login view moves the form into a modal dialog. On the login page LuCI's
    // preload probe (rpcd `file list`) is refused to the anonymous session, and LuCI's answer to any
    // refusal, its "Session expired" dialog, can replace the login dialog: then the same form is
    // posted as the browser would.
    const dialog = page.locator('.modal');
    await page.waitForLoadState('networkidle');
    if (await dialog.locator('input[name="luci_username"]').isVisible()) {
      await dialog.locator('input[name="luci_username"]').fill(user);
      await dialog.locator('input[name="luci_password"]').fill(password);
      await dialog.locator('button', { hasText: 'Log in' }).click();
      loginPaths.push('login dialog');
    } else {
      loginPaths.push(
        `form post (dialog showed: ${((await dialog.textContent().catch(() => '')) ?? '').slice(0, 60)})`,
      );
      await page.evaluate(
        ([u, p]) => {
          const f = document.createElement('form');
          f.method = 'post';
          f.action = location.pathname;
          for (const [n, v] of [
            ['luci_username', u],
            ['luci_password', p],
          ])
            f.appendChild(Object.assign(document.createElement('input'), { name: n, value: v }));
          document.body.appendChild(f);
          f.submit();
        },
        [user, password],
      );
    }
    await page.waitForLoadState('networkidle');
    const cookies = await browser.cookies();
    return cookies.some((c) => c.name === 'sysauth_http');
  }

  // Login: a wrong password is refused, root's real one opens a session.
  check('a wrong password gets no session', !(await login('root', `${PASSWORD}x`)));
  await shot('00-login-refused');
  check('root logs in with its shadow password', await login('root', PASSWORD));

  // Status → Overview: the widget from the daemon's status.json.
  errors.length = 0;
  await page.goto(`${BASE}/admin/status/overview`);
  await page.locator('#tg-overview').waitFor({ timeout: 30_000 });
  const st = cli('status');
  const tier = await page.locator('#tg-overview [data-field="tier"] [data-tier]').getAttribute('data-tier');
  check('Overview widget shows the daemon tier', tier === st.tier, `page ${tier}, daemon ${st.tier}`);
  await shot('01-overview');
  check('Overview: no page errors', errors.length === 0, errors.join('; '));

  const tabs = {};
  for (const tab of ['status', 'hosts', 'rules', 'log', 'settings']) {
    errors.length = 0;
    await page.goto(`${BASE}/admin/services/tunguard/${tab}`);
    await rendered(tab);
    await sleep(1500);
    await shot(`02-${tab}`);
    tabs[tab] = [...errors];
    check(`${tab}: renders without page errors`, errors.length === 0, errors.join('; '));
  }
  await page.goto(`${BASE}/admin/services/tunguard/status`);
  await page.locator('#tg-tier[data-tier]').waitFor({ timeout: 10_000 });
  check(
    'Status: version from the daemon',
    /^\d+\.\d+\.\d+/.test((await page.textContent('#tg-version')) ?? ''),
  );
  const tabHrefs = await page
    .locator('#tabmenu ul.tabs li a')
    .evaluateAll((l) => l.map((x) => x.getAttribute('href')?.split('/').pop()));
  check(
    'menu: the five tabs, from menu.d',
    JSON.stringify(tabHrefs) === JSON.stringify(['status', 'hosts', 'rules', 'log', 'settings']),
    tabHrefs.join(','),
  );

  await page.goto(`${BASE}/admin/services/tunguard/hosts`);
  await rendered('hosts');
  await page
    .locator('#tg-hosts tr[data-host]')
    .first()
    .waitFor({ timeout: 10_000 })
    .catch(() => {});
  const hostsText = ((await page.locator('#tg-hosts').textContent()) ?? '').replace(/\s+/g, ' ');
  check(
    'Hosts: the imported host and its risk',
    imported.hostIds?.length === 1 && /server99/.test(hostsText),
    hostsText.slice(0, 160),
  );

  await page.goto(`${BASE}/admin/services/tunguard/log`);
  await rendered('log');
  const logText = await page
    .locator('#tg-log')
    .inputValue()
    .catch(() => '');
  check(
    'Log: the daemon lines from logd through logread',
    /tunguard.*steering up/.test(logText),
    `${logText.split('\n').length} lines`,
  );

  await page.goto(`${BASE}/admin/services/tunguard/settings`);
  await rendered('settings');
  // widgets.DeviceSelect is LuCI's ui.Dropdown: a list whose chosen items carry "selected".
  const wan = page.locator('[id="cbid.tunguard.main.wan_device"]');
  const wanChosen = await wan.locator('li[selected]').evaluateAll((l) => l.map((x) => x.dataset.value));
  check('Settings: WAN picker shows wan0', JSON.stringify(wanChosen) === '["wan0"]', wanChosen.join(','));
  const wanOptions = await wan
    .locator('li[data-value]')
    .evaluateAll((o) => o.map((x) => x.dataset.value).filter(Boolean));
  check(
    'Settings: WAN picker lists the router devices (rpcd-mod-luci)',
    wanOptions.includes('lan0') && wanOptions.includes('wan0'),
    wanOptions.join(','),
  );

  // The rule editor, saving through rpcd, as three users.
  async function addRule(id) {
    errors.length = 0;
    await page.goto(`${BASE}/admin/services/tunguard/rules`);
    await rendered('rules');
    await page.click('button[data-action="add-rule"]');
    const field = async (name, value) => {
      const el = page.locator(`#tg-rule-editor [name="${name}"]`).first();
      if ((await el.evaluate((n) => n.tagName)) === 'SELECT') await el.selectOption(value);
      else await el.fill(value);
    };
    await field('id', id);
    await field('name', `saved by LuCI ${id}`);
    await field('kind', 'threat');
    await field('threatType', 'trojan');
    await field('threatId', 'Bot-4162');
    await page.click('#tg-rule-editor button[data-action="add-fileop"]');
    const op = page.locator('#tg-rule-editor .tg-fileop').last();
    await op.locator('[name="op"]').selectOption('quarantine');
    await op.locator('[name="fileName"]').fill('dropper.sh');
    await op.locator('[name="location"]').fill('/srv');
    await page.click('#tg-rule-editor button[data-action="save-rule"]');
    await page
      .locator('[data-notification]')
      .first()
      .waitFor({ timeout: 15_000 })
      .catch(() => {});
    await sleep(500);
    return (await page.locator('[data-notification]').allTextContents()).join(' | ');
  }
  // The daemon's rule list, read with the CLI (outside LuCI and rpcd).
  const hasRule = (id) => JSON.stringify(cli('rules')).includes(`"${id}"`);
  let note = await addRule('luci-root');
  await shot('03-rule-saved-root');
  check('root saves a rule', hasRule('luci-root'), note);

  check('tgoperator logs in', await login('tgoperator', PASSWORD));
  note = await addRule('luci-operator');
  await shot('04-rule-saved-operator');
  check('tgoperator (luci-base + luci-app-tunguard) saves a rule', hasRule('luci-operator'), note);
  // A program through the real cgi-io (cgi-upload to the one path the ACL lets the session write),
  // then the plugin's program_add: stored by the daemon with its sha256.
  const program = Buffer.from('#!/bin/sh\necho cleaned\n');
  const sha = createHash('sha256').update(program).digest('hex');
  await page.goto(`${BASE}/admin/services/tunguard/rules`);
  await rendered('rules');
  await page.setInputFiles('#tg-upload-file', { name: 'clean.sh', mimeType: 'text/x-sh', buffer: program });
  await page.fill('#tg-upload-id', 'lab-clean');
  await page.fill('#tg-upload-location', '/opt/tunguard');
  await page.click('button[data-action="upload"]');
  await page
    .locator('[data-notification]', { hasText: 'lab-clean' })
    .first()
    .waitFor({ timeout: 15_000 })
    .catch(() => {});
  const stored = JSON.stringify(cli('programs'));
  check(
    'tgoperator uploads a program through cgi-io; the daemon stores it with its sha256',
    stored.includes(sha),
    stored.slice(0, 200),
  );
  await shot('04b-program-uploaded-operator');
  check('tgoperator: no page errors', errors.length === 0, errors.join('; '));

  check('tgviewer logs in', await login('tgviewer', PASSWORD));
  // A read-only login: LuCI marks the pages read-only and the app disables its write buttons.
  errors.length = 0;
  await page.goto(`${BASE}/admin/services/tunguard/rules`);
  await rendered('rules');
  check('tgviewer: the rules are listed', (await page.locator('#tg-rules tr[data-rule]').count()) >= 2);
  check(
    'tgviewer: "Add rule" is disabled',
    await page.locator('button[data-action="add-rule"]').isDisabled(),
  );
  check(
    'tgviewer: "Edit" and "Delete" are disabled',
    (await page.locator('#tg-rules button:enabled').count()) === 0,
  );
  await shot('05-rules-readonly-viewer');
  // The same save the editor sends, from the page through LuCI's rpc: rpcd refuses it (the ACL).
  const refused = await page.evaluate(() =>
    L.require('tunguard.rpc').then((m) =>
      m.declare('rule_save', ['rule', 'create'])(
        { id: 'luci-viewer', kind: 'threat', threat: { type: 'trojan', id: 'Bot-4162' } },
        true,
      ),
    ),
  );
  check(
    'tgviewer: rule_save is refused by rpcd, in words',
    /^Not allowed for this login/.test(refused?.error ?? ''),
    JSON.stringify(refused),
  );
  check('tgviewer: no rule was saved', !hasRule('luci-viewer'));
  errors.length = 0; // that refusal was the point
  await page.goto(`${BASE}/admin/services/tunguard/log`);
  await rendered('log');
  await page.locator('button[data-action]').first().waitFor({ timeout: 10_000 });
  check(
    'tgviewer: the service buttons are disabled',
    (await page.locator('button[data-action]:enabled').count()) === 0,
  );
  await page.goto(`${BASE}/admin/services/tunguard/settings`);
  await rendered('settings');
  const actions = await page
    .locator('.cbi-page-actions button')
    .evaluateAll((b) => b.map((x) => `${x.textContent}:${x.disabled}`));
  check(
    'tgviewer: Settings cannot be saved (LuCI form read-only)',
    actions.length > 0 && actions.every((a) => a.endsWith(':true')),
    actions.join(','),
  );
  await shot('06-settings-readonly-viewer');
  check('tgviewer: no page errors', errors.length === 0, errors.join('; '));
} catch (err) {
  failed++;
  console.log(`FAIL ${err.stack ?? err}`);
  if (errors.length) console.log(`page errors: ${errors.join('\n')}`);
  await page?.screenshot({ path: join(SHOTS, 'failed.png'), fullPage: true }).catch(() => {});
} finally {
  await browser?.close().catch(() => {});
  if (web && web.exitCode === null) {
    web.kill('SIGTERM');
    await new Promise((r) => web.once('exit', r));
  }
  await lab.tunguard?.stop();
  lab.destroy();
  if (profile) rmSync(profile, { recursive: true, force: true });
}
console.log(`logins: ${loginPaths.join('; ')}`);
console.log(`calls to daemons not run here: ${[...notRun].join(', ') || 'none'}`);
console.log(failed === 0 ? 'all checks passed' : `${failed} check(s) failed`);
process.exit(failed === 0 ? 0 : 1);
