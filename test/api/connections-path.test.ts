// GET /connections and `tunguard connections` say where each proxied connection's packets are translated
// now: 'kernel' when the kernel translation's map holds it (the daemon asks KernelXlate.holds, here a
// stand-in over a set of keys), else 'proxy'. The stand-in records what it was asked, so the test also
// sees the right addresses and ports reach the map lookup (LAN host = the server side).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../cli/run-cli.js';
import { http, startTestDaemon, type TestDaemon } from './helpers.js';

/** Connections the "kernel" holds, as client:cPort>server:sPort (addresses as hex). */
const held = new Set<string>();
const asked: string[] = [];
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const tuple = (client: Uint8Array, cPort: number, server: Uint8Array, sPort: number) =>
  `${hex(client)}:${cPort}>${hex(server)}:${sPort}`;

let d: TestDaemon;
let plain: TestDaemon;

const upserts = [
  { cPort: 40001, state: 2 },
  { cPort: 40002, state: 2 },
  { cPort: 40003, state: 3 },
].map(({ cPort, state }) => ({
  key: `4|c6336402|${cPort}|c0000202|8080`,
  ver: 4,
  client: 'c6336402', // 198.51.100.2
  server: 'c0000202', // 192.0.2.2
  cPort,
  sPort: 8080,
  state,
  updated: Date.now(),
}));

beforeAll(async () => {
  d = await startTestDaemon({
    inKernel: (client, cPort, server, sPort) => {
      const t = tuple(client, cPort, server, sPort);
      asked.push(t);
      return held.has(t);
    },
  });
  // Control: a daemon without the kernel translation (--no-bypass, or the programs did not load).
  plain = await startTestDaemon();
  for (const x of [d, plain]) x.dp.emit('event', { type: 'conn-sync', upserts, removes: [] });
});
afterAll(async () => {
  await d?.close();
  await plain?.close();
});

const list = async (x: TestDaemon) => {
  const r = await http(x.url, 'GET', '/api/v1/connections?limit=10', { token: x.token });
  expect(r.status).toBe(200);
  return r.json.items as { sport: number; path: string }[];
};
const paths = (items: { sport: number; path: string }[]) =>
  Object.fromEntries(items.map((i) => [i.sport, i.path]));

describe("a proxied connection's path", () => {
  it('is kernel for what the map holds, proxy for the rest; looked up with the LAN host as server', async () => {
    held.clear();
    held.add('c6336402:40002>c0000202:8080');
    expect(paths(await list(d))).toEqual({ 40001: 'proxy', 40002: 'kernel', 40003: 'proxy' });
    expect(asked).toContain('c6336402:40001>c0000202:8080');
    // Where the map is now: the connection taken back (FIN) shows proxy again, at the next listing.
    held.clear();
    held.add('c6336402:40001>c0000202:8080');
    expect(paths(await list(d))).toEqual({ 40001: 'kernel', 40002: 'proxy', 40003: 'proxy' });
    // Control: without the kernel translation every connection is the proxy's.
    expect(paths(await list(plain))).toEqual({ 40001: 'proxy', 40002: 'proxy', 40003: 'proxy' });
  });

  it('tunguard connections shows it in a PATH column', async () => {
    held.clear();
    held.add('c6336402:40003>c0000202:8080');
    const r = await runCli(d, 'connections', []);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^FROM +TO +STATE +DIR +PATH +UPDATED$/);
    const row = (port: number) => lines.find((l) => l.startsWith(`198.51.100.2:${port} `)) ?? '';
    expect(row(40003)).toMatch(/ fin-wait +inbound +kernel +/);
    expect(row(40001)).toMatch(/ established +inbound +proxy +/);
    const j = await runCli(d, 'connections', ['--json']);
    expect(paths(JSON.parse(j.stdout).items)).toEqual({ 40001: 'proxy', 40002: 'proxy', 40003: 'kernel' });
    // Control: the daemon without it.
    expect((await runCli(plain, 'connections', [])).stdout).not.toMatch(/ kernel /);
  });
});
