#!/usr/bin/env node
// Signs a feed's Packages the way the OpenWrt buildroot does (`usign -S -m Packages -s key-build`):
// Packages.sig beside it, over the uncompressed index (opkg unpacks Packages.gz, then runs
// `opkg-key verify Packages Packages.sig`, i.e. `usign -V -P /etc/opkg/keys`). The public key goes
// beside them as tunguard-feed.pub, for `opkg-key add` on the router.
//
// The secret key: --key <file>, made (0600, in a 0700 directory) when the file does not exist yet —
// like the buildroot's key-build. A key file others may read is refused: whoever reads it can sign
// packages every router that trusts the key will install.
//
//   node cross-build/sign-feed.mjs --feed <dir> --key <secret key file>
import {
  closeSync,
  constants,
  existsSync,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { generateKey, readSecretKey, signMessage } from './usign.mjs';

export const PUBLIC_KEY_FILE = 'tunguard-feed.pub';

/** Reads a secret key file without following a symlink; refuses one that is not the owner's alone. */
function readKeyFile(file) {
  const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new Error(`${file}: not a regular file`);
    if ((st.mode & 0o077) !== 0)
      throw new Error(
        `${file}: mode ${(st.mode & 0o777).toString(8)} lets others read the feed's signing key (chmod 600 it)`,
      );
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

/** Makes a key at `file` (it must not exist); returns its fingerprint. */
export function createKey(file) {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const k = generateKey('tunguard feed key');
  writeFileSync(file, k.secretText, { mode: 0o600, flag: 'wx' });
  return k.fingerprint;
}

/** Writes Packages.sig and the public key into `feed`; returns the key's fingerprint (hex). */
export function signFeed(feed, keyFile) {
  const secret = readSecretKey(readKeyFile(keyFile), keyFile);
  const index = join(feed, 'Packages');
  writeFileSync(`${index}.sig`, signMessage(readFileSync(index), secret));
  writeFileSync(join(feed, PUBLIC_KEY_FILE), secret.publicText);
  return secret.fingerprint.toString('hex');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { feed: { type: 'string' }, key: { type: 'string' } } });
  if (!values.feed || !values.key) {
    process.stderr.write('usage: node cross-build/sign-feed.mjs --feed <dir> --key <secret key file>\n');
    process.exit(2);
  }
  try {
    if (!existsSync(values.key)) {
      const fp = createKey(values.key);
      process.stdout.write(
        `sign-feed: made a new signing key ${values.key} (fingerprint ${fp}); keep it, back it up: routers that added its public key trust only it\n`,
      );
    }
    const fp = signFeed(values.feed, values.key);
    process.stdout.write(`sign-feed: Packages.sig by key ${fp}, public key ${PUBLIC_KEY_FILE}\n`);
  } catch (err) {
    process.stderr.write(`sign-feed: ${err.message}\n`);
    process.exit(1);
  }
}
