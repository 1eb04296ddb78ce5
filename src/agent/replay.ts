// Bounded replay cache of accepted command ids, persisted before a command runs so a restart keeps it.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../state/atomic-file.js';

/**
 * Holds id → expiresAt of every accepted, unexpired command. Commands live at most maxCommandTtl,
 * so expired ids can be dropped: an expired command is refused on its expiry alone. When the cache
 * is full of live ids, new commands are refused (fail closed) rather than evicting a live id.
 */
export class ReplayCache {
  private readonly seen = new Map<string, number>();
  private readonly file: string;

  constructor(
    stateDir: string,
    private readonly capacity: number,
  ) {
    this.file = join(stateDir, 'replay.json');
    if (existsSync(this.file)) {
      try {
        const raw = JSON.parse(readFileSync(this.file, 'utf8')) as unknown;
        if (Array.isArray(raw))
          for (const e of raw)
            if (Array.isArray(e) && typeof e[0] === 'string' && typeof e[1] === 'number')
              this.seen.set(e[0], e[1]);
      } catch {
        // A corrupt cache must not open a replay window: keep what parsed and go on.
      }
    }
  }

  private prune(now: number): void {
    for (const [id, exp] of this.seen) if (exp <= now) this.seen.delete(id);
  }

  has(id: string): boolean {
    return this.seen.has(id);
  }

  /** Records an id; returns 'replay', 'full' or 'ok'. Persists before returning 'ok'. */
  admit(id: string, expiresAt: number, now: number): 'ok' | 'replay' | 'full' {
    if (this.seen.has(id)) return 'replay';
    this.prune(now);
    if (this.seen.size >= this.capacity) return 'full';
    this.seen.set(id, expiresAt);
    writeFileAtomicSync(this.file, JSON.stringify([...this.seen]));
    return 'ok';
  }

  get size(): number {
    return this.seen.size;
  }
}
