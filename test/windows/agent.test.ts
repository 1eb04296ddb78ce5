// The host agent on Windows, run for real: the zip's node.exe and bundled agent under Wine (wine64), a
// cleanup .exe built with mingw-w64, roots given as %SystemRoot%\System32\drivers. First what it does
// (quarantine and restore of a driver file, a \\?\ long path, a pinned .exe run with a bare environment,
// a timeout, a file in use), then the attack suite on Windows spellings: each refused, no file changed.

import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Action, type CommandInput, keyId, type Result, seal } from '../../src/agent/protocol.js';
import { AgentClient } from '../../src/remediation/agent-client.js';
import { newKey, newRouterIdentity, sendEnvelope, snapshot } from '../agent/wire.js';
import {
  buildCleanupExe,
  mkdirWin,
  requireWineTools,
  startWineAgent,
  type WineAgent,
  WinePrefix,
  windowsAgentDir,
} from './wine.js';

const router = newRouterIdentity();
const HOST = 'win-host';
const DRIVERS = 'C:\\Windows\\System32\\drivers';
const ROOT = 'C:\\tg\\root';
const OUTSIDE = 'C:\\tg\\outside';
const PROGRAMS = 'C:\\tg\\programs';
const QUARANTINE = 'C:\\ProgramData\\tunguard-agent\\quarantine';
/** Set in the agent's environment: a program it runs must never see it. */
const SECRET_VAR = 'TG_AGENT_SECRET';

let wine: WinePrefix;
let agentDir: string;
let agent: WineAgent;
let exe: Buffer;
let exeSha: string;

function command(action: Action, over: Partial<CommandInput> = {}): CommandInput {
  const now = Date.now();
  return {
    id: randomUUID(),
    hostId: HOST,
    agentKeyId: keyId(agent.agentKey),
    issuedAt: now,
    expiresAt: now + 60_000,
    action,
    ...over,
  };
}
const send = (c: unknown, key = router.privateKey): Promise<Result> =>
  sendEnvelope(agent.port, seal('command', c, key), agent.agentKey);
const hostState = () => snapshot(...[DRIVERS, ROOT, OUTSIDE, PROGRAMS, QUARANTINE].map((p) => wine.unix(p)));

/** An attack: refused with `reason`, and not one file under the drivers, roots, outside or quarantine changed. */
async function refused(reason: string, attack: () => Promise<Result>): Promise<Result> {
  const before = hostState();
  const r = await attack();
  expect(r.ok, JSON.stringify(r)).toBe(false);
  expect(r.refused, r.reason).toBe(reason);
  expect(hostState()).toEqual(before);
  return r;
}

const del = (location: string, name: string) => send(command({ action: 'file.delete', location, name }));
const run = (args: string[], over: Partial<Extract<Action, { action: 'program.run' }>> = {}) =>
  send(
    command({
      action: 'program.run',
      programId: 'cleanup',
      sha256: exeSha,
      content: exe.toString('base64'),
      args,
      ...over,
    }),
  );

beforeAll(async () => {
  requireWineTools();
  agentDir = windowsAgentDir();
  wine = WinePrefix.create();
  wine.env[SECRET_VAR] = 'must-not-leak';
  for (const d of [ROOT, OUTSIDE, PROGRAMS]) mkdirWin(wine, d);
  const exePath = buildCleanupExe(wine.unix(PROGRAMS));
  exe = readFileSync(exePath);
  exeSha = createHash('sha256').update(exe).digest('hex');
  writeFileSync(join(wine.unix(DRIVERS), 'tgworm.sys'), 'worm driver');
  writeFileSync(join(wine.unix(DRIVERS), 'locked.sys'), 'held open');
  writeFileSync(join(wine.unix(ROOT), 'victim.txt'), 'victim');
  writeFileSync(join(wine.unix(OUTSIDE), 'secret.txt'), 'secret');
  writeFileSync(
    wine.unix('C:\\tg\\agent.json'),
    JSON.stringify({
      hostId: HOST,
      listen: { host: '127.0.0.1', port: 0 },
      stateDir: '%ProgramData%\\tunguard-agent',
      quarantineDir: '%ProgramData%\\tunguard-agent\\quarantine',
      roots: ['%SystemRoot%\\System32\\drivers', ROOT],
      programRoots: [PROGRAMS],
      // Programs sent inline (the seed's second remedy kind) are tested here: the host opts in.
      allowInlinePrograms: true,
    }),
  );
  const node = join(agentDir, 'node.exe');
  const script = WinePrefix.z(join(agentDir, 'tunguard-agent.mjs'));
  const pin = wine.run([
    node,
    script,
    'trust-router',
    '--key',
    router.publicText,
    '--config',
    'C:\\tg\\agent.json',
  ]);
  expect(pin, pin.out).toMatchObject({ code: 0 });
  agent = await startWineAgent(wine, agentDir, 'C:\\tg\\agent.json');
}, 120_000);

afterAll(async () => {
  await agent?.stop();
  wine?.destroy();
});

describe('the agent under Wine does its job on Windows paths', () => {
  it('runs as Windows: node.exe reports win32 and expands %SystemRoot% in its roots', () => {
    const r = wine.run([join(agentDir, 'node.exe'), '-p', 'process.platform + " " + process.env.SystemRoot']);
    expect(r.out.trim()).toBe('win32 C:\\windows');
  });

  it('quarantines C:\\Windows\\System32\\drivers\\tgworm.sys (location spelled in another case) and restores it', async () => {
    const q = await send(
      command({ action: 'file.delete', location: 'c:\\WINDOWS\\system32\\Drivers', name: 'tgworm.sys' }),
    );
    expect(q, JSON.stringify(q)).toMatchObject({
      ok: true,
      path: 'C:\\windows\\System32\\drivers\\tgworm.sys',
    });
    expect(existsSync(join(wine.unix(DRIVERS), 'tgworm.sys'))).toBe(false);
    expect(readFileSync(join(wine.unix(QUARANTINE), `${q.quarantineId}.data`), 'utf8')).toBe('worm driver');
    expect(q.outputDigest).toBe(createHash('sha256').update('worm driver').digest('hex'));

    const r = await send(command({ action: 'file.restore', quarantineId: q.quarantineId ?? '' }));
    expect(r, JSON.stringify(r)).toMatchObject({ ok: true });
    expect(readFileSync(join(wine.unix(DRIVERS), 'tgworm.sys'), 'utf8')).toBe('worm driver');
    expect(readdirSync(wine.unix(QUARANTINE))).toEqual([]);
  });

  it('takes a \\\\?\\ long path beyond MAX_PATH (260) and quarantines the file at its end', async () => {
    const deep = Array.from({ length: 6 }, (_, i) => `level-${i}-${'d'.repeat(40)}`);
    const dirWin = `${ROOT}\\${deep.join('\\')}`;
    mkdirWin(wine, dirWin);
    writeFileSync(join(wine.unix(dirWin), 'deep.bin'), 'deep');
    expect(`${dirWin}\\deep.bin`.length).toBeGreaterThan(260);
    const q = await send(
      command({ action: 'file.quarantine', location: `\\\\?\\${dirWin}`, name: 'deep.bin' }),
    );
    expect(q, JSON.stringify(q)).toMatchObject({ ok: true, path: `${dirWin}\\deep.bin` });
    expect(existsSync(join(wine.unix(dirWin), 'deep.bin'))).toBe(false);
    const r = await send(command({ action: 'file.restore', quarantineId: q.quarantineId ?? '' }));
    expect(r.ok, JSON.stringify(r)).toBe(true);
    expect(readFileSync(join(wine.unix(dirWin), 'deep.bin'), 'utf8')).toBe('deep');
  });

  it('runs a pinned cleanup .exe by its absolute path with a bare environment', async () => {
    const r = await run(['clean', `${ROOT}\\cleaned.txt`, 'worm-removed']);
    expect(r, JSON.stringify(r)).toMatchObject({ ok: true, exitCode: 0, timedOut: false });
    expect(r.output).toContain('cleaned worm-removed');
    expect(readFileSync(join(wine.unix(ROOT), 'cleaned.txt'), 'utf8')).toBe('worm-removed');

    const env = await run(['env']);
    expect(env.ok, JSON.stringify(env)).toBe(true);
    const names = (env.output ?? '')
      .split(/\r?\n/)
      .filter((l) => /^[A-Za-z]/.test(l))
      .map((l) => l.split('=')[0].toUpperCase());
    for (const n of ['SYSTEMROOT', 'WINDIR', 'PATH', 'PATHEXT', 'TEMP', 'TMP']) expect(names).toContain(n);
    expect(names).not.toContain(SECRET_VAR);
    expect(names).not.toContain('WINEPREFIX');
    expect(env.output).toMatch(/^PATH=C:\\windows\\System32;C:\\windows\r?$/m);
    // Wine's loader adds its own variables and the user profile's to every process it starts (real
    // Windows passes the block CreateProcess gets as it is): nothing else may be there.
    const WINE_ADDS = /^(WINE.*|HOMEDRIVE|HOMEPATH|LOGONSERVER|USERDOMAIN|USERNAME|USERPROFILE|SYSTEMDRIVE)$/;
    const ours = ['SYSTEMROOT', 'WINDIR', 'PATH', 'PATHEXT', 'TEMP', 'TMP'];
    expect(names.filter((n) => !ours.includes(n) && !WINE_ADDS.test(n))).toEqual([]);
    // A failing program is reported as failed, with its exit code.
    expect(await run(['fail'])).toMatchObject({ ok: false, exitCode: 3 });
  });

  it('kills a program that overruns its timeout and reports it as timed out', async () => {
    const t0 = Date.now();
    const r = await run(['spawn', `${ROOT}\\survivor.txt`], { timeoutMs: 1500 });
    expect(r, JSON.stringify(r)).toMatchObject({ ok: false, timedOut: true });
    expect(Date.now() - t0).toBeLessThan(15_000);
    // Wine 8's taskkill has no /T (Windows' ends the whole tree): the agent ends the program alone and
    // says that its child may live on, rather than claim a clean kill.
    expect(r.reason).toMatch(
      /only the program was ended; processes it started may still run \(Command failed: .*taskkill\.exe \/PID \d+ \/T \/F/,
    );
  });

  it('a file in use (opened without sharing) is not moved: a clear file-in-use, nothing half-done', async () => {
    const holder = startHolder(`${DRIVERS}\\locked.sys`);
    try {
      await waitForFile(wine.unix('C:\\tg\\ready.txt'));
      await refused('file-in-use', () => del(DRIVERS, 'locked.sys'));
    } finally {
      holder.kill('SIGKILL');
      await new Promise((r) => holder.once('exit', r));
    }
    // The negative control: the same command once the file is free.
    let q: Result | undefined;
    for (let i = 0; i < 50 && !q?.ok; i++) {
      q = await del(DRIVERS, 'locked.sys');
      if (!q.ok) await new Promise((r) => setTimeout(r, 100));
    }
    expect(q, JSON.stringify(q)).toMatchObject({ ok: true });
    expect(existsSync(join(wine.unix(DRIVERS), 'locked.sys'))).toBe(false);
  });
});

describe('the attack suite on Windows paths (each refused, nothing changed)', () => {
  it('W1 traversal with ..\\ in the location', () =>
    refused('path-not-canonical', () => del(`${ROOT}\\..\\outside`, 'secret.txt')));
  it("W2 drive-relative C:.. (resolved against the drive's current directory)", () =>
    refused('path-not-canonical', () => del('C:..\\tg\\outside', 'secret.txt')));
  it('W3 a UNC path \\\\server\\share', () =>
    refused('path-not-canonical', () => del('\\\\127.0.0.1\\share\\tg\\outside', 'secret.txt')));
  it('W4 device paths \\\\.\\ and \\\\?\\UNC\\', async () => {
    await refused('path-not-canonical', () => del('\\\\.\\C:\\tg\\outside', 'secret.txt'));
    await refused('path-not-canonical', () => del('\\\\?\\UNC\\127.0.0.1\\share\\tg\\outside', 'secret.txt'));
    await refused('path-not-canonical', () => del('\\\\.\\PhysicalDrive0', 'x'));
  });
  it('W5 a rooted path without a drive, and forward slashes mixed in', async () => {
    await refused('path-not-canonical', () => del('\\tg\\outside', 'secret.txt'));
    await refused('path-not-canonical', () => del(`${ROOT}/../outside`, 'secret.txt'));
  });
  it('W6 the long form \\\\?\\ of a path outside the roots', () =>
    refused('path-outside-roots', () => del(`\\\\?\\${OUTSIDE}`, 'secret.txt')));
  it('W7 a root spelled in another case is the same root; outside stays outside', () =>
    refused('path-outside-roots', () => del('c:\\TG\\OUTSIDE', 'secret.txt')));
  it('W8 an alternate data stream, in the location and in the name', async () => {
    await refused('path-not-canonical', () => del(`${ROOT}\\victim.txt:hidden`, 'x'));
    await refused('invalid-command', () => del(ROOT, 'victim.txt:Zone.Identifier'));
  });
  it('W9 reserved device names (CON, NUL.sys, COM1.txt, AUX in the location)', async () => {
    await refused('path-not-canonical', () => del(ROOT, 'CON'));
    await refused('path-not-canonical', () => del(ROOT, 'nul.sys'));
    await refused('path-not-canonical', () => del(ROOT, 'COM1.txt'));
    await refused('path-not-canonical', () => del(`${ROOT}\\AUX`, 'x'));
  });
  it('W10 a trailing dot or space (Win32 would drop it: another spelling of victim.txt)', async () => {
    await refused('path-not-canonical', () => del(ROOT, 'victim.txt.'));
    await refused('path-not-canonical', () => del(`${ROOT}\\sub `, 'x'));
  });
  it('W11 a drive root and the root itself are not files under a root', async () => {
    await refused('path-outside-roots', () => del('C:\\', 'pagefile.sys'));
    await refused('path-outside-roots', () => del('C:\\tg', 'root'));
  });
  it('W12 a program whose bytes do not match the pinned sha256', () =>
    refused('hash-mismatch', () => run(['clean', `${ROOT}\\pwned.txt`, 'x'], { sha256: 'a'.repeat(64) })));
  it('W13 a program that is not a Windows executable (a script sent as a program)', () => {
    const bat = Buffer.from('@echo off\r\necho pwned > C:\\tg\\root\\pwned.txt\r\n');
    return refused('invalid-command', () =>
      run([], { content: bat.toString('base64'), sha256: createHash('sha256').update(bat).digest('hex') }),
    );
  });
  it('W14 a stored program outside the program roots', () =>
    refused('path-outside-roots', () =>
      run([], { content: undefined, location: 'C:\\windows\\system32\\cmd.exe', sha256: 'c'.repeat(64) }),
    ));
  it('W15 a replayed command', async () => {
    const env = seal('command', command({ action: 'ping' }), router.privateKey);
    expect((await sendEnvelope(agent.port, env, agent.agentKey)).ok).toBe(true);
    await refused('replay', () => sendEnvelope(agent.port, env, agent.agentKey));
  });
  it('W16 an expired command', () =>
    refused('expired', () =>
      send(
        command(
          { action: 'file.delete', location: ROOT, name: 'victim.txt' },
          { issuedAt: Date.now() - 120_000, expiresAt: Date.now() - 1000 },
        ),
      ),
    ));
  it('W17 a command for another host, and one bound to another agent key', async () => {
    await refused('wrong-host', () =>
      send(command({ action: 'file.delete', location: ROOT, name: 'victim.txt' }, { hostId: 'other-host' })),
    );
    await refused('wrong-host', () =>
      send(
        command(
          { action: 'file.delete', location: ROOT, name: 'victim.txt' },
          { agentKeyId: '0123456789abcdef' },
        ),
      ),
    );
  });
  it('W18 a command signed by a key that is not the paired router', () =>
    refused('bad-signature', () =>
      send(command({ action: 'file.delete', location: ROOT, name: 'victim.txt' }), newKey()),
    ));
  it('W19 the accepted control: the same delete, well formed, goes through', async () => {
    const r = await del(ROOT, 'victim.txt');
    expect(r, JSON.stringify(r)).toMatchObject({ ok: true, path: `${ROOT}\\victim.txt` });
    expect(existsSync(join(wine.unix(ROOT), 'victim.txt'))).toBe(false);
  });
});

function startHolder(fileWin: string) {
  return spawn('/usr/lib/wine/wine64', [`${PROGRAMS}\\cleanup.exe`, 'hold', fileWin, 'C:\\tg\\ready.txt'], {
    env: wine.env,
    stdio: 'ignore',
  });
}

async function waitForFile(p: string, timeoutMs = 20_000): Promise<void> {
  const t0 = Date.now();
  while (!existsSync(p)) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`${p} did not appear`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('the Windows service (NSSM registered with the service control manager)', () => {
  const KEY = 'HKLM\\System\\CurrentControlSet\\Services\\tunguard-agent';
  const cli = (...args: string[]) =>
    wine.run([join(agentDir, 'node.exe'), WinePrefix.z(join(agentDir, 'tunguard-agent.mjs')), ...args]);

  it('service install registers an automatic LocalSystem service running the agent; uninstall removes it', () => {
    const inst = cli('service', 'install', '--config', 'C:\\tg\\agent.json');
    expect(inst, inst.out).toMatchObject({ code: 0 });
    expect(inst.out).toContain('service installed');
    const reg = wine.run(['reg', 'query', KEY, '/s']);
    expect(reg.code, reg.out).toBe(0);
    const value = (name: string) =>
      new RegExp(`^\\s*${name}\\s+REG_\\w+\\s+(.*?)\\r?$`, 'm').exec(reg.out)?.[1];
    expect(value('ImagePath')).toBe(`${WinePrefix.z(agentDir)}\\nssm.exe`);
    expect(value('Start')).toBe('0x2'); // SERVICE_AUTO_START
    expect(value('ObjectName')).toBe('LocalSystem');
    expect(value('Application')).toBe(`${WinePrefix.z(agentDir)}\\node.exe`);
    expect(value('AppParameters')).toBe(
      `${WinePrefix.z(agentDir)}\\tunguard-agent.mjs serve --config C:\\tg\\agent.json --log C:\\ProgramData\\tunguard-agent\\agent.log`,
    );

    const un = cli('service', 'uninstall', '--config', 'C:\\tg\\agent.json');
    expect(un, un.out).toMatchObject({ code: 0 });
    expect(wine.run(['reg', 'query', KEY]).code).not.toBe(0);
    // Removing it twice says so.
    const again = cli('service', 'uninstall', '--config', 'C:\\tg\\agent.json');
    expect(again.code).toBe(1);
    expect(again.out).toMatch(/nssm remove tunguard-agent failed/);
  });

  it('the installed service starts under the SCM, answers a signed ping, and stops', async () => {
    writeFileSync(
      wine.unix('C:\\tg\\svc.json'),
      JSON.stringify({
        hostId: 'win-svc',
        listen: { host: '127.0.0.1', port: 0 },
        stateDir: 'C:\\tg\\svc-state',
        quarantineDir: 'C:\\tg\\svc-quarantine',
        roots: [ROOT],
      }),
    );
    expect(cli('trust-router', '--key', router.publicText, '--config', 'C:\\tg\\svc.json').code).toBe(0);
    const inst = cli('service', 'install', '--config', 'C:\\tg\\svc.json');
    expect(inst, inst.out).toMatchObject({ code: 0 });
    try {
      const start = wine.run(['sc', 'start', 'tunguard-agent']);
      expect(start.code, start.out).toBe(0);
      // The service has no console: its LISTENING line is in the log file the install named.
      const log = wine.unix('C:\\tg\\svc-state\\agent.log');
      let m: RegExpExecArray | null = null;
      for (let i = 0; i < 300 && !m; i++) {
        m = existsSync(log)
          ? /LISTENING \S+:(\d+) host=win-svc key=(\S+)/.exec(readFileSync(log, 'utf8'))
          : null;
        if (!m) await new Promise((r) => setTimeout(r, 100));
      }
      expect(m, existsSync(log) ? readFileSync(log, 'utf8') : 'no log').not.toBeNull();
      const [port, key] = [Number(m?.[1]), m?.[2] ?? ''];
      const now = Date.now();
      const ping = {
        id: randomUUID(),
        hostId: 'win-svc',
        agentKeyId: keyId(key),
        issuedAt: now,
        expiresAt: now + 60_000,
        action: { action: 'ping' },
      };
      expect(await sendEnvelope(port, seal('command', ping, router.privateKey), key)).toMatchObject({
        ok: true,
        reason: 'pong',
      });

      expect(wine.run(['sc', 'stop', 'tunguard-agent']).code).toBe(0);
      let closed = false;
      for (let i = 0; i < 100 && !closed; i++) {
        closed = await sendEnvelope(
          port,
          seal('command', { ...ping, id: randomUUID() }, router.privateKey),
          key,
        ).then(
          () => false,
          () => true,
        );
        if (!closed) await new Promise((r) => setTimeout(r, 100));
      }
      expect(closed).toBe(true);
    } finally {
      cli('service', 'uninstall', '--config', 'C:\\tg\\svc.json');
    }
  }, 90_000);
});

describe('pairing from a Windows console', () => {
  it('shows the code in the console and pairs when the person types yes', async () => {
    writeFileSync(
      wine.unix('C:\\tg\\pair.json'),
      JSON.stringify({
        hostId: 'win-pair',
        listen: { host: '127.0.0.1', port: 0 },
        stateDir: 'C:\\tg\\pair-state',
        quarantineDir: 'C:\\tg\\pair-quarantine',
        roots: [ROOT],
        pairing: true,
      }),
    );
    // A console is a terminal: script(1) gives node.exe a pseudo-terminal for its stdin and stdout.
    const line = [
      '/usr/lib/wine/wine64',
      join(agentDir, 'node.exe'),
      WinePrefix.z(join(agentDir, 'tunguard-agent.mjs')),
      'serve',
      '--config',
      'C:\\tg\\pair.json',
    ]
      .map((a) => `'${a}'`)
      .join(' ');
    const con = spawn('script', ['-qfec', line, '/dev/null'], {
      env: wine.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let screen = '';
    con.stdout.on('data', (d: Buffer) => {
      screen += d.toString();
    });
    const shown = async (re: RegExp) => {
      for (let i = 0; i < 600; i++) {
        const m = re.exec(screen);
        if (m) return m;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`console never showed ${re}: ${screen}`);
    };
    try {
      const port = Number((await shown(/LISTENING \S+:(\d+) host=win-pair/))[1]);
      const client = new AgentClient(router, { timeoutMs: 20_000 });
      const session = await client.pair('127.0.0.1', port, 'travel-router');
      const code = (await shown(/PAIRING router="travel-router" code=(\S+)/))[1].trim();
      expect(code).toBe(session.code);
      con.stdin.write('yes\r');
      expect(await session.finish()).toBe(true);
      const ep = { hostId: 'win-pair', address: '127.0.0.1', port, agentKey: session.agentKey };
      const { result } = await client.send(ep, client.buildCommand(ep, { action: 'ping' }));
      expect(result).toMatchObject({ ok: true, reason: 'pong', hostId: 'win-pair' });
    } finally {
      con.kill('SIGKILL');
    }
  }, 90_000);
});
