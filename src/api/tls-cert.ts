// The API's TLS certificate for listeners that are not loopback: made at first need, kept on flash (the
// durable directory, so its fingerprint, which clients pin, survives a reboot), both files 0600.
// Node cannot sign an X.509 certificate; `openssl req` does it (OpenWrt: openssl-util, a small binary on
// the libopenssl that node already links). The key is made here, by Node, and never passes a command line.

import { execFileSync } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { closeSync, constants, fstatSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../state/atomic-file.js';

export const TLS_KEY_FILE = 'api-tls.key';
export const TLS_CERT_FILE = 'api-tls.crt';
/** A PEM key or certificate is a few KiB; anything bigger is not ours. */
const MAX_PEM = 64 * 1024;
const VALID_DAYS = 3650;

export interface ApiCertificate {
  key: string;
  cert: string;
  /** SHA-256 of the certificate (DER), upper-case hex pairs joined by ':' as openssl and Node print it. */
  fingerprint: string;
  /** Whether this call made it. */
  created: boolean;
}

/** Reads a PEM file we made: no link followed, a regular file, 0600 or narrower, bounded. */
function readPrivate(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new Error(`${path} is not a regular file`);
    if ((st.mode & 0o077) !== 0)
      throw new Error(
        `${path} is readable by others (mode ${(st.mode & 0o777).toString(8)}): delete it for a new one`,
      );
    if (st.size > MAX_PEM) throw new Error(`${path} is too big to be a PEM file`);
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

/** Signs a self-signed certificate for the key in `keyPath` with openssl (no shell; PEM on stdout). */
function signWithOpenssl(keyPath: string, openssl: string): string {
  try {
    return execFileSync(
      openssl,
      ['req', '-new', '-x509', '-key', keyPath, '-subj', '/CN=tunguard', '-days', String(VALID_DAYS)],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 },
    );
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === 'ENOENT')
      throw new Error(
        'a listener that is not loopback is served over HTTPS, and its certificate is made by openssl, which is missing (OpenWrt: opkg install openssl-util; Debian: apt-get install openssl)',
      );
    throw new Error(
      `openssl could not make the API certificate: ${String(err.stderr ?? err.message)
        .trim()
        .slice(0, 300)}`,
    );
  }
}

/** The certificate in `dir`, made (key and certificate, 0600) when absent. */
export function loadOrCreateCertificate(dir: string, openssl = 'openssl'): ApiCertificate {
  const keyPath = join(dir, TLS_KEY_FILE);
  const certPath = join(dir, TLS_CERT_FILE);
  const key = readPrivate(keyPath);
  const cert = readPrivate(certPath);
  if (key !== undefined && cert !== undefined) {
    const x = new X509Certificate(cert);
    if (!x.checkPrivateKey(createPrivateKey(key)))
      throw new Error(`${certPath} does not belong to ${keyPath}: delete both for a new certificate`);
    return { key, cert, fingerprint: x.fingerprint256, created: false };
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const made = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const keyPem = made.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  // Key first (openssl reads it from there): a certificate on disk always has its key beside it.
  writeFileAtomicSync(keyPath, keyPem, { mode: 0o600 });
  let certPem: string;
  let x: X509Certificate;
  try {
    certPem = signWithOpenssl(keyPath, openssl);
    x = new X509Certificate(certPem);
    writeFileAtomicSync(certPath, certPem, { mode: 0o600 });
  } catch (e) {
    rmSync(keyPath, { force: true });
    throw e;
  }
  return { key: keyPem, cert: certPem, fingerprint: x.fingerprint256, created: true };
}

/** Whether a listen host is loopback (served over plain HTTP; everything else gets TLS). */
export function isLoopbackHost(host: string): boolean {
  return host.startsWith('127.') || host === '::1';
}
