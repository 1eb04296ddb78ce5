// The daemon's version: package.json's, found from this module upward (source and dist trees alike).

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

export function tunguardVersion(): string {
  if (cached) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      try {
        const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
        if (pkg.name === 'tunguard' && typeof pkg.version === 'string') {
          cached = pkg.version;
          return cached;
        }
      } catch {}
    }
    dir = dirname(dir);
  }
  cached = '0.0.0-unknown';
  return cached;
}
