// The API's TLS certificate (made by openssl at first need, kept 0600, reused) and the CLI's pinned
// client: the token is written only to a server whose certificate has the published fingerprint.

import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadOrCreateCertificate, TLS_CERT_FILE, TLS_KEY_FILE } from '../../src/api/tls-cert.js';
import { PinMismatch, pinnedFetch } from '../../src/cli/pinned-fetch.js';

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'tg-tls-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('the API certificate', () => {
  it('is made once (key and certificate 0600) and read back with the same fingerprint', () => {
    const dir = join(tempDir(), 'durable');
    const made = loadOrCreateCertificate(dir);
    expect(made.created).toBe(true);
    expect(made.fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    for (const f of [TLS_KEY_FILE, TLS_CERT_FILE]) expect(statSync(join(dir, f)).mode & 0o777).toBe(0o600);
    const again = loadOrCreateCertificate(dir);
    expect(again).toMatchObject({ created: false, fingerprint: made.fingerprint });
  });

  it('never reads a key through a symlink, nor one others can read', () => {
    const dir = tempDir();
    loadOrCreateCertificate(dir);
    const key = join(dir, TLS_KEY_FILE);
    chmodSync(key, 0o644);
    expect(() => loadOrCreateCertificate(dir)).toThrow(/readable by others/);
    rmSync(key);
    const secret = join(tempDir(), 'shadow');
    writeFileSync(secret, 'not a key', { mode: 0o600 });
    symlinkSync(secret, key);
    expect(() => loadOrCreateCertificate(dir)).toThrow(/cannot read .*ELOOP/);
    expect(readFileSync(secret, 'utf8')).toBe('not a key');
  });

  it('says which package to install when openssl is missing, and leaves no key behind', () => {
    const dir = tempDir();
    expect(() => loadOrCreateCertificate(dir, '/nonexistent/openssl')).toThrow(/opkg install openssl-util/);
    expect(() => statSync(join(dir, TLS_KEY_FILE))).toThrow(/ENOENT/);
  });
});

describe('the pinned client', () => {
  it('sends the request only when the certificate has the pinned fingerprint', async () => {
    const cert = loadOrCreateCertificate(tempDir());
    const seen: string[] = [];
    const server = createServer({ key: cert.key, cert: cert.cert }, (req, res) => {
      seen.push(String(req.headers.authorization));
      res.end('{"ok":true}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/healthz`;
    try {
      const init = { headers: { authorization: 'Bearer secret' } };
      const ok = await pinnedFetch(url, init, cert.fingerprint);
      expect(await ok.text()).toBe('{"ok":true}');
      expect(seen).toEqual(['Bearer secret']);
      // Another certificate's fingerprint: refused before the token is written.
      const other = loadOrCreateCertificate(tempDir()).fingerprint;
      const err = await pinnedFetch(url, init, other).catch((e: { cause?: unknown }) => e.cause);
      expect(err).toBeInstanceOf(PinMismatch);
      expect(seen).toHaveLength(1);
      // Negative control: the platform's fetch refuses a self-signed certificate outright.
      await expect(fetch(url)).rejects.toThrow();
    } finally {
      server.close();
    }
  });
});
