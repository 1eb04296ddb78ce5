// Units under the API: the config store (atomic writes, allowlist edits that keep comments, one
// writer at a time), the token file, dataplane event parsing, and the SSE client queue.
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DepsError } from '../../src/api/deps.js';
import { parseDataplaneEvent, SseHub } from '../../src/api/events.js';
import { AttackerBook, ConnectionBook, TierHistory } from '../../src/api/stores.js';
import { ensureToken, readToken, TokenError } from '../../src/api/token.js';
import { parseCidr } from '../../src/config/index.js';
import { parseAddress } from '../../src/config/net.js';
import { ConfigStore } from '../../src/daemon/config-store.js';
import { AttackerBatch, markOf, parseAttackerBatch } from '../../src/dataplane/attacker-batch.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tunguard-store-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const UCI = `# head comment
config tunguard 'main'
\toption wan_device 'wan0'
\toption allow_prefix '192.0.2.10 192.0.2.11' # two, old style

# the admins
config allow 'admins'
\tlist prefix '2001:db8::/64'
\tlist prefix '198.51.100.0/28'
\toption comment 'admin nets'

config api 'api'
\tlist listen '127.0.0.1:7447'
`;

describe('ConfigStore', () => {
  it('removes prefixes by editing lines, keeping every comment; an emptied section goes', async () => {
    const file = join(dir, 'c.conf');
    writeFileSync(file, UCI);
    const s = ConfigStore.fromFile(file);
    expect(s.allowEntries().map((e) => `${e.cidr}@${e.section}`)).toEqual([
      '192.0.2.10/32@main',
      '192.0.2.11/32@main',
      '2001:db8::/64@admins',
      '198.51.100.0/28@admins',
    ]);
    await s.removeAllow(parseCidr('192.0.2.11'));
    let text = readFileSync(file, 'utf8');
    expect(text).toContain("\toption allow_prefix '192.0.2.10'");
    expect(text).toContain('# head comment');
    await s.removeAllow(parseCidr('2001:db8::/64'));
    await s.removeAllow(parseCidr('198.51.100.0/28'));
    text = readFileSync(file, 'utf8');
    expect(text).not.toContain("config allow 'admins'");
    expect(text).not.toContain('admin nets');
    expect(text).toContain('# the admins');
    expect(s.config.allow.map((p) => p.cidr)).toEqual(['192.0.2.10/32']);
    await expect(s.removeAllow(parseCidr('203.0.113.0/24'))).rejects.toMatchObject({ kind: 'not_found' });
  });

  it('adds and removes an API prefix back to the identical file', async () => {
    const file = join(dir, 'c.conf');
    writeFileSync(file, UCI);
    const s = ConfigStore.fromFile(file);
    const r = await s.addAllow(parseCidr('203.0.113.0/24'), "it's ours");
    expect(r.changed).toBe(true);
    expect(readFileSync(file, 'utf8')).toContain("option comment 'it'\\''s ours'");
    expect((await s.addAllow(parseCidr('203.0.113.0/24'), '')).changed).toBe(false);
    await s.removeAllow(parseCidr('203.0.113.0/24'));
    expect(readFileSync(file, 'utf8')).toBe(UCI);
  });

  it('serialises concurrent writers and keeps the file mode', async () => {
    const file = join(dir, 'c.conf');
    writeFileSync(file, UCI);
    chmodSync(file, 0o640);
    const s = ConfigStore.fromFile(file);
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => s.addAllow(parseCidr(`203.0.113.${i * 8}/29`), `n${i}`)),
    );
    expect(s.config.allow).toHaveLength(24);
    expect(ConfigStore.fromFile(file).config.allow).toHaveLength(24);
    expect(statSync(file).mode & 0o777).toBe(0o640);
    expect(readdirSync(dir)).toEqual(['c.conf']); // no temp files left
  });

  it('refuses an invalid replacement (DepsError with the lines) and a stale etag', async () => {
    const file = join(dir, 'c.conf');
    writeFileSync(file, UCI);
    const s = ConfigStore.fromFile(file);
    const etag = s.etag;
    const err = await s.replace("config defense 'syn'\n\toption window_seconds '0'\n").catch((e) => e);
    expect(err).toBeInstanceOf(DepsError);
    expect(err.issues[0].line).toBe(2);
    await s.replace(UCI.replace('wan0', 'wan1'), etag);
    await expect(s.replace(UCI, etag)).rejects.toMatchObject({ kind: 'precondition_failed' });
    expect(readFileSync(file, 'utf8')).toContain('wan1');
  });

  it('keeps a configuration without a file in memory', async () => {
    const s = ConfigStore.fromDefaults();
    expect(s.persisted).toBe(false);
    await s.addAllow(parseCidr('192.0.2.0/24'), '');
    expect(s.config.allow.map((p) => p.cidr)).toEqual(['192.0.2.0/24']);
    expect(await s.reload()).toBeUndefined();
  });
});

describe('token file', () => {
  it('creates 0600 with a random token, reuses it, refuses a malformed one', () => {
    const sub = join(dir, 'sub');
    const file = join(sub, 'api.token');
    const a = ensureToken(file, [sub]);
    expect(a.created).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(sub).mode & 0o777).toBe(0o700);
    const b = ensureToken(file, [sub]);
    expect(b).toMatchObject({ created: false, token: a.token });
    expect(ensureToken(join(sub, 'other'), [sub]).token).not.toBe(a.token);
    writeFileSync(file, 'short\n');
    expect(() => ensureToken(file, [sub])).toThrow(TokenError);
    expect(() => ensureToken(file, [sub])).not.toThrow(/short/); // the content never appears in a message
    expect(() => readToken(file)).toThrow(TokenError);
  });

  // token_file is reachable from LuCI Settings: it must not make root read, create or chmod any path.
  describe('never touches a file outside its directories, behind a link, or not its own', () => {
    const victim = () => {
      const outside = join(dir, 'outside');
      mkdirSync(outside, { recursive: true });
      const f = join(outside, 'shadow');
      writeFileSync(f, 'root:x:0:0\n', { mode: 0o644 });
      chmodSync(f, 0o644);
      return f;
    };
    const state = () => {
      const d = join(dir, 'state');
      mkdirSync(d, { recursive: true, mode: 0o700 });
      return d;
    };

    it('refuses a path outside the state and config directories (and .. tricks)', () => {
      const v = victim();
      const st = state();
      expect(() => ensureToken(v, [st])).toThrow(/must lie directly in/);
      expect(() => ensureToken(`${st}/../outside/shadow`, [st])).toThrow(/normalised/);
      expect(() => ensureToken(join(dir, 'nowhere', 'new.token'), [st])).toThrow(/must lie directly in/);
      expect(statSync(v).mode & 0o777).toBe(0o644);
      expect(readFileSync(v, 'utf8')).toBe('root:x:0:0\n');
      expect(existsSync(join(dir, 'nowhere'))).toBe(false);
    });

    it('refuses a symbolic link in the directory, to an existing file or to a missing one', () => {
      const v = victim();
      const st = state();
      symlinkSync(v, join(st, 'api.token'));
      expect(() => ensureToken(join(st, 'api.token'), [st])).toThrow(/symbolic link/);
      expect(statSync(v).mode & 0o777).toBe(0o644);
      const planted = join(dir, 'outside', 'created-by-root');
      symlinkSync(planted, join(st, 'dangling.token'));
      expect(() => ensureToken(join(st, 'dangling.token'), [st])).toThrow(/symbolic link/);
      expect(existsSync(planted)).toBe(false);
    });

    it('does not chmod an open-mode file it finds: refuses it and says what to do', () => {
      const st = state();
      const f = join(st, 'api.token');
      writeFileSync(f, `${'T'.repeat(43)}\n`);
      chmodSync(f, 0o644);
      expect(() => ensureToken(f, [st])).toThrow(
        /readable by others \(mode 644\): chmod 600 it, or delete it/,
      );
      expect(statSync(f).mode & 0o777).toBe(0o644);
    });

    it('refuses a FIFO without blocking on it', () => {
      const st = state();
      const f = join(st, 'api.token');
      execFileSync('mkfifo', [f]);
      expect(() => ensureToken(f, [st])).toThrow(/not a regular file/);
    });
  });
});

describe('dataplane events', () => {
  it('takes the documented shapes and the SYN gate own ones, refuses the rest', () => {
    const now = Date.now();
    expect(
      parseDataplaneEvent({ type: 'tier', at: now, from: 'normal', to: 'risky', synCount: 400, halfOpen: 9 }),
    ).toMatchObject({
      type: 'tier',
      tier: 'risky',
      synsInWindow: 400,
      halfOpen: 9,
      at: now,
    });
    expect(
      parseDataplaneEvent({ type: 'tier', tier: 'normal', synsInWindow: 0, at: 1234 }, now),
    ).toMatchObject({ at: now });
    expect(
      parseDataplaneEvent({
        type: 'attacker',
        address: '198.51.100.7',
        at: now,
        until: now + 30_000,
        unfinished: 6,
      }),
    ).toMatchObject({
      action: 'mark',
      holdSeconds: 30,
      reason: 'unfinished-handshakes',
    });
    for (const bad of [
      null,
      42,
      { type: 'tier', tier: 'panic', synsInWindow: 1 },
      { type: 'tier', tier: 'normal', synsInWindow: -1 },
      { type: 'attacker', action: 'mark', address: 'evil; rm -rf', holdSeconds: 1 },
      { type: 'conn-sync', upserts: [{ key: 'x' }], removes: [] },
      { type: 'other' },
    ])
      expect(parseDataplaneEvent(bad)).toBeUndefined();
  });

  it('keeps the highest tier of the workers and records only real changes', () => {
    const h = new TierHistory();
    expect(h.report('normal', 0, 1, 0)?.to).toBe('normal');
    expect(h.report('risky', 500, 2, 1)?.to).toBe('risky');
    expect(h.report('normal', 0, 3, 0)).toBeUndefined(); // worker 1 is still risky
    expect(h.report('moderate', 150, 4, 1)?.to).toBe('moderate');
    expect(h.recent(10).map((c) => c.to)).toEqual(['moderate', 'risky', 'normal']);
  });

  it('expires attacker marks and bounds the book', () => {
    let now = 1000;
    const b = new AttackerBook(3, () => now);
    for (let i = 0; i < 5; i++) b.mark(`198.51.100.${i}`, 'x', 10, i, now);
    expect(b.list(10).items.map((a) => a.address)).toEqual(['198.51.100.4', '198.51.100.3', '198.51.100.2']);
    now += 11_000;
    expect(b.list(10).total).toBe(0);
  });

  it('picks the top few of many marks in the order a full sort gives, ties in the book’s order', () => {
    const now = 1000;
    const b = new AttackerBook(10_000, () => now);
    // Few distinct counts and times: many ties, which must keep the order they were marked in.
    let x = 7;
    const rand = (n: number) => {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      return x % n;
    };
    for (let i = 0; i < 5000; i++) b.mark(`198.18.${i >> 8}.${i & 0xff}`, 'x', 60, rand(8), now - rand(5));
    const all = b.list(10_000).items;
    for (const k of [1, 10, 100]) {
      const r = b.list(k);
      expect(r.total).toBe(5000);
      expect(r.items.map((a) => a.address)).toEqual(all.slice(0, k).map((a) => a.address));
    }
  });

  it('bounds the connection book, keeping the most recently changed', () => {
    const b = new ConnectionBook({ stateName: (n) => `s${n}`, limit: 3, now: () => 5 });
    const rec = (i: number) => ({
      key: `k${i}`,
      ver: 4 as const,
      client: `c6336407`,
      server: 'cb007105',
      cPort: 40000 + i,
      sPort: 80,
      state: 1,
      updated: i,
    });
    b.sync([0, 1, 2, 3, 4].map(rec), []);
    expect(b.size).toBe(3);
    // A changed record is the newest again: k2 outlives k3 at the next bound.
    b.sync([rec(2), rec(5)], []);
    expect(b.list({ offset: 0, limit: 10 }).items.map((c) => c.id)).toEqual(['k5', 'k2', 'k4']);
  });

  it("checks a worker's attacker batch once and gives its addresses as text", () => {
    const batch = new AttackerBatch();
    batch.add(Uint8Array.of(192, 0, 2, 7), 0, 4, 9000, 6);
    const v6 = parseAddress('2001:db8::7').bytes;
    batch.add(v6, 0, 6, 9500, 70000);
    const msg = batch.take(1000, 0);
    const marks = parseAttackerBatch(msg);
    expect(marks?.addresses).toEqual(['192.0.2.7', '2001:db8::7']);
    expect(marks && markOf(marks, 1)).toMatchObject({
      address: '2001:db8::7',
      holdSeconds: 8.5,
      unfinished: 0xffff,
    });
    // Anything of another shape is refused whole, never half-read.
    const bad = [
      { ...msg, until: Float64Array.of(1) },
      { ...msg, addresses: msg.addresses.subarray(0, 16) },
      { ...msg, until: Float64Array.of(1, Number.NaN) },
      { ...msg, unfinished: [6, 7] },
      { ...msg, at: Number.POSITIVE_INFINITY },
      { ...msg, type: 'attacker' },
      null,
    ];
    for (const x of bad) expect(parseAttackerBatch(x)).toBeUndefined();
  });
});

describe('SSE queue', () => {
  it('bounds each client and drops its oldest events first', async () => {
    const hub = new SseHub({ queueLimit: 3, maxClients: 1 });
    const c = hub.connect()!;
    expect(hub.connect()).toBeUndefined();
    for (let i = 0; i < 10; i++) hub.publish('config', { i });
    expect(c.queued).toBe(3);
    expect(c.dropped).toBe(7);
    const reader = c.stream().getReader();
    const text = new TextDecoder().decode((await reader.read()).value);
    expect(text).toMatch(/^event: dropped\ndata: \{"count":7\}\n\n/);
    expect([...text.matchAll(/"i":(\d+)/g)].map((m) => Number(m[1]))).toEqual([7, 8, 9]);
    await reader.cancel();
    expect(hub.stats().clients).toBe(0);
  });
});
