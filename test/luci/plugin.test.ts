// The rpcd plugin on its own, under busybox ash (with busybox applets) and dash: `list` is valid JSON and
// names exactly the methods the ACL grants; menu.d points at views that exist and depends on that ACL;
// bad arguments are refused before any command runs; status reads status.json only while its daemon
// lives; and what reaches the CLI's command line is exactly the validated words.
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LUCI_APP, PLUGIN, readAcl, readMenu } from './harness.js';
import { callPlugin, listPlugin, type PluginEnv } from './plugin.js';

const SHELLS = ['busybox', 'dash'] as const;
let dir: string;
let marker: string;
/** A stand-in CLI that prints its argv as JSON (to see exactly what the plugin passes). */
let echoCli: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tunguard-plugin-'));
  marker = join(dir, 'pwned');
  echoCli = join(dir, 'echo-cli');
  writeFileSync(
    echoCli,
    // It also echoes its stdin, and the upload's bytes when it is given one to add.
    `#!/usr/bin/env node
const fs = require('node:fs');
const argv = process.argv.slice(2);
const stdin = fs.readFileSync(0, 'utf8');
const file = argv[0] === 'programs' && argv[1] === 'add' ? fs.readFileSync(argv[2], 'utf8') : undefined;
process.stdout.write(JSON.stringify({ argv, stdin, file }) + '\\n');
`,
  );
  chmodSync(echoCli, 0o755);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function parse(stdout: string): Record<string, unknown> {
  const x = JSON.parse(stdout);
  expect(typeof x === 'object' && x !== null && !Array.isArray(x), stdout).toBe(true);
  return x;
}

describe('rpcd plugin: list, ACL and menu', () => {
  it('is executable (rpcd only runs executable plugins) and POSIX sh', () => {
    expect(statSync(PLUGIN).mode & 0o111).toBe(0o111);
    expect(readFileSync(PLUGIN, 'utf8').split('\n')[0]).toBe('#!/bin/sh');
    for (const sh of ['dash', 'busybox']) {
      const r = spawnSync(sh, sh === 'busybox' ? ['sh', '-n', PLUGIN] : ['-n', PLUGIN], { encoding: 'utf8' });
      expect(r.status, `${sh}: ${r.stderr}`).toBe(0);
    }
  });

  it.each(SHELLS)(
    'list (%s) is one JSON object whose methods are exactly those the ACL grants',
    async (shell) => {
      const r = await listPlugin({ stateDir: dir, shell });
      expect(r.code, r.stderr).toBe(0);
      const methods = parse(r.stdout);
      const { acl } = readAcl();
      const read = acl.read.ubus.tunguard;
      const write = acl.write.ubus.tunguard;
      expect(read.filter((m) => write.includes(m))).toEqual([]);
      expect(Object.keys(methods).sort()).toEqual([...read, ...write].sort());
      // What only reads is read; what changes the daemon is write.
      expect(read.sort()).toEqual([
        'attackers',
        'detect',
        'dispatches',
        'host',
        'hosts',
        'log',
        'programs',
        'rules',
        'status',
      ]);
      expect(write.sort()).toEqual([
        'allow',
        'clear',
        'detect_now',
        'program_add',
        'remediate',
        'rule_delete',
        'rule_save',
      ]);
      // Signatures: argument name → a sample value whose type rpcd announces ("str", a table, a bool).
      for (const [m, sig] of Object.entries(methods)) {
        expect(typeof sig === 'object' && sig !== null, m).toBe(true);
        for (const [k, v] of Object.entries(sig as object))
          expect(v, `${m}.${k}`).toEqual(m === 'rule_save' ? { rule: {}, create: false }[k] : 'str');
      }
      expect(acl.read.uci).toEqual(['tunguard']);
      expect(acl.write.uci).toEqual(['tunguard']);
      // Service control is procd's own rc object; uploads only to the one path the plugin reads.
      expect(acl.read.ubus.rc).toEqual(['list']);
      expect(acl.write.ubus.rc).toEqual(['init']);
      expect(acl.write.file).toEqual({ '/tmp/tunguard-program.upload': ['write'] });
    },
  );

  it('menu.d: admin/services/tunguard with five tabs, each a view file that exists', () => {
    const menu = readMenu();
    const { name } = readAcl();
    expect(name).toBe('luci-app-tunguard');
    expect(menu['admin/services/tunguard'].depends).toEqual({ acl: [name], uci: { tunguard: true } });
    expect(menu['admin/services/tunguard'].action).toEqual({
      type: 'alias',
      path: 'admin/services/tunguard/status',
    });
    const tabs = ['status', 'hosts', 'rules', 'log', 'settings'];
    for (const [i, tab] of tabs.entries()) {
      const node = menu[`admin/services/tunguard/${tab}`];
      expect(node.action).toEqual({ type: 'view', path: `tunguard/${tab}` });
      expect(node.order).toBe((i + 1) * 10);
      const file = join(LUCI_APP, 'htdocs/luci-static/resources/view', `${node.action.path}.js`);
      expect(existsSync(file), file).toBe(true);
      // LuCI reads the leading 'require' strings of a view: they must come first.
      expect(readFileSync(file, 'utf8')).toMatch(/^'use strict';\n('require [a-z.]+';\n)+/);
    }
  });
});

describe('rpcd plugin: arguments', () => {
  // Each must be refused with {"error"} and must never reach a command line.
  const BAD: [string, string][] = [
    ['clear', JSON.stringify({ address: `198.51.100.7; touch ${'MARK'}` })],
    ['clear', JSON.stringify({ address: '$(touch MARK)' })],
    ['clear', JSON.stringify({ address: '`touch MARK`' })],
    ['clear', JSON.stringify({ address: '198.51.100.7\ntouch MARK' })],
    ['clear', JSON.stringify({ address: '-h' })],
    ['clear', JSON.stringify({ address: '198.51.100.256' })],
    ['clear', JSON.stringify({})],
    ['clear', JSON.stringify({ address: 7 })],
    ['allow', JSON.stringify({ prefix: '198.51.100.0/33' })],
    ['allow', JSON.stringify({ cidr: '2001:db8::/129' })],
    ['allow', JSON.stringify({ cidr: '198.51.100.0/24;touch MARK', prefix: '198.51.100.0/24' })],
    ['allow', JSON.stringify({ comment: 'no address' })],
    ['allow', JSON.stringify({ prefix: '198.51.100.0/24', comment: 'x" ; touch MARK' })],
    ['allow', JSON.stringify({ prefix: '198.51.100.0/24', comment: '$(touch MARK)' })],
    ['allow', JSON.stringify({ prefix: '198.51.100.0/24|touch MARK' })],
    ['host', JSON.stringify({ host: '../../etc/passwd' })],
    ['host', JSON.stringify({ host: '--api=203.0.113.9:80' })],
    ['host', JSON.stringify({ host: 'a b' })],
    ['remediate', JSON.stringify({ host: 'ip:192.0.2.2', rule: 'x;touch MARK' })],
    ['remediate', JSON.stringify({ host: 'ip:192.0.2.2&&touch MARK' })],
    ['dispatches', JSON.stringify({ host: 'ip:192.0.2.2>MARK' })],
    ['rule_delete', JSON.stringify({ id: 'x;touch MARK' })],
    ['rule_delete', JSON.stringify({ id: '../x' })],
    ['rule_save', 'x'.repeat(70_000)],
    ['nosuch', '{}'],
    ['clear', 'x'.repeat(5000)],
  ];

  it.each(SHELLS)('refuses bad arguments with a JSON error (%s)', async (shell) => {
    const e: PluginEnv = { stateDir: dir, cli: echoCli, shell };
    for (const [method, raw] of BAD) {
      const input = raw.replaceAll('MARK', marker);
      const r = await callPlugin(e, method, input);
      const out = parse(r.stdout);
      expect(out.error, `${method} ${input} → ${r.stdout}`).toEqual(expect.any(String));
      expect(out.argv, `${method} ${input} reached the CLI`).toBeUndefined();
      expect(r.code).toBe(1);
    }
    expect(existsSync(marker)).toBe(false);
  });

  it.each(SHELLS)('passes validated arguments to the CLI as single words (%s)', async (shell) => {
    const e: PluginEnv = { stateDir: dir, cli: echoCli, shell };
    const argv = async (method: string, args: unknown) => {
      const r = await callPlugin(e, method, JSON.stringify(args));
      expect(r.code, r.stdout + r.stderr).toBe(0);
      return parse(r.stdout).argv;
    };
    const sd = `--state-dir=${dir}`;
    expect(await argv('attackers', {})).toEqual(['attackers', '--json', sd]);
    expect(await argv('clear', { address: '198.51.100.66' })).toEqual([
      'attackers',
      'clear',
      '198.51.100.66',
      '--json',
      sd,
    ]);
    expect(await argv('clear', { address: '2001:db8:1::2' })).toEqual([
      'attackers',
      'clear',
      '2001:db8:1::2',
      '--json',
      sd,
    ]);
    expect(await argv('clear', { address: 'all' })).toEqual(['attackers', 'clear', '--json', sd]);
    expect(await argv('allow', { cidr: '203.0.113.0/24', comment: 'lab peers (x)' })).toEqual([
      'allow',
      'add',
      '203.0.113.0/24',
      '--comment=lab peers (x)',
      '--json',
      sd,
    ]);
    const none = parse((await callPlugin(e, 'allow', JSON.stringify({ comment: 'x' }))).stdout);
    expect(none.error).toMatch(/^missing argument 'cidr'/);
    // prefix: the method's old name for cidr, taken until the next release.
    expect(await argv('allow', { prefix: '2001:db8::/32' })).toEqual([
      'allow',
      'add',
      '2001:db8::/32',
      '--json',
      sd,
    ]);
    expect(await argv('hosts', {})).toEqual(['hosts', '--json', sd]);
    expect(await argv('host', { host: 'mac:00:11:22:33:44:55' })).toEqual([
      'hosts',
      'mac:00:11:22:33:44:55',
      '--json',
      sd,
    ]);
    expect(await argv('rules', {})).toEqual(['rules', '--json', sd]);
    expect(await argv('remediate', { host: 'ip:192.0.2.2', rule: 'lab-nginx.1' })).toEqual([
      'remediate',
      'ip:192.0.2.2',
      '--rule=lab-nginx.1',
      '--json',
      sd,
    ]);
    expect(await argv('remediate', { host: '192.0.2.2' })).toEqual(['remediate', '192.0.2.2', '--json', sd]);
    expect(await argv('detect', {})).toEqual(['detect', '--json', sd]);
    expect(await argv('detect_now', {})).toEqual(['detect', '--now', '--json', sd]);
    expect(await argv('dispatches', {})).toEqual(['dispatches', '--json', sd]);
    expect(await argv('dispatches', { host: 'ip:192.0.2.2' })).toEqual([
      'dispatches',
      '--host=ip:192.0.2.2',
      '--json',
      sd,
    ]);
  });

  it.each(SHELLS)('gives a rule and a program spec to the CLI on stdin, untouched (%s)', async (shell) => {
    const e: PluginEnv = { stateDir: dir, cli: echoCli, shell };
    const sd = `--state-dir=${dir}`;
    // Nested JSON, a quote, a backslash and a shell metacharacter: none is a word, none is evaluated.
    const rule = {
      rule: { id: 'r1', kind: 'threat', threat: { id: 'Bot "x"; $(touch MARK)' } },
      create: true,
    };
    const input = JSON.stringify(rule).replaceAll('MARK', marker);
    const saved = parse((await callPlugin(e, 'rule_save', input)).stdout);
    expect(saved.argv).toEqual(['rules', 'save', '-', '--json', sd]);
    expect(saved.stdin).toBe(input);
    expect(parse((await callPlugin(e, 'rule_delete', '{"id":"r1"}')).stdout).argv).toEqual([
      'rules',
      'delete',
      'r1',
      '--json',
      sd,
    ]);

    const upload = join(dir, `upload-${shell}`);
    const spec = JSON.stringify({ id: 'clean.exe', location: 'C:\\Tools', platform: 'windows' });
    const none = parse((await callPlugin({ ...e, upload }, 'program_add', spec)).stdout);
    expect(none.error).toMatch(/no uploaded program/);
    writeFileSync(upload, 'MZ program bytes');
    const added = await callPlugin({ ...e, upload }, 'program_add', spec);
    expect(parse(added.stdout)).toEqual({
      argv: ['programs', 'add', upload, '--spec', '-', '--json', sd],
      stdin: spec,
      file: 'MZ program bytes',
    });
    // The upload is consumed: a second add has nothing to send.
    expect(existsSync(upload)).toBe(false);
    // A symlink in the upload's place is refused (it could point at any file root can read).
    symlinkSync('/etc/passwd', upload);
    const link = parse((await callPlugin({ ...e, upload }, 'program_add', spec)).stdout);
    expect(link.error).toMatch(/no uploaded program/);
    rmSync(upload);
    expect(existsSync(marker)).toBe(false);
  });

  it.each(SHELLS)('log: the newest tunguard lines as JSON strings, at most 300 (%s)', async (shell) => {
    // A logread stand-in that honours -e like OpenWrt's and prints what a syslog holds: quotes,
    // backslashes, tabs and a control character in the daemon's lines, and other daemons' lines.
    const sys = join(dir, `syslog-${shell}`);
    const lines: string[] = [];
    for (let i = 0; i < 400; i++) lines.push(`Sun Dec  6 10:00:00 2026 daemon.info dnsmasq[1]: query ${i}`);
    for (let i = 0; i < 350; i++)
      lines.push(`Sun Dec  6 10:00:01 2026 daemon.notice tunguard[7]: msg="line ${i}" path=C:\\x\ttab\u0001`);
    writeFileSync(sys, `${lines.join('\n')}\n`);
    const logread = join(dir, `logread-${shell}`);
    writeFileSync(logread, `#!/bin/sh\n[ "$1" = -e ] && exec grep -- "$2" '${sys}'\ncat '${sys}'\n`);
    chmodSync(logread, 0o755);
    const r = await callPlugin({ stateDir: dir, shell, logread }, 'log', '{}');
    const out = parse(r.stdout) as { lines: string[] };
    expect(out.lines).toHaveLength(300);
    expect(out.lines[0]).toMatch(/msg="line 50" path=C:\\x tab$/);
    expect(out.lines[299]).toMatch(/msg="line 349"/);
    expect(out.lines.every((l) => l.includes('tunguard['))).toBe(true);
    const missing = parse(
      (await callPlugin({ stateDir: dir, shell, logread: join(dir, 'no-logread') }, 'log', '{}')).stdout,
    );
    expect(missing.error).toMatch(/logread is missing/);
  });

  it('turns a CLI failure into {"error"} with its first line and exit code', async () => {
    const failing = join(dir, 'failing-cli');
    writeFileSync(
      failing,
      `#!/bin/sh\nprintf '%s\\n' 'tunguard hosts: "quoted" \\ failure' 'more' >&2\nexit 3\n`,
    );
    chmodSync(failing, 0o755);
    const r = await callPlugin({ stateDir: dir, cli: failing }, 'hosts', '{}');
    expect(parse(r.stdout)).toEqual({ error: 'tunguard hosts: "quoted" \\ failure', exit: 3 });
    // The CLI's --json error: its detail, unescaped, is the message.
    const jsonErr = join(dir, 'json-error-cli');
    writeFileSync(
      jsonErr,
      `#!/bin/sh\nprintf '%s\\n' '{"error":"bad_request","detail":"invalid rule at remedy: a \\"remedy\\" needs C:\\\\x"}' >&2\nexit 1\n`,
    );
    chmodSync(jsonErr, 0o755);
    expect(parse((await callPlugin({ stateDir: dir, cli: jsonErr }, 'rules', '{}')).stdout)).toEqual({
      error: 'invalid rule at remedy: a "remedy" needs C:\\x',
      exit: 1,
    });
    const missing = await callPlugin({ stateDir: dir, cli: join(dir, 'none') }, 'hosts', '{}');
    expect(parse(missing.stdout).error).toMatch(/tunguard command is missing/);
  });
});

describe('rpcd plugin: status', () => {
  it('reads status.json while its daemon lives, and says so when it does not', async () => {
    const sd = mkdtempSync(join(dir, 'state-'));
    const e: PluginEnv = { stateDir: sd };
    const none = parse((await callPlugin(e, 'status', '')).stdout);
    expect(none.error).toMatch(/not running: there is no .*status\.json/);
    // A live pid (this test's) and a dead one (a child that has exited).
    const live = { pid: process.pid, tier: 'normal', counters: { icmp: 5 } };
    writeFileSync(join(sd, 'status.json'), `${JSON.stringify(live)}\n`);
    expect(parse((await callPlugin(e, 'status', '')).stdout)).toEqual(live);
    const dead = spawnSync('sh', ['-c', 'echo $$'], { encoding: 'utf8' }).stdout.trim();
    writeFileSync(join(sd, 'status.json'), `${JSON.stringify({ ...live, pid: Number(dead) })}\n`);
    expect(parse((await callPlugin(e, 'status', '')).stdout).error).toMatch(
      new RegExp(`not running: .* left from pid ${dead}`),
    );
    // A state dir that is not a plain path is refused before it is used.
    const odd = parse((await callPlugin({ stateDir: '/tmp/x;id' }, 'status', '')).stdout);
    expect(odd.error).toMatch(/not a plain absolute path/);
  });
});
