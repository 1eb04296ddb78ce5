// What the SYN police remembers about sources: the ones it put in its known sets (they completed a
// proxied handshake and skip the police) and the ones the dataplane marked aggressive (out of the
// known sets, not let back in while marked). A spoofed flood marks sources by the thousand a
// second, so every operation is O(1) and both tables have a bound, their oldest entries going first.

import { parseAddress } from '../config/net.js';

/** What a mark covers: an IPv4 address, or an IPv6 address's /64 (its first 8 bytes, hex). */
export function aggressiveKey(address: string): string | undefined {
  const bare = address.replace(/\/\d+$/, '');
  try {
    const { family, bytes } = parseAddress(bare);
    return family === 4 ? bare : Buffer.from(bytes.subarray(0, 8)).toString('hex');
  } catch {
    return undefined;
  }
}

export class PoliceSources {
  /** Known address → when it was (re)added, oldest first (a refresh moves it to the end). */
  private readonly known = new Map<string, number>();
  /** aggressiveKey → the known addresses it covers (one for IPv4, a /64's for IPv6). */
  private readonly knownByKey = new Map<string, Set<string>>();
  /** aggressiveKey → until when it is marked, oldest mark first. */
  private readonly marks = new Map<string, number>();
  /** Known addresses dropped for the bound while maybe still in the set: the caller deletes them. */
  private evicted: string[] = [];

  /** `maxKnown`, `maxMarks`: entries kept at most; `ttl`: how long a known source stays, ms. */
  constructor(
    readonly maxKnown: number,
    readonly maxMarks: number,
    private readonly ttl: number,
  ) {}

  get knownCount(): number {
    return this.known.size;
  }

  get markCount(): number {
    return this.marks.size;
  }

  /**
   * Whether `address`, having completed a handshake at `now`, goes into the known set: 'skip' (it
   * is marked, or was added less than half its time ago), 'add', or 'refresh' (still in the set:
   * the caller deletes the element first, as nft's `add` keeps an element's old timeout).
   */
  admit(address: string, now: number): 'skip' | 'add' | 'refresh' {
    const key = aggressiveKey(address);
    if (key === undefined || this.isMarked(key, now)) return 'skip';
    const at = this.known.get(address);
    if (at !== undefined && now - at < this.ttl / 2) return 'skip';
    this.known.delete(address);
    this.known.set(address, now);
    const group = this.knownByKey.get(key);
    if (group) group.add(address);
    else this.knownByKey.set(key, new Set([address]));
    while (this.known.size > this.maxKnown) {
      const [oldest, addedAt] = this.known.entries().next().value as [string, number];
      this.forget(oldest);
      if (now - addedAt < this.ttl) this.evicted.push(oldest);
    }
    return at !== undefined && now - at < this.ttl ? 'refresh' : 'add';
  }

  /**
   * The known addresses still within their time at `now`, newest first, with the ms each has left:
   * what a rebuilt table's known sets get (src/netcfg/syn-police.ts).
   */
  knownLeft(now: number): [string, number][] {
    const out: [string, number][] = [];
    for (const [address, at] of this.known) if (at + this.ttl > now) out.push([address, at + this.ttl - now]);
    return out.reverse();
  }

  /** Addresses admit() let go of for the bound that may still be in the set (then forgotten here). */
  takeEvicted(): string[] {
    const out = this.evicted;
    this.evicted = [];
    return out;
  }

  /** Marks `address` (or its /64) until `until`; returns the known addresses it takes out. */
  mark(address: string, until: number): string[] {
    const key = aggressiveKey(address);
    if (key === undefined) return [];
    this.marks.delete(key);
    this.marks.set(key, until);
    while (this.marks.size > this.maxMarks) this.marks.delete(this.marks.keys().next().value as string);
    const group = this.knownByKey.get(key);
    if (!group) return [];
    const out = [...group];
    for (const a of out) this.forget(a);
    return out;
  }

  private isMarked(key: string, now: number): boolean {
    const until = this.marks.get(key);
    if (until === undefined) return false;
    if (until > now) return true;
    this.marks.delete(key);
    return false;
  }

  private forget(address: string): void {
    this.known.delete(address);
    const key = aggressiveKey(address);
    if (key === undefined) return;
    const group = this.knownByKey.get(key);
    group?.delete(address);
    if (group?.size === 0) this.knownByKey.delete(key);
  }
}
