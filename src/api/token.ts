// The API's bearer token: generated on first start into a 0600 file, read back on later starts and on
// reload. The token itself is never logged or put in an error message.

import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';

/** base64url of 32 random bytes (43 characters). */
const TOKEN_RE = /^[A-Za-z0-9_-]{32,256}$/;

export class TokenError extends Error {
  override name = 'TokenError';
}

export interface TokenInfo {
  token: string;
  path: string;
  /** Whether this call created the file. */
  created: boolean;
  /** A problem that was repaired (e.g. the mode was too open), for the log. */
  repaired?: string;
}

/** Reads the token file; throws TokenError (without the content) when it is missing or malformed. */
export function readToken(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new TokenError(`cannot read the API token ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
  const token = text.trim();
  if (!TOKEN_RE.test(token))
    throw new TokenError(`the API token in ${path} is malformed (expected 32 to 256 of A-Z a-z 0-9 _ -)`);
  return token;
}

/**
 * Returns the token in `path`, creating the file (and its directory, 0700) with a fresh random token and
 * mode 0600 when it does not exist. A file readable by group or others is narrowed to 0600.
 */
export function ensureToken(path: string): TokenInfo {
  let repaired: string | undefined;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new TokenError(`the API token ${path} is not a regular file`);
    if ((st.mode & 0o077) !== 0) {
      chmodSync(path, 0o600);
      repaired = `mode of ${path} was ${(st.mode & 0o777).toString(8)}, set to 600`;
    }
    return { token: readToken(path), path, created: false, repaired };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const token = randomBytes(32).toString('base64url');
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, `${token}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  return { token, path, created: true };
}
