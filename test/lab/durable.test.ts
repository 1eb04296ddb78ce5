// The daemon's durable store on a router's terms, in the netns lab: it lives in the state dir
// (tmpfs on a router: <state_dir>/durable-live), a stop writes its snapshot to the durable dir, a
// "reboot" (the live store gone) restores it, and a damaged snapshot is refused with a log line
// while the daemon starts and protects as usual.
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkSnapshot, PREVIOUS_FILE, SNAPSHOT_FILE } from '../../src/state/snapshot.js';
import { ADDR, Lab, waitFor } from './lab.js';

const API = 'http://127.0.0.1:7447/api/v1/remediation';
let lab: Lab;
let conf: string;

beforeAll(() => {
  lab = Lab.create();
  conf = join(lab.stateDir, 'tunguard.conf');
  writeFileSync(conf, lab.config());
}, 30_000);

afterAll(async () => {
  await lab?.tunguard?.stop();
  lab?.destroy();
});

/** Starts the daemon and returns its API token. */
async function start(): Promise<string> {
  const tg = lab.startTunguard(['--config', conf], false);
  await tg.ready();
  await waitFor('the API token', () => existsSync(join(lab.stateDir, 'api.token')));
  await waitFor('the API', () => tg.output.includes('api: listening'));
  return readFileSync(join(lab.stateDir, 'api.token'), 'utf8').trim();
}

const live = () => join(lab.stateDir, 'durable-live');
const snapshot = () => join(lab.stateDir, 'durable', SNAPSHOT_FILE);

describe('the durable store in tmpfs, snapshots in the durable dir', () => {
  it('a stop writes the snapshot; after a reboot the daemon restores it', async () => {
    let token = await start();
    expect(existsSync(join(live(), 'durable.mdb'))).toBe(true);
    expect(existsSync(join(lab.stateDir, 'durable', 'durable.mdb'))).toBe(false);
    const agentKey = randomBytes(32).toString('base64url');
    const paired = lab.api(token, 'POST', `${API}/agents`, {
      hostId: 'kept-host',
      address: ADDR.lan4,
      port: 7443,
      agentKey,
    });
    expect(paired.status, paired.text).toBe(201);
    expect(await lab.tunguard!.stop()).toBe(0);
    expect(checkSnapshot(snapshot())).toBeUndefined();

    rmSync(live(), { recursive: true, force: true }); // the reboot: tmpfs is empty
    token = await start();
    expect(lab.tunguard!.output).toMatch(/durable: restored \d+ bytes from .*durable\.snap/);
    const agents = lab.api(token, 'GET', `${API}/agents`);
    expect(agents.status).toBe(200);
    expect(agents.json.items.map((a: { hostId: string }) => a.hostId)).toContain('kept-host');
    expect(await lab.tunguard!.stop()).toBe(0);
  }, 60_000);

  it('a damaged snapshot is refused with a log line; the previous one is restored; the daemon steers', async () => {
    // Two generations: the one the first test wrote becomes the previous one, as a second stop
    // would make it; the current one is then cut short.
    const prev = join(lab.stateDir, 'durable', PREVIOUS_FILE);
    copyFileSync(snapshot(), prev);
    truncateSync(snapshot(), 1000);
    rmSync(live(), { recursive: true, force: true });
    const token = await start();
    const out = lab.tunguard!.output;
    expect(out).toMatch(
      /durable: snapshot .*durable\.snap refused: no snapshot trailer at its end \(truncated/,
    );
    expect(out).toMatch(/durable: restored \d+ bytes from .*durable\.snap\.prev/);
    expect(out).toContain('steering up');
    const agents = lab.api(token, 'GET', `${API}/agents`);
    expect(agents.status).toBe(200);
    expect(agents.json.items.map((a: { hostId: string }) => a.hostId)).toContain('kept-host');
    expect(existsSync(join(lab.stateDir, 'durable', 'durable.snap.bad'))).toBe(true);
    expect(checkSnapshot(prev)).toBeUndefined();
  }, 60_000);

  it('both generations damaged: an empty store, and the daemon steers anyway', async () => {
    expect(await lab.tunguard!.stop()).toBe(0);
    for (const f of [snapshot(), join(lab.stateDir, 'durable', PREVIOUS_FILE)]) writeFileSync(f, 'garbage');
    rmSync(live(), { recursive: true, force: true });
    const token = await start();
    expect(lab.tunguard!.output).toMatch(/starting with an empty store/);
    expect(lab.tunguard!.output).toContain('steering up');
    expect(lab.api(token, 'GET', `${API}/agents`).json.items).toEqual([]);
  }, 60_000);
});
