// The API's bearer token: generated on first start into a 0600 file, read back on later starts and on
// reload. The token itself is never logged or put in an error message.

import { randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { writeFileAtomicSync } from '../state/atomic-file.js';

/** base64url of 32 random bytes (43 characters). */
const TOKEN_RE = /^[A-Za-z0-9_-]{32,256}$/;
/** A token file is a line; anything bigger is not ours. */
const MAX_TOKEN_FILE = 4096;

export class TokenError extends Error {
  override name = 'TokenError';
}

export interface TokenInfo {
  token: string;
  path: string;
  /** Whether this call created the file. */
  created: boolean;
}

/**
 * Why `path` may not hold the token, or undefined when it may. The token file sits directly in one of
 * `dirs` (the state directory, the package's /etc/tunguard): an option settable from LuCI must not make
 * root read, create or change a file anywhere else.
 */
export function tokenFileIssue(path: string, dirs: readonly string[]): string | undefined {
  const name = basename(path);
  if (!path.startsWith('/') || resolve(path) !== path || name === '' || name.startsWith('.'))
    return `token_file ${path} must be an absolute, normalised path to a file`;
  const dir = dirname(path);
  if (!dirs.some((d) => resolve(d) === dir))
    return `token_file ${path} must lie directly in ${dirs.join(' or ')}`;
  return undefined;
}

/** Reads an open token file descriptor: a regular file, 0600 or narrower, with a well-formed token. */
function readTokenFd(fd: number, path: string): string {
  const st = fstatSync(fd);
  if (!st.isFile()) throw new TokenError(`the API token ${path} is not a regular file`);
  if ((st.mode & 0o077) !== 0)
    // Never chmod a file we may not have made: the admin decides (delete it for a fresh token).
    throw new TokenError(
      `the API token ${path} is readable by others (mode ${(st.mode & 0o777).toString(8)}): chmod 600 it, or delete it for a new token`,
    );
  if (st.size > MAX_TOKEN_FILE) throw new TokenError(`the API token ${path} is too big to be a token`);
  const text = readFileSync(fd, 'utf8');
  const token = text.trim();
  if (!TOKEN_RE.test(token))
    throw new TokenError(`the API token in ${path} is malformed (expected 32 to 256 of A-Z a-z 0-9 _ -)`);
  return token;
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
 * Returns the token in `path`, creating the file (mode 0600, and its directory 0700) with a fresh random
 * token when it does not exist. `path` must lie directly in one of `dirs`; it is opened without following
 * a symbolic link (non-blocking, so a FIFO cannot hang the daemon), and an existing file is never chmod'ed.
 */
export function ensureToken(path: string, dirs: readonly string[]): TokenInfo {
  const issue = tokenFileIssue(path, dirs);
  if (issue) throw new TokenError(issue);
  let fd: number | undefined;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw new TokenError(`the API token ${path} is a symbolic link; refusing it`);
    if (code !== 'ENOENT') throw new TokenError(`cannot read the API token ${path}: ${code ?? err}`);
  }
  if (fd !== undefined) {
    try {
      return { token: readTokenFd(fd, path), path, created: false };
    } finally {
      closeSync(fd);
    }
  }
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const token = randomBytes(32).toString('base64url');
  writeFileAtomicSync(path, `${token}\n`);
  return { token, path, created: true };
}
