// Reads and writes /proc/sys knobs with errors that name the knob.
import { readFileSync, writeFileSync } from 'node:fs';
import { NetcfgError } from './ip.js';

const path = (key: string) => `/proc/sys/${key.replaceAll('.', '/')}`;

export function readSysctl(key: string): string | undefined {
  try {
    return readFileSync(path(key), 'utf8').trim();
  } catch {
    return undefined;
  }
}

export function writeSysctl(key: string, value: string): void {
  try {
    writeFileSync(path(key), value);
  } catch (err) {
    throw new NetcfgError(`cannot set ${key}=${value}: ${(err as Error).message}`);
  }
}
