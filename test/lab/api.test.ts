// The control plane of a real tunguard in the lab: the CLI (found through the config and state dir,
// human and --json output, exit codes), the API on loopback and on the LAN address but never on the
// WAN side, SIGHUP reload (new thresholds, bad config refused, no connection lost), events flowing.
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADDR, Lab, makeTempDir, REPO_ROOT, sleep, startHttpServer, type TunguardProcess } from './lab.js';

const BIN = join(REPO_ROOT, 'bin', 'tunguard');
const NMAP = join(REPO_ROOT, 'test', 'fixtures', 'scanners', 'defectdojo_nmap_multiple_port.xml');
let lab: Lab;
let tg: TunguardProcess;
let conf: string;
let fileSha = '';
const www = makeTempDir('tunguard-www-');

function uci(extra = '', moderate = 100, risky = 300): string {
  return `config tunguard 'main'
\toption wan_device 'wan0'
\tlist lan_device 'lan0'
\toption state_dir '${lab.stateDir}'

config defense 'syn'
\toption moderate_threshold '${moderate}'
\toption risky_threshold '${risky}'

config api 'api'
\tlist listen '127.0.0.1:7447'
\tlist listen '${ADDR.rtrLan4}:7447'
${extra}`;
}

/** Runs the CLI in the router's namespace. */
function cli(args: string[], ns = lab.ns.rtr) {
  return lab.exec(ns, process.execPath, [BIN, ...args], 20_000);
}

beforeAll(async () => {
  lab = Lab.create();
  conf = join(lab.stateDir, 'tunguard.conf');
  writeFileSync(conf, uci());
  const data = randomBytes(8 << 20);
  writeFileSync(join(www, 'f.bin'), data);
  fileSha = createHash('sha256').update(data).digest('hex');
  await startHttpServer(lab, lab.ns.lan, www, 8080, [ADDR.lan4]);
  tg = lab.startTunguard(['--config', conf], false);
  await tg.ready();
});

afterAll(async () => {
  await lab?.tunguard?.stop();
  lab?.destroy();
});

describe('the CLI against a running daemon', () => {
  it('finds the API and token through --config alone (state_dir → api.json), human and --json', () => {
    const info = JSON.parse(readFileSync(join(lab.stateDir, 'api.json'), 'utf8'));
    expect(info.urls).toEqual(['http://127.0.0.1:7447', `https://${ADDR.rtrLan4}:7447`]);
    // The fingerprint published for clients is the certificate's on flash (0600, made at first start).
    const certFile = join(lab.stateDir, 'durable', 'api-tls.crt');
    expect(statSync(certFile).mode & 0o777).toBe(0o600);
    expect(statSync(join(lab.stateDir, 'durable', 'api-tls.key')).mode & 0o777).toBe(0o600);
    expect(info.tlsFingerprint).toBe(new X509Certificate(readFileSync(certFile)).fingerprint256);
    expect(statSync(info.tokenFile).mode & 0o777).toBe(0o600);
    expect(tg.output).not.toContain(readFileSync(info.tokenFile, 'utf8').trim());

    lab.run(lab.ns.wan, 'ping', ['-c', '3', '-i', '0.2', ADDR.lan4]);
    const j = cli(['status', '--json', '--config', conf]);
    expect(j.code, j.stderr).toBe(0);
    const s = JSON.parse(j.stdout);
    expect(s.counters.icmp).toBeGreaterThanOrEqual(6);
    expect(s.tier).toBe('normal'); // the SYN gate's gauge
    expect(s.halfOpen).toBe(0);
    expect(s.version).toMatch(/^\d+\.\d+\.\d+/);

    const h = cli(['status', '--state-dir', lab.stateDir]);
    expect(h.code, h.stderr).toBe(0);
    expect(h.stdout).toMatch(/^tier {8}normal$/m);
    expect(h.stdout).toMatch(/^packets +rx \d+/m);
    expect(h.stdout).toMatch(/^api {9}http:\/\/127\.0\.0\.1:7447$/m);
    expect(h.stdout).toContain(`api tls     sha256 ${info.tlsFingerprint}`);
  });

  it('tiers, connections, attackers with text and JSON', async () => {
    // A proxied connection to list: an HTTP download from the WAN side.
    lab.run(lab.ns.wan, 'sh', [
      '-c',
      `curl -sS --fail -o /dev/null --limit-rate 4M http://${ADDR.lan4}:8080/f.bin`,
    ]);
    await sleep(1200); // the SYN proxy reports connection changes about once a second
    const t = cli(['tiers', '--json', '--state-dir', lab.stateDir]);
    expect(t.code, t.stderr).toBe(0);
    expect(JSON.parse(t.stdout)).toMatchObject({
      current: 'normal',
      thresholds: { moderate: 100, risky: 300 },
    });
    expect(cli(['tiers', '--state-dir', lab.stateDir]).stdout).toMatch(/^tier now: normal/);
    const c = cli(['connections', '--json', '--state-dir', lab.stateDir, '--port', '8080']);
    expect(c.code, c.stderr).toBe(0);
    const page = JSON.parse(c.stdout);
    expect(page.total).toBeGreaterThanOrEqual(1);
    expect(page.items[0]).toMatchObject({
      src: ADDR.wan4,
      dst: ADDR.lan4,
      dport: 8080,
      direction: 'inbound',
    });
    const ct = cli(['connections', '--state-dir', lab.stateDir, '--src', '198.51.100.0/24']);
    expect(ct.stdout).toMatch(
      new RegExp(`${ADDR.wan4.replaceAll('.', '\\.')}:\\d+ +${ADDR.lan4.replaceAll('.', '\\.')}:8080`),
    );
    const a = cli(['attackers', '--json', '--state-dir', lab.stateDir]);
    expect(a.code, a.stderr).toBe(0);
    expect(JSON.parse(a.stdout)).toMatchObject({ items: [], total: 0 });
    expect(cli(['attackers', '--state-dir', lab.stateDir]).stdout).toMatch(/no sources marked/);
    const clear = cli(['attackers', 'clear', '198.51.100.99', '--state-dir', lab.stateDir]);
    expect(clear.code).toBe(1);
    expect(clear.stderr).toMatch(/198\.51\.100\.99 is not marked/);
  });

  it('allow add / list / del edit the config file', () => {
    const add = cli([
      'allow',
      'add',
      '203.0.113.0/24',
      '--comment',
      'lab peers',
      '--state-dir',
      lab.stateDir,
    ]);
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).toBe('added 203.0.113.0/24\n');
    expect(readFileSync(conf, 'utf8')).toContain("list prefix '203.0.113.0/24'");
    const list = cli(['allow', 'list', '--json', '--state-dir', lab.stateDir]);
    expect(JSON.parse(list.stdout).items).toEqual([
      { cidr: '203.0.113.0/24', family: 4, section: 'allow_203_0_113_0_24', comment: 'lab peers' },
    ]);
    expect(cli(['allow', 'list', '--state-dir', lab.stateDir]).stdout).toMatch(
      /^203\.0\.113\.0\/24 +allow_203_0_113_0_24 +lab peers$/m,
    );
    const del = cli(['allow', 'del', '203.0.113.0/24', '--state-dir', lab.stateDir]);
    expect(del.code, del.stderr).toBe(0);
    expect(readFileSync(conf, 'utf8')).toBe(uci());
    const again = cli(['allow', 'del', '203.0.113.0/24', '--state-dir', lab.stateDir]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/not on the allowlist/);
  });

  it('exit codes: 2 usage, 3 not running, 1 wrong token; config check without a daemon', () => {
    expect(cli(['status', '--bogus']).code).toBe(2);
    expect(cli(['allow', 'add', '10.0.0.1/8', '--state-dir', lab.stateDir]).code).toBe(2);
    expect(cli(['connections', '--port', 'http', '--state-dir', lab.stateDir]).code).toBe(2);
    expect(cli(['nonsense']).code).toBe(2);
    const down = cli(['status', '--api', '127.0.0.1:7999', '--state-dir', lab.stateDir]);
    expect(down.code).toBe(3);
    expect(down.stderr).toMatch(/tunguard is not running: nothing answers at http:\/\/127\.0\.0\.1:7999/);
    const empty = makeTempDir('tunguard-empty-');
    const none = cli(['status', '--json', '--state-dir', empty, '--api', '127.0.0.1:7998']);
    expect(none.code).toBe(3);
    expect(none.stdout).toBe('');
    const bad = join(lab.stateDir, 'bad.token');
    writeFileSync(bad, `${'x'.repeat(43)}\n`);
    const wrong = cli(['status', '--state-dir', lab.stateDir, '--token-file', bad]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/refused the token/);

    expect(cli(['config', 'check', conf]).code).toBe(0);
    const badConf = join(lab.stateDir, 'bad.conf');
    writeFileSync(badConf, "config defense 'syn'\n\toption moderate_threshold 'x'\n");
    const r = cli(['config', 'check', badConf]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/line 2: option moderate_threshold/);
    const rj = cli(['config', 'check', badConf, '--json']);
    expect(JSON.parse(rj.stdout)).toMatchObject({ valid: false, issues: [{ line: 2 }] });
    expect(cli(['config', 'check', '/nonexistent/x.conf']).code).toBe(1);
    expect(cli(['config']).code).toBe(2);
  });
});

describe('where the API listens', () => {
  it('answers on the LAN address from the LAN over TLS only, never on the WAN side', () => {
    const info = JSON.parse(readFileSync(join(lab.stateDir, 'api.json'), 'utf8'));
    const curl = (ns: string, url: string, ...opts: string[]) =>
      lab.exec(ns, 'curl', ['-sS', '--max-time', '3', ...opts, url]);
    // Negative control: plain HTTP on the LAN address gets no answer (the token would cross in clear).
    const plain = curl(lab.ns.lan, `http://${ADDR.rtrLan4}:7447/healthz`);
    expect(plain.code).not.toBe(0);
    expect(plain.stdout).not.toContain('ok');
    // TLS: the certificate served is the one whose fingerprint is published.
    const tls = curl(lab.ns.lan, `https://${ADDR.rtrLan4}:7447/healthz`, '-k', '-w', '\n%{certs}');
    expect(tls.code, tls.stderr).toBe(0);
    expect(tls.stdout.split('\n')[0]).toBe('{"ok":true}');
    const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(tls.stdout)?.[0] ?? '';
    expect(new X509Certificate(pem).fingerprint256).toBe(info.tlsFingerprint);
    const wan = curl(lab.ns.wan, `https://${ADDR.rtrWan4}:7447/healthz`, '-k');
    expect(wan.code).not.toBe(0); // connection refused: nothing listens there
    const noAuth = curl(
      lab.ns.lan,
      `https://${ADDR.rtrLan4}:7447/api/v1/status`,
      '-k',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
    );
    expect(noAuth.stdout).toBe('401');
    // Loopback stays plain HTTP.
    expect(curl(lab.ns.rtr, 'http://127.0.0.1:7447/healthz').stdout).toBe('{"ok":true}');
  });

  it('the CLI on a LAN host pins the certificate: the right fingerprint answers, another is refused', () => {
    const info = JSON.parse(readFileSync(join(lab.stateDir, 'api.json'), 'utf8'));
    const token = readFileSync(info.tokenFile, 'utf8').trim();
    // From the LAN namespace, with no api.json there: the fingerprint comes from the environment.
    const remote = (fp: string) =>
      lab.exec(
        lab.ns.lan,
        'env',
        [
          `TUNGUARD_TOKEN=${token}`,
          `TUNGUARD_API_FINGERPRINT=${fp}`,
          process.execPath,
          BIN,
          'status',
          '--json',
          '--state-dir',
          '/nonexistent',
          '--api',
          `https://${ADDR.rtrLan4}:7447`,
        ],
        20_000,
      );
    const ok = remote(info.tlsFingerprint);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout).tier).toBe('normal');
    const wrong = remote(
      info.tlsFingerprint.replace(/^../, info.tlsFingerprint.startsWith('00') ? '11' : '00'),
    );
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/refusing the API at https:\/\/.*certificate has fingerprint/);
  });

  it('a LAN host imports a scan report: sent in the request (its import directory is on the router); the router copies', () => {
    const info = JSON.parse(readFileSync(join(lab.stateDir, 'api.json'), 'utf8'));
    const token = readFileSync(info.tokenFile, 'utf8').trim();
    const fromLan = (file: string) =>
      lab.exec(
        lab.ns.lan,
        'env',
        [
          `TUNGUARD_TOKEN=${token}`,
          `TUNGUARD_API_FINGERPRINT=${info.tlsFingerprint}`,
          process.execPath,
          BIN,
          'scan',
          'import',
          file,
          '--format',
          'nmap',
          '--json',
          '--state-dir',
          '/nonexistent',
          '--api',
          `https://${ADDR.rtrLan4}:7447`,
        ],
        60_000,
      );
    const importDir = join(lab.stateDir, 'import');
    const sent = fromLan(NMAP);
    expect(sent.code, sent.stderr).toBe(0);
    expect(JSON.parse(sent.stdout).hostIds.length).toBeGreaterThan(0);
    expect(readdirSync(importDir)).toEqual([]);
    // Negative control: more than a body may hold is refused by the CLI, which says where it fits.
    const big = join(www, 'big-report.xml');
    const xml = readFileSync(NMAP, 'utf8');
    const end = xml.lastIndexOf('</nmaprun>');
    writeFileSync(big, `${xml.slice(0, end)}<!--${'x'.repeat(4 << 20)}-->${xml.slice(end)}`);
    const refused = fromLan(big);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /a report sent to the API is at most 4194304 bytes .*copy it to the router/,
    );
    // On the router the same large report goes through the import directory (copied, read, removed).
    const local = cli(['scan', 'import', big, '--format', 'nmap', '--json', '--config', conf]);
    expect(local.code, local.stderr).toBe(0);
    expect(JSON.parse(local.stdout).hostIds.length).toBeGreaterThan(0);
    expect(readdirSync(importDir)).toEqual([]);
  });

  // A WAN address in the file is a config error like any other: left out at start, the daemon runs
  // (test/lab/config-start.test.ts). On the command line it is refused.
  it('refuses a wildcard --api', () => {
    const w = cli([
      'run',
      '--config',
      conf,
      '--state-dir',
      lab.stateDir,
      '--tun',
      'tg9',
      '--api',
      '0.0.0.0:7447',
    ]);
    expect(w.code).toBe(2);
    expect(w.stderr).toMatch(/--api: refusing 0\.0\.0\.0:7447/);
  });
});

describe('SIGHUP reload', () => {
  it('applies new thresholds, refuses a bad file, and no connection is lost on the way', async () => {
    // A transfer spanning both reloads, and a 50 Hz ping to see any gap.
    const dl = lab.execAsync(lab.ns.wan, 'sh', [
      '-c',
      `curl -sS --fail --limit-rate 3M --max-time 30 http://${ADDR.lan4}:8080/f.bin | sha256sum`,
    ]);
    const ping = lab.execAsync(lab.ns.wan, 'ping', ['-i', '0.02', '-c', '150', '-W', '1', ADDR.lan4]);
    await sleep(500);
    writeFileSync(conf, uci('', 150, 450));
    process.kill(tg.pid, 'SIGHUP');
    for (let i = 0; i < 50 && !/reload: /.test(tg.output); i++) await sleep(20);
    // Applied: the new thresholds reach the dataplane workers over their command channel.
    expect(tg.output).toMatch(/reload: .*changed: defense\.syn/);
    expect(tg.output).not.toMatch(/not applied: defense\.syn/);
    const t = JSON.parse(cli(['tiers', '--json', '--state-dir', lab.stateDir]).stdout);
    expect(t.thresholds).toMatchObject({ moderate: 150, risky: 450 });
    const cfg = JSON.parse(
      lab.run(lab.ns.rtr, 'sh', [
        '-c',
        `curl -sS -H "Authorization: Bearer $(cat ${lab.stateDir}/api.token)" http://127.0.0.1:7447/api/v1/config`,
      ]),
    );
    expect(cfg.config.defense.syn.riskyThreshold).toBe(450);

    await sleep(300);
    writeFileSync(conf, `${uci('', 150, 450)}\nconfig defense 'syn'\n`);
    process.kill(tg.pid, 'SIGHUP');
    for (let i = 0; i < 50 && !/reload refused/.test(tg.output); i++) await sleep(20);
    expect(tg.output).toMatch(
      /reload refused, the configuration in force stays: .*line 14: section 'syn' is already defined at line 6/,
    );
    expect(JSON.parse(cli(['tiers', '--json', '--state-dir', lab.stateDir]).stdout).thresholds.risky).toBe(
      450,
    );

    const p = await ping;
    const d = await dl;
    expect(d.stdout.split(' ')[0]).toBe(fileSha);
    expect(p.stdout).toMatch(/150 packets transmitted, 150 received/);
    expect(tg.proc.exitCode).toBeNull(); // SIGHUP no longer kills the daemon
    writeFileSync(conf, uci());
    process.kill(tg.pid, 'SIGHUP');
    await sleep(200);
  });
});

describe('events while traffic flows', () => {
  it('streams counters each second and a hello, over curl in the router namespace', async () => {
    const sse = lab.execAsync(lab.ns.rtr, 'sh', [
      '-c',
      `curl -sS -N --max-time 3.5 -H "Authorization: Bearer $(cat ${lab.stateDir}/api.token)" http://127.0.0.1:7447/api/v1/events; true`,
    ]);
    const flood = lab.execAsync(lab.ns.wan, 'ping', ['-f', '-c', '3000', '-w', '3', ADDR.lan4], 10_000);
    const r = await sse;
    await flood;
    const counters = [...r.stdout.matchAll(/^event: counters\ndata: (.*)$/gm)].map((m) => JSON.parse(m[1]));
    expect(r.stdout).toMatch(/^event: hello$/m);
    expect(counters.length).toBeGreaterThanOrEqual(2);
    expect(Math.max(...counters.map((c) => c.rates.icmp))).toBeGreaterThan(100);
  });
});
