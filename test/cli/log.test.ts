// The daemon's log: one logfmt line each, level first, a stable key=value part; Node's own warnings
// become such lines; the API's port taken is loud and retried (the defenses run on); a second daemon
// on the same WAN device is refused with the first one's pid.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseListen } from '../../src/config/index.js';
import { ConfigStore } from '../../src/daemon/config-store.js';
import { ControlPlane } from '../../src/daemon/control.js';
import { logLine, logPrefix } from '../../src/daemon/log.js';
import { claimWan } from '../../src/netcfg/wan-lock.js';
import { FakeDataplane } from '../api/helpers.js';
import { parseLogLine } from '../lab/logfmt.js';

const REPO = join(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'tunguard-log-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function node(script: string) {
  const file = join(dir, `s${Math.random().toString(36).slice(2)}.mjs`);
  writeFileSync(file, script);
  const p = spawn(process.execPath, [file]);
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (b: Buffer) => (stdout += b));
  p.stderr.on('data', (b: Buffer) => (stderr += b));
  const [code] = await once(p, 'close');
  return { code, stdout, stderr };
}

describe('log lines', () => {
  it('level, event, msg, then the fields; one line whatever the message holds', () => {
    expect(
      logLine('tier normal -> risky', 'warn', { event: 'tier', from: 'normal', to: 'risky', syns: 412 }),
    ).toBe('level=warn event=tier msg="tier normal -> risky" from=normal to=risky syns=412');
    expect(logLine('api: listening on 127.0.0.1:7447')).toBe(
      'level=info event=api msg="api: listening on 127.0.0.1:7447"',
    );
    expect(logLine('warning: nft missing')).toMatch(/^level=warn msg="warning: nft missing"$/);
    expect(logLine('api: WARNING: listening on 0.0.0.0:7447')).toMatch(/^level=warn event=api /);
    const two = logLine('line 1\nline 2 "quoted"', 'error');
    expect(two.split('\n')).toHaveLength(1);
    expect(two).toBe('level=error msg="line 1\\nline 2 \\"quoted\\""');
  });

  it('any message and field value reads back exactly by a logfmt reader (2000 random ones)', () => {
    // Quotes, backslashes, '=', newlines, control characters, non-ASCII, the empty string.
    const alphabet = [
      'a',
      'Z',
      '0',
      ' ',
      '"',
      '\\',
      '=',
      '\n',
      '\t',
      '\u0000',
      '\u001f',
      'é',
      '→',
      '😀',
      ':',
      '/',
      '-',
      "'",
    ];
    let seed = 7;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const word = () => Array.from({ length: rnd(12) }, () => alphabet[rnd(alphabet.length)]).join('');
    for (let i = 0; i < 2000; i++) {
      const msg = word();
      const value = word();
      const rec = parseLogLine(`tunguard: ${logLine(msg, 'warn', { event: 'agent', host: value, n: i })}`);
      expect(rec).toEqual({ level: 'warn', event: 'agent', msg, host: value, n: String(i) });
    }
  });

  it('(control) the reader refuses what is not a stable line', () => {
    expect(() => parseLogLine('tunguard run: unknown option')).toThrow(/prefix/);
    expect(() => parseLogLine('tunguard: msg=x level=info')).toThrow(/keys begin/);
    expect(() => parseLogLine('tunguard: level=info msg=a b')).toThrow();
    expect(() => parseLogLine('tunguard: level=info msg="a\\nb"')).not.toThrow();
    expect(() => parseLogLine('tunguard: level=info msg="a\\nb" msg=c')).toThrow(/twice/);
    expect(() => parseLogLine('tunguard: level=debug msg=x')).toThrow(/level/);
  });

  it("Node's warnings become our lines; (control) without the takeover Node prints its own", async () => {
    const script = (take: boolean) => `
      import { logLine, takeOverWarnings } from '${REPO}/dist/src/daemon/log.js';
      ${take ? "takeOverWarnings((m, l, f) => process.stdout.write('tunguard: ' + logLine(m, l, f) + '\\n'));" : ''}
      process.emitWarning('not running as root: creating the TUN will likely fail');
      setTimeout(() => {}, 50);`;
    const ours = await node(script(true));
    expect(ours.stderr).toBe('');
    expect(ours.stdout).toBe(
      'tunguard: level=warn event=node msg="not running as root: creating the TUN will likely fail" warning=Warning\n',
    );
    const theirs = await node(script(false));
    expect(theirs.stderr).toMatch(/^\(node:\d+\) Warning: not running as root/);
  });
});

describe("the daemon's name in front of each line", () => {
  // procd tags each line of a service's output with its command's name (tunguard[pid]: ...); the
  // init script says so with TUNGUARD_LOG_TAGGED=1. Elsewhere the line names the daemon itself.
  const run = (env: NodeJS.ProcessEnv) => {
    const r = spawnSync(process.execPath, [join(REPO, 'bin', 'tunguard'), 'run', '--wna', 'x'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, ...env },
    });
    return r.stderr;
  };

  it('is left out under procd; (control) kept in a terminal or pipe, and for any other value', () => {
    const tagged = run({ TUNGUARD_LOG_TAGGED: '1' });
    expect(tagged).toMatch(/^level=error event=exit msg="unknown option '--wna'/);
    expect(parseLogLine(`tunguard: ${tagged.trim()}`)).toMatchObject({ level: 'error', code: '2' });
    expect(run({})).toMatch(/^tunguard: level=error event=exit msg="unknown option '--wna'/);
    expect(run({ TUNGUARD_LOG_TAGGED: '0' })).toMatch(/^tunguard: level=error /);
    expect(logPrefix({ TUNGUARD_LOG_TAGGED: '1' })).toBe('');
    expect(logPrefix({ TUNGUARD_LOG_TAGGED: 'yes' })).toBe('tunguard: ');
    expect(logPrefix({})).toBe('tunguard: ');
  });
});

describe('the API port taken', () => {
  it('is logged as an error, shown in the summary, and retried until the port is free', async () => {
    const squatter: Server = createServer();
    await new Promise<void>((r) => squatter.listen(0, '127.0.0.1', r));
    const port = (squatter.address() as { port: number }).port;
    const logs: string[] = [];
    const cp = await ControlPlane.start({
      dp: new FakeDataplane(),
      store: ConfigStore.fromDefaults(),
      stateDir: dir,
      apiOverride: parseListen(`127.0.0.1:${port}`),
      wanDevice: 'tgl-none0',
      version: '0.0.0-test',
      log: (m, l, f) => logs.push(logLine(m, l, f)),
      listenRetryMs: 200,
    });
    try {
      expect(cp.summary()).toMatchObject({ listening: [], error: expect.stringMatching(/EADDRINUSE/) });
      expect(logs.filter((l) => /^level=error event=api .*not listening.*EADDRINUSE/.test(l))).toHaveLength(
        1,
      );
      await new Promise((r) => setTimeout(r, 700));
      expect(logs.filter((l) => /not listening/.test(l))).toHaveLength(1); // loud once, not every retry
      await new Promise<void>((r) => squatter.close(() => r()));
      for (let i = 0; i < 50 && cp.summary().listening.length === 0; i++)
        await new Promise((r) => setTimeout(r, 50));
      expect(cp.summary()).toEqual({ listening: [`127.0.0.1:${port}`], tokenFile: expect.any(String) });
      expect(logs.some((l) => l.includes(`api: listening on 127.0.0.1:${port}`))).toBe(true);
    } finally {
      await cp.stop();
      squatter.close();
    }
  });
});

describe('one daemon per WAN device', () => {
  it('refuses a second claim with the holder pid, in this process and from another', async () => {
    const first = await claimWan('tgl-lock0');
    try {
      await expect(claimWan('tgl-lock0')).rejects.toThrow(
        `another tunguard (pid ${process.pid}) already steers tgl-lock0; refusing to start a second one`,
      );
      const other = await node(`
        import { claimWan } from '${REPO}/dist/src/netcfg/wan-lock.js';
        await claimWan('tgl-lock0').then(() => console.log('claimed'), (e) => console.log(e.message));
        await claimWan('tgl-lock1').then((s) => { console.log('claimed other'); s.close(); });`);
      expect(other.stdout).toBe(
        `another tunguard (pid ${process.pid}) already steers tgl-lock0; refusing to start a second one\nclaimed other\n`,
      );
    } finally {
      first.close();
    }
    // Released with its holder: claimed again at once.
    await new Promise((r) => setTimeout(r, 20));
    (await claimWan('tgl-lock0')).close();
  });
});
