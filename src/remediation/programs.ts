// Cleanup programs the router stores and sends, pinned by sha256 when stored and checked when read.

import { createHash } from 'node:crypto';
import type { Database } from 'lmdb';
import type { DurableStore } from '../state/durable.js';

export interface StoredProgram {
  id: string;
  location: string;
  platform: 'any' | 'linux' | 'windows' | 'macos';
  sha256: string;
  size: number;
  content: Uint8Array;
  storedAt: number;
}

export type ProgramInfo = Omit<StoredProgram, 'content'>;

const key = (id: string, location: string) => `${id}\u0000${location}`;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Largest program the router keeps and sends (it travels in one frame, base64). */
export const MAX_PROGRAM_BYTES = 2 * 1024 * 1024;

export class ProgramStore {
  private readonly db: Database<StoredProgram, string>;
  constructor(store: DurableStore) {
    this.db = store.db<StoredProgram>('programs');
  }

  /** Stores a program under (id, location), pinning its digest. */
  async put(p: {
    id: string;
    location: string;
    platform?: StoredProgram['platform'];
    content: Uint8Array;
  }): Promise<ProgramInfo> {
    if (p.content.length > MAX_PROGRAM_BYTES)
      throw new Error(`program larger than ${MAX_PROGRAM_BYTES} bytes`);
    const rec: StoredProgram = {
      id: p.id,
      location: p.location,
      platform: p.platform ?? 'any',
      sha256: sha(p.content),
      size: p.content.length,
      content: Buffer.from(p.content),
      storedAt: Date.now(),
    };
    await this.db.put(key(p.id, p.location), rec);
    const { content: _c, ...info } = rec;
    return info;
  }

  /** The stored program, or undefined; throws if the bytes no longer match their pin (flash corruption). */
  get(id: string, location: string): StoredProgram | undefined {
    const rec = this.db.get(key(id, location));
    if (!rec) return undefined;
    if (sha(rec.content) !== rec.sha256)
      throw new Error(`stored program ${id} does not match its sha256 pin`);
    return rec;
  }

  list(): ProgramInfo[] {
    return [...this.db.getRange()].map(({ value }) => {
      const { content: _c, ...info } = value;
      return info;
    });
  }

  async remove(id: string, location: string): Promise<boolean> {
    return this.db.remove(key(id, location));
  }
}
