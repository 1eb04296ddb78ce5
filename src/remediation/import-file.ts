// A report or feed file named through the API, read only from the import directory (<state_dir>/import):
// the token must not make root read any file on the router (/etc/shadow as "XML", a FIFO that blocks,
// /dev/zero that never ends). The directory is opened without following a link, the file relative to it
// (/proc/self/fd) with O_NOFOLLOW|O_NONBLOCK, then fstat'ed: a regular file under the size cap, read up
// to the size it had then.

import {
  closeSync,
  constants,
  createReadStream,
  fstatSync,
  mkdirSync,
  openSync,
  type ReadStream,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** A scanner report sent in the request body (POST /scans as XML, `tunguard scan import --upload`). */
export const MAX_REPORT_BODY = 4 << 20;
/** A scanner report (nmap, Nessus, OpenVAS XML) on disk: streamed, so 16 times a report in a body. */
export const MAX_REPORT_FILE = 16 * MAX_REPORT_BODY;
/** An NVD 2.0 JSON feed: a year of CVEs is a few hundred MiB at most. */
export const MAX_FEED_FILE = 512 << 20;

export class ImportFileError extends Error {
  override name = 'ImportFileError';
}

/** The import directory of a daemon whose state directory is `stateDir`. */
export function importDirOf(stateDir: string): string {
  return join(stateDir, IMPORT_DIR_NAME);
}

export const IMPORT_DIR_NAME = 'import';

/** Creates the import directory (0700) when it is missing. */
export function ensureImportDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

/**
 * Opens `path` for reading if it is a regular file directly in `dir`, at most `maxBytes` long. Returns a
 * stream of its bytes as of the open; throws ImportFileError saying what is wrong (never the content).
 */
export function openImportFile(dir: string, path: string, maxBytes: number): ReadStream {
  const name = basename(path);
  if (dirname(path) !== dir || name.startsWith('.') || name === '')
    throw new ImportFileError(`${path} is not a file in the import directory ${dir} (copy the file there)`);
  let dirFd: number;
  try {
    dirFd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch (e) {
    throw new ImportFileError(
      `the import directory ${dir} cannot be opened (${(e as NodeJS.ErrnoException).code})`,
    );
  }
  let fd: number;
  try {
    fd = openSync(
      `/proc/self/fd/${dirFd}/${name}`,
      constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK,
    );
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ImportFileError(
      code === 'ELOOP'
        ? `${path} is a symbolic link; links are not followed`
        : `no readable file at ${path} (${code})`,
    );
  } finally {
    closeSync(dirFd);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new ImportFileError(`${path} is not a regular file`);
    if (st.size > maxBytes)
      throw new ImportFileError(`${path} has ${st.size} bytes; at most ${maxBytes} are imported`);
    if (st.size === 0) throw new ImportFileError(`${path} is empty`);
    // A file that grows after the check is read only up to the size it had.
    return createReadStream('', { fd, start: 0, end: st.size - 1, highWaterMark: 64 * 1024 });
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}
