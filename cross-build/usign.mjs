#!/usr/bin/env node
// usign's key and signature files (OpenWrt's signify: what opkg checks a feed's Packages.sig with),
// written with Node's own Ed25519, so the feed build needs no OpenWrt tool.
//
// Each file is two lines: "untrusted comment: <text>" and the base64 of one record (usign's main.c):
//   public key  "Ed" | fingerprint(8) | public key(32)                                     42 bytes
//   secret key  "Ed" | "BK" | kdfrounds(4) = 0 | salt(16) | checksum(8) | fingerprint(8) |
//               secret(64) = seed(32) | public key(32); checksum = sha512(secret)[0..8]  104 bytes
//   signature   "Ed" | fingerprint(8) | Ed25519 signature of the message(64)             74 bytes
// The fingerprint is 8 random bytes chosen at key generation; opkg-key stores a public key under
// /etc/opkg/keys/<fingerprint as 16 hex digits>, and usign -V -P finds it there by the signature's.
// OpenBSD's signify (Debian: signify-openbsd) reads the same records; a key with kdfrounds ≠ 0
// (passphrase-protected) is refused, as usign refuses it.
//
//   node cross-build/usign.mjs -G -s <secret> -p <public> [-c <comment>]
//   node cross-build/usign.mjs -S -m <message> -s <secret> [-x <signature>]   (default <message>.sig)
//   node cross-build/usign.mjs -F -p <public>
import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ALG = 'Ed';
const SIZES = { public: 42, secret: 104, signature: 74 };

/** The 16 hex digits usign prints for a fingerprint (and names /etc/opkg/keys/ files by). */
const hex = (fp) => Buffer.from(fp).toString('hex');

function fileText(comment, record) {
  return `untrusted comment: ${comment}\n${record.toString('base64')}\n`;
}

/** The record of a usign file, checked for its kind's size and algorithm. */
function decode(text, kind, name = kind) {
  const lines = text.split('\n');
  if (!lines[0].startsWith('untrusted comment: '))
    throw new Error(`${name}: not a usign/signify file (no 'untrusted comment:' line)`);
  const b64 = (lines[1] ?? '').trim();
  if (!/^[A-Za-z0-9+/]+=*$/.test(b64)) throw new Error(`${name}: the second line is not base64`);
  const record = Buffer.from(b64, 'base64');
  if (record.length !== SIZES[kind])
    throw new Error(`${name}: ${record.length} bytes, a usign ${kind} record has ${SIZES[kind]}`);
  if (record.subarray(0, 2).toString('latin1') !== ALG)
    throw new Error(`${name}: algorithm '${record.subarray(0, 2).toString('latin1')}', not Ed25519`);
  return record;
}

/** A new key pair: { secretText, publicText, fingerprint (hex) }. */
export function generateKey(comment) {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const seed = Buffer.from(privateKey.export({ format: 'jwk' }).d, 'base64url');
  const pub = Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url');
  const fingerprint = randomBytes(8);
  const secret = Buffer.concat([seed, pub]);
  const checksum = createHash('sha512').update(secret).digest().subarray(0, 8);
  const secretRecord = Buffer.concat([
    Buffer.from('EdBK', 'latin1'),
    Buffer.alloc(4), // kdfrounds 0: no passphrase (usign never sets one)
    randomBytes(16), // salt, unused without a KDF
    checksum,
    fingerprint,
    secret,
  ]);
  return {
    secretText: fileText(comment ?? `private key ${hex(fingerprint)}`, secretRecord),
    publicText: fileText(
      comment ?? `public key ${hex(fingerprint)}`,
      Buffer.concat([Buffer.from(ALG, 'latin1'), fingerprint, pub]),
    ),
    fingerprint: hex(fingerprint),
  };
}

/** A secret key file → { key (a Node KeyObject), fingerprint (bytes), publicText }. */
export function readSecretKey(text, name = 'secret key') {
  const record = decode(text, 'secret', name);
  if (record.subarray(2, 4).toString('latin1') !== 'BK')
    throw new Error(`${name}: KDF '${record.subarray(2, 4).toString('latin1')}', usign writes 'BK'`);
  if (record.readUInt32BE(4) !== 0)
    throw new Error(`${name}: passphrase-protected keys are not supported (usign has none either)`);
  // "Ed" "BK" rounds(4) salt(16): the checksum starts at 24.
  const checksum = record.subarray(24, 32);
  const fingerprint = record.subarray(32, 40);
  const secret = record.subarray(40, 104);
  if (!createHash('sha512').update(secret).digest().subarray(0, 8).equals(checksum))
    throw new Error(`${name}: checksum mismatch (damaged key file)`);
  const seed = secret.subarray(0, 32);
  const pub = secret.subarray(32, 64);
  const key = createPrivateKey({
    format: 'jwk',
    key: { kty: 'OKP', crv: 'Ed25519', d: seed.toString('base64url'), x: pub.toString('base64url') },
  });
  // The seed must give the stored public key, or signatures would not verify with the shipped one.
  const derived = Buffer.from(key.export({ format: 'jwk' }).x, 'base64url');
  if (!derived.equals(pub)) throw new Error(`${name}: its public half does not match its seed`);
  const publicText = fileText(
    `public key ${hex(fingerprint)}`,
    Buffer.concat([Buffer.from(ALG, 'latin1'), fingerprint, pub]),
  );
  return { key, fingerprint, publicText };
}

/** The signature file of `message` (as `usign -S` writes it). */
export function signMessage(message, secret) {
  const sig = sign(null, message, secret.key);
  return fileText(
    `signed by key ${hex(secret.fingerprint)}`,
    Buffer.concat([Buffer.from(ALG, 'latin1'), secret.fingerprint, sig]),
  );
}

/** The fingerprint (16 hex digits) of a public key, secret key or signature file, as `usign -F`. */
export function fingerprintOf(text, kind) {
  const record = decode(text, kind);
  return hex(kind === 'secret' ? record.subarray(32, 40) : record.subarray(2, 10));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      G: { type: 'boolean' },
      S: { type: 'boolean' },
      F: { type: 'boolean' },
      s: { type: 'string' },
      p: { type: 'string' },
      m: { type: 'string' },
      x: { type: 'string' },
      c: { type: 'string' },
    },
  });
  try {
    if (values.G && values.s && values.p) {
      const k = generateKey(values.c);
      writeFileSync(values.s, k.secretText, { mode: 0o600, flag: 'wx' });
      writeFileSync(values.p, k.publicText, { mode: 0o644, flag: 'wx' });
      process.stdout.write(`${k.fingerprint}\n`);
    } else if (values.S && values.s && values.m) {
      const secret = readSecretKey(readFileSync(values.s, 'utf8'), values.s);
      writeFileSync(values.x ?? `${values.m}.sig`, signMessage(readFileSync(values.m), secret));
    } else if (values.F && values.p) {
      process.stdout.write(`${fingerprintOf(readFileSync(values.p, 'utf8'), 'public')}\n`);
    } else {
      process.stderr.write(
        'usage: usign.mjs -G -s <secret> -p <public> [-c <comment>] | -S -m <msg> -s <secret> [-x <sig>] | -F -p <public>\n',
      );
      process.exit(2);
    }
  } catch (err) {
    process.stderr.write(`usign: ${err.message}\n`);
    process.exit(1);
  }
}
