// fetch() for the daemon's https:// listeners, whose certificate is self-signed: trust comes from its
// SHA-256 fingerprint (published in api.json), checked on the TLS socket before a byte of the request
// (the token) is written to it. Errors are shaped like fetch's (a TypeError whose cause has the code).

import { request } from 'node:http';
import { connect, type TLSSocket } from 'node:tls';

export class PinMismatch extends Error {
  override name = 'PinMismatch';
  readonly code = 'ERR_TLS_PIN_MISMATCH';
}

const fetchFailed = (cause: unknown) => Object.assign(new TypeError('fetch failed'), { cause });

/** Opens a TLS connection to `url`'s host and resolves once the peer's certificate matches `fingerprint`. */
function pinnedSocket(url: URL, fingerprint: string, signal?: AbortSignal): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const host = url.hostname.replace(/^\[|\]$/g, '');
    // Chain checks do not apply to a self-signed certificate: the pin below is the whole check.
    const socket = connect({
      host,
      port: Number(url.port || 443),
      rejectUnauthorized: false,
      servername: '',
    });
    const fail = (e: unknown) => {
      socket.destroy();
      reject(e);
    };
    signal?.addEventListener('abort', () => fail(signal.reason), { once: true });
    socket.once('error', fail);
    socket.once('secureConnect', () => {
      const got = socket.getPeerCertificate().fingerprint256;
      if (got !== fingerprint.toUpperCase())
        return fail(
          new PinMismatch(`the API's certificate has fingerprint ${got ?? 'none'}, expected ${fingerprint}`),
        );
      socket.off('error', fail);
      resolve(socket);
    });
  });
}

/** A fetch of `url` (https://) over a connection whose certificate has `fingerprint`. */
export async function pinnedFetch(url: string, init: RequestInit, fingerprint: string): Promise<Response> {
  const u = new URL(url);
  const signal = init.signal ?? undefined;
  // What the CLI sends: JSON text or a report's bytes; anything else would be dropped unseen.
  const body = init.body ?? undefined;
  if (body !== undefined && typeof body !== 'string' && !(body instanceof Uint8Array))
    throw new TypeError('pinnedFetch sends a string or bytes as the body');
  let socket: TLSSocket;
  try {
    socket = await pinnedSocket(u, fingerprint, signal);
  } catch (e) {
    throw (e as Error).name === 'TimeoutError' || (e as Error).name === 'AbortError' ? e : fetchFailed(e);
  }
  return new Promise((resolve, reject) => {
    // node:http over the already checked TLS socket (node:https would open and verify its own).
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: `${u.pathname}${u.search}`,
        method: init.method ?? 'GET',
        headers: init.headers as Record<string, string>,
        createConnection: () => socket,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (e) => reject(fetchFailed(e)));
        res.on('end', () => {
          const headers = new Headers();
          for (const [k, v] of Object.entries(res.headers))
            if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(', ') : v);
          const status = res.statusCode ?? 500;
          const body = status === 204 || status === 304 ? null : Buffer.concat(chunks);
          resolve(new Response(body, { status, headers }));
          socket.destroy();
        });
      },
    );
    signal?.addEventListener('abort', () => req.destroy(signal.reason), { once: true });
    req.on('error', (e) =>
      reject((e as Error).name === 'TimeoutError' || (e as Error).name === 'AbortError' ? e : fetchFailed(e)),
    );
    if (body !== undefined) req.write(body);
    req.end();
  });
}
