// The API's HTTP listeners: one node:http server per listen address, all serving the same hono app.
// Loopback by default; a wildcard address only when explicitly allowed. Listeners can be changed
// without a restart (reload): unchanged addresses keep their connections and event streams.
// Loopback is plain HTTP; any other address is HTTPS only (the token must not cross the LAN in clear).

import { createServer, type Server } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { formatListen, type ListenAddress } from '../config/index.js';
import type { Api } from './app.js';
import { ConnectionSlots } from './connection-slots.js';
import { errorBody } from './errors.js';
import { isLoopbackHost } from './tls-cert.js';

// Kept in config/net.ts so the CLI finds it without loading the server.
export { DEFAULT_LISTEN } from '../config/net.js';

export function isWildcardHost(host: string): boolean {
  return host === '0.0.0.0' || host === '::';
}

export interface ApiServerOptions {
  /** Accept 0.0.0.0 / :: (only when the configuration asks for it explicitly). */
  allowWildcard?: boolean;
  /** Concurrent connections per listener. */
  maxConnections?: number;
  log?: (msg: string) => void;
  /** The key and certificate for listeners that are not loopback (asked for only when one is opened). */
  tls?: () => { key: string; cert: string };
}

interface Listener {
  key: string;
  address: ListenAddress;
  server: Server;
}

export class ApiServer {
  private listeners: Listener[] = [];
  private readonly handler: ReturnType<typeof getRequestListener>;

  constructor(
    private readonly api: Api,
    private readonly opts: ApiServerOptions = {},
  ) {
    const log = opts.log ?? (() => {});
    this.handler = getRequestListener(api.app.fetch, {
      overrideGlobalObjects: false,
      errorHandler: (err) => {
        log(`api: response failed: ${(err as Error)?.message ?? err}`);
        return new Response(JSON.stringify(errorBody('bad_request', 'the request could not be read')), {
          status: 400,
          headers: { 'content-type': 'application/json' },
        });
      },
    });
  }

  /** The bound addresses (with the real port when 0 was asked for). */
  get addresses(): ListenAddress[] {
    return this.listeners.map((l) => {
      const a = l.server.address() as AddressInfo | null;
      return { ...l.address, port: a?.port ?? l.address.port };
    });
  }

  /** Listens on every address; on any failure closes what was opened and throws. */
  async listen(addresses: readonly ListenAddress[]): Promise<void> {
    await this.update(addresses);
  }

  /**
   * Moves the listeners to `addresses`: opens the new ones first (failing without closing anything), then
   * closes those no longer wanted (after `closeDelayMs`, so a request that caused the change gets its
   * answer). Returns what was opened and closed.
   */
  async update(
    addresses: readonly ListenAddress[],
    closeDelayMs = 0,
  ): Promise<{ opened: string[]; closed: string[] }> {
    for (const a of addresses) {
      if (isWildcardHost(a.host) && !this.opts.allowWildcard)
        throw new Error(
          `refusing to listen on ${formatListen(a)}: every address, the WAN side included (list a LAN address or loopback)`,
        );
    }
    const wanted = new Map(addresses.map((a) => [formatListen(a), a]));
    const keep = this.listeners.filter((l) => wanted.has(l.key));
    const drop = this.listeners.filter((l) => !wanted.has(l.key));
    const opened: Listener[] = [];
    try {
      for (const [key, address] of wanted) {
        if (keep.some((l) => l.key === key)) continue;
        opened.push({ key, address, server: await this.open(address) });
      }
    } catch (err) {
      await Promise.all(opened.map((l) => closeServer(l.server)));
      throw err;
    }
    if (closeDelayMs > 0) {
      setTimeout(() => void Promise.all(drop.map((l) => closeServer(l.server))), closeDelayMs).unref();
    } else {
      await Promise.all(drop.map((l) => closeServer(l.server)));
    }
    this.listeners = [...keep, ...opened];
    return { opened: opened.map((l) => l.key), closed: drop.map((l) => l.key) };
  }

  private open(address: ListenAddress): Promise<Server> {
    const httpOptions = {
      maxHeaderSize: 16 * 1024,
      requestTimeout: 30_000,
      headersTimeout: 10_000,
      keepAliveTimeout: 5_000,
      // How often the two timeouts above are checked (Node's default, 30 s, lets a slow client keep
      // its connection three times longer than headersTimeout says).
      connectionsCheckingInterval: 1000,
    };
    let server: Server;
    if (isLoopbackHost(address.host)) server = createServer(httpOptions, this.handler);
    else {
      if (!this.opts.tls)
        return Promise.reject(
          new Error(`cannot listen on ${formatListen(address)}: not loopback, and no TLS certificate`),
        );
      let tls: { key: string; cert: string };
      try {
        tls = this.opts.tls();
      } catch (err) {
        return Promise.reject(
          new Error(`cannot listen on ${formatListen(address)}: ${(err as Error).message}`),
        );
      }
      server = createTlsServer({ ...httpOptions, ...tls, minVersion: 'TLSv1.2' }, this.handler);
    }
    // The cap is ConnectionSlots' (which evicts slow connections rather than refusing new ones).
    new ConnectionSlots(this.opts.maxConnections ?? 256).attach(server);
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        reject(new Error(`cannot listen on ${formatListen(address)}: ${err.code ?? err.message}`));
      };
      server.once('error', onError);
      server.listen({ host: address.host, port: address.port, ipv6Only: address.family === 6 }, () => {
        server.off('error', onError);
        server.on('error', (err) => this.opts.log?.(`api: ${formatListen(address)}: ${err.message}`));
        resolve(server);
      });
    });
  }

  /** Closes every listener and connection (event streams included). */
  async close(): Promise<void> {
    this.api.close();
    const all = this.listeners;
    this.listeners = [];
    await Promise.all(all.map((l) => closeServer(l.server)));
  }
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
