// Secret key files: random bytes created once with mode 0600, read back on every start.
import { randomBytes } from 'node:crypto';
import { closeSync, constants, openSync, readFileSync, writeSync } from 'node:fs';

export function loadOrCreateKey(path: string, bytes: number): Uint8Array {
  try {
    const k = readFileSync(path);
    if (k.length === bytes) return new Uint8Array(k);
    throw new Error(`${path}: expected ${bytes} bytes, found ${k.length} (delete it to make a new key)`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const k = randomBytes(bytes);
  // O_EXCL: two daemons racing on first start must not end up with different keys.
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  try {
    writeSync(fd, k);
  } finally {
    closeSync(fd);
  }
  return new Uint8Array(k);
}
