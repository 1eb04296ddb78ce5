// Agent attack suite: each case is refused by a real agent over real TCP and leaves the host's files unchanged.

import { createHash, randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Action, type CommandInput, keyId, seal } from '../../src/agent/protocol.js';
import { AgentClient } from '../../src/remediation/agent-client.js';
import { type AgentDirs, agentCli, cleanup, makeDirs, type RunningAgent, startAgent } from './harness.js';
import { newKey, newRouterIdentity, rawExchange, sendEnvelope, snapshot } from './wire.js';

const router = newRouterIdentity();
let dirs: AgentDirs;
let agent: RunningAgent;
let unpairedDirs: AgentDirs;
let unpaired: RunningAgent;
const MARK = `/tmp/tg-pwned-${process.pid}`;

function command(action: Action, over: Partial<CommandInput> = {}): CommandInput {
  const now = Date.now();
  return {
    id: randomUUID(),
    hostId: agent.hostId,
    agentKeyId: keyId(agent.agentKey),
    issuedAt: now,
    expiresAt: now + 60_000,
    action,
    ...over,
  };
}

const send = (c: unknown, key = router.privateKey) =>
  sendEnvelope(agent.port, seal('command', c, key), agent.agentKey);
const hostState = () => snapshot(dirs.root, dirs.outside, dirs.quarantine, dirs.programs);

/** Runs an attack and checks it was refused with `reason` and that no file changed. */
async function refused(
  reason: string,
  attack: () => Promise<{ refused?: string; ok: boolean }>,
): Promise<void> {
  const before = hostState();
  const r = await attack();
  expect(r.ok).toBe(false);
  expect(r.refused).toBe(reason);
  expect(hostState()).toEqual(before);
  expect(existsSync(MARK)).toBe(false);
}

const sh = (body: string) => Buffer.from(`#!/bin/sh\n${body}\n`).toString('base64');
const sha = (b64: string) => createHash('sha256').update(Buffer.from(b64, 'base64')).digest('hex');

beforeAll(async () => {
  dirs = makeDirs();
  writeFileSync(join(dirs.root, 'victim.txt'), 'victim');
  writeFileSync(join(dirs.root, 'swap.txt'), 'swap');
  mkdirSync(join(dirs.root, 'sub'));
  writeFileSync(join(dirs.outside, 'secret.txt'), 'secret');
  chmodSync(join(dirs.outside, 'secret.txt'), 0o600);
  symlinkSync(join(dirs.outside, 'secret.txt'), join(dirs.root, 'link.txt'));
  symlinkSync(dirs.outside, join(dirs.root, 'dirlink'));
  writeFileSync(join(dirs.programs, 'clean.sh'), `#!/bin/sh\ntouch ${MARK}\n`, { mode: 0o755 });
  agent = await startAgent(dirs, { extra: { allowInlinePrograms: true } });
  await agentCli(agent.configPath, ['trust-router', '--key', router.publicText]);
  unpairedDirs = makeDirs();
  writeFileSync(join(unpairedDirs.root, 'victim.txt'), 'victim');
  unpaired = await startAgent(unpairedDirs, { hostId: 'host-2' });
});

afterAll(async () => {
  await agent?.stop();
  await unpaired?.stop();
  cleanup(dirs);
  cleanup(unpairedDirs);
  rmSync(MARK, { force: true });
});

describe('agent attack suite (each refused, nothing changed)', () => {
  it('1 traversal with ../ in the location', () =>
    refused('path-not-canonical', () =>
      send(command({ action: 'file.delete', location: `${dirs.root}/../outside`, name: 'secret.txt' })),
    ));

  it('2 traversal with .. as the file name', () =>
    refused('invalid-command', () =>
      send(command({ action: 'file.delete', location: dirs.root, name: '..' })),
    ));

  it('3 non-canonical spelling (double slash, dot component)', () =>
    refused('path-not-canonical', () =>
      send(command({ action: 'file.delete', location: `${dirs.root}//./sub`, name: 'x' })),
    ));

  it('4 absolute path outside the roots', () =>
    refused('path-outside-roots', () =>
      send(command({ action: 'file.delete', location: dirs.outside, name: 'secret.txt' })),
    ));

  it('5 the root itself is not a file under the root', () =>
    refused('path-outside-roots', () =>
      send(command({ action: 'file.delete', location: dirs.base, name: 'root' })),
    ));

  it('6 a symlink as the final component (delete)', () =>
    refused('symlink', () =>
      send(command({ action: 'file.delete', location: dirs.root, name: 'link.txt' })),
    ));

  it('7 a symlinked directory on the way', () =>
    refused('symlink', () =>
      send(command({ action: 'file.delete', location: join(dirs.root, 'dirlink'), name: 'secret.txt' })),
    ));

  it('8 chmod through a symlink', () =>
    refused('symlink', () =>
      send(command({ action: 'file.chmod', location: dirs.root, name: 'link.txt', mode: 0o777 })),
    ));

  it('9 symlink swap: a checked file replaced by a link to a secret', async () => {
    unlinkSync(join(dirs.root, 'swap.txt'));
    symlinkSync(join(dirs.outside, 'secret.txt'), join(dirs.root, 'swap.txt'));
    await refused('symlink', () =>
      send(command({ action: 'file.quarantine', location: dirs.root, name: 'swap.txt' })),
    );
  });

  it('10 shell metacharacters in a file name', () =>
    refused('invalid-command', () =>
      send(command({ action: 'file.delete', location: dirs.root, name: `x;touch ${MARK}` })),
    ));

  it('11 shell metacharacters in program arguments', () => {
    const content = sh('exit 0');
    return refused('invalid-command', () =>
      send(
        command({
          action: 'program.run',
          programId: 'p',
          sha256: sha(content),
          content,
          args: [`$(touch ${MARK})`],
        }),
      ),
    );
  });

  it('12 program whose bytes do not match the pinned sha256', () => {
    const content = sh(`touch ${MARK}`);
    return refused('hash-mismatch', () =>
      send(command({ action: 'program.run', programId: 'p', sha256: 'a'.repeat(64), content })),
    );
  });

  it('13 stored program (id + location) whose hash does not match', () =>
    refused('hash-mismatch', () =>
      send(
        command({
          action: 'program.run',
          programId: 'clean',
          sha256: 'b'.repeat(64),
          location: join(dirs.programs, 'clean.sh'),
        }),
      ),
    ));

  it('14 stored program outside the program roots', () =>
    refused('path-outside-roots', () =>
      send(command({ action: 'program.run', programId: 'x', sha256: 'c'.repeat(64), location: '/bin/sh' })),
    ));

  it('15 replayed command', async () => {
    const c = command({ action: 'file.chmod', location: dirs.root, name: 'victim.txt', mode: 0o640 });
    const env = seal('command', c, router.privateKey);
    const first = await sendEnvelope(agent.port, env, agent.agentKey);
    expect(first.ok).toBe(true);
    await refused('replay', () => sendEnvelope(agent.port, env, agent.agentKey));
  });

  it('16 expired command', () =>
    refused('expired', () =>
      send(
        command(
          { action: 'file.delete', location: dirs.root, name: 'victim.txt' },
          { issuedAt: Date.now() - 120_000, expiresAt: Date.now() - 1000 },
        ),
      ),
    ));

  it('17 command issued in the future', () =>
    refused('not-yet-valid', () =>
      send(
        command({ action: 'ping' }, { issuedAt: Date.now() + 3_600_000, expiresAt: Date.now() + 3_700_000 }),
      ),
    ));

  it('18 command with a lifetime beyond the agent limit', () =>
    refused('ttl-too-long', () =>
      send(command({ action: 'ping' }, { expiresAt: Date.now() + 24 * 3_600_000 })),
    ));

  it('19 command for another host id', () =>
    refused('wrong-host', () =>
      send(command({ action: 'file.delete', location: dirs.root, name: 'victim.txt' }, { hostId: 'host-9' })),
    ));

  it('20 command bound to another agent key', () =>
    refused('wrong-host', () =>
      send(
        command(
          { action: 'file.delete', location: dirs.root, name: 'victim.txt' },
          { agentKeyId: '0123456789abcdef' },
        ),
      ),
    ));

  it('21 unsigned command', () => {
    const env = seal(
      'command',
      command({ action: 'file.delete', location: dirs.root, name: 'victim.txt' }),
      router.privateKey,
    );
    const { sig: _sig, ...unsigned } = env;
    return refused('unsigned', () => sendEnvelope(agent.port, unsigned, agent.agentKey));
  });

  it('22 command signed by a key that is not the paired router', () =>
    refused('bad-signature', () =>
      send(command({ action: 'file.delete', location: dirs.root, name: 'victim.txt' }), newKey()),
    ));

  it('23 body changed after signing', () => {
    const env = seal('command', command({ action: 'ping' }), router.privateKey);
    const tampered = {
      ...env,
      body: JSON.stringify({
        ...JSON.parse(env.body),
        action: { action: 'file.delete', location: dirs.root, name: 'victim.txt' },
      }),
    };
    return refused('bad-signature', () => sendEnvelope(agent.port, tampered, agent.agentKey));
  });

  it('24 unknown action', () =>
    refused('action-not-allowed', () =>
      send({ ...command({ action: 'ping' }), action: { action: 'shell.exec', cmd: `touch ${MARK}` } }),
    ));

  it('25 setuid bits in chmod', () =>
    refused('invalid-command', () =>
      send(command({ action: 'file.chmod', location: dirs.root, name: 'victim.txt', mode: 0o4755 })),
    ));

  it('26 delete of a directory', () =>
    refused('not-a-regular-file', () =>
      send(command({ action: 'file.delete', location: dirs.root, name: 'sub' })),
    ));

  it('27 restore of an unknown quarantine id', () =>
    refused('not-found', () => send(command({ action: 'file.restore', quarantineId: 'f'.repeat(32) }))));

  it('28 oversized message is refused and the connection closed', async () => {
    const before = hostState();
    const huge = Buffer.alloc(4 + 64);
    huge.writeUInt32BE(64 * 1024 * 1024);
    const { reply, closed } = await rawExchange(agent.port, huge);
    expect(reply?.type).toBe('result');
    expect(JSON.parse(reply!.body).refused).toBe('oversized');
    expect(closed).toBe(true);
    expect(hostState()).toEqual(before);
  });

  it('28b a 100 KiB frame before any authentication is refused when inline programs are off (the default)', async () => {
    // `unpaired` runs the default config: no inline programs, so no room for 4 MiB frames.
    const big = Buffer.alloc(4 + 100 * 1024, 0x20);
    big.writeUInt32BE(100 * 1024);
    const { reply, closed } = await rawExchange(unpaired.port, big);
    expect(JSON.parse(reply!.body).refused).toBe('oversized');
    expect(closed).toBe(true);
  });

  it('29 malformed JSON', () => refused('malformed-json', () => sendRaw('{"v":1,"type":"command",')));

  it('30 malformed envelope (unknown fields, wrong version)', () =>
    refused('malformed-envelope', () =>
      sendRaw(JSON.stringify({ v: 2, type: 'command', body: '{}', extra: 1 })),
    ));

  it('31 command to an agent that is not paired', async () => {
    const before = snapshot(unpairedDirs.root);
    const now = Date.now();
    const c = {
      id: randomUUID(),
      hostId: unpaired.hostId,
      agentKeyId: keyId(unpaired.agentKey),
      issuedAt: now,
      expiresAt: now + 60_000,
      action: { action: 'file.delete', location: unpairedDirs.root, name: 'victim.txt' },
    };
    const r = await sendEnvelope(unpaired.port, seal('command', c, router.privateKey), unpaired.agentKey);
    expect(r.refused).toBe('unpaired');
    expect(snapshot(unpairedDirs.root)).toEqual(before);
  });

  it('32 a second router trying to pair with a paired agent', async () => {
    const before = hostState();
    const intruder = new AgentClient(newRouterIdentity(), { timeoutMs: 5000 });
    await expect(intruder.pair('127.0.0.1', agent.port, 'evil')).rejects.toThrow(/pairing-closed/);
    expect(hostState()).toEqual(before);
  });
});

function sendRaw(text: string) {
  const body = Buffer.from(text);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length);
  return rawExchange(agent.port, Buffer.concat([head, body])).then(({ reply }) => {
    if (!reply) throw new Error('no reply');
    return JSON.parse(reply.body) as { ok: boolean; refused?: string };
  });
}
