// The connection store against a real LMDB environment: written behind, kept across a reopen,
// expired by age, and quiet about reports that come in after it was closed (shutdown order).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type ConnRecord, ConnStore } from '../../src/state/connstore.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function storePath(): string {
  const d = mkdtempSync(join(tmpdir(), 'tg-connstore-'));
  dirs.push(d);
  return join(d, 'conn.lmdb');
}

function rec(key: string, updated: number): ConnRecord {
  return {
    key,
    ver: 4,
    client: 'c6336402',
    server: 'c0000202',
    cPort: 40000,
    sPort: 80,
    state: 2,
    flags: 0,
    isnC: 1,
    isnP: 2,
    isnS: 3,
    delta: 1,
    tsOff: 0,
    tsProxy: 0,
    tsClient: 0,
    wsClient: 7,
    wsAdv: 7,
    wsServer: 7,
    mss: 1460,
    updated,
  };
}

describe('ConnStore', () => {
  it('a close waits for the write already under way (a flush fired by its timer)', async () => {
    const path = storePath();
    const a = new ConnStore(path);
    a.queue({ upserts: [rec('k1', 1)], removes: [] }, 0);
    // The timer fires and its transaction is queued in LMDB, not yet run: then the daemon stops.
    await new Promise((r) => setTimeout(r, 1));
    await a.close();
    const b = new ConnStore(path);
    expect(b.all().map((r) => r.key)).toEqual(['k1']);
    await b.close();
  });

  it('commits queued changes in one transaction and keeps them across a reopen', async () => {
    const path = storePath();
    const a = new ConnStore(path);
    a.queue({ upserts: [rec('k1', 1), rec('k2', 2)], removes: [] });
    a.queue({ upserts: [rec('k3', 3)], removes: ['k1'] });
    expect(a.size).toBe(0); // written behind
    await a.flush();
    expect(a.writes).toBe(1);
    await a.close();
    const b = new ConnStore(path);
    expect(b.all().map((r) => r.key)).toEqual(['k2', 'k3']);
    expect(await b.expire(3)).toBe(1); // k2 is older than 3
    expect(b.all().map((r) => r.key)).toEqual(['k3']);
    await b.close();
  });

  it('ignores a report that arrives after the close, and closes twice without error', async () => {
    const a = new ConnStore(storePath());
    await a.close();
    a.queue({ upserts: [rec('late', 1)], removes: [] }, 1);
    await new Promise((r) => setTimeout(r, 20)); // no flush timer fires on the closed environment
    await expect(a.close()).resolves.toBeUndefined();
  });
});
