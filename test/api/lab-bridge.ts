// Reaching a server that listens inside a lab namespace from the test process (and from a browser the
// test starts): a relay in the namespace listens on a Unix socket (the file system is shared across
// network namespaces) and connects to the target; a relay here listens on 127.0.0.1:<ephemeral> and
// connects to that socket. Nothing is added to the host's network configuration.
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Lab } from '../lab/lab.js';

const RELAY_JS = `
const net = require('node:net');
const [sock, host, port] = process.argv.slice(1);
net.createServer((c) => {
  const u = net.connect(Number(port), host);
  c.pipe(u); u.pipe(c);
  const end = () => { c.destroy(); u.destroy(); };
  c.on('error', end); u.on('error', end); c.on('close', end); u.on('close', end);
}).listen(sock, () => console.log('relay ready'));
`;

function pipeBoth(a: Socket, b: Socket): void {
  a.pipe(b);
  b.pipe(a);
  const end = () => {
    a.destroy();
    b.destroy();
  };
  for (const s of [a, b]) {
    s.on('error', end);
    s.on('close', end);
  }
}

export interface Bridge {
  url: string;
  close(): Promise<void>;
}

export async function bridgeInto(lab: Lab, ns: string, host: string, port: number): Promise<Bridge> {
  const sock = join(lab.stateDir, `relay-${port}-${Date.now()}.sock`);
  const relay = lab.spawn(ns, process.execPath, ['-e', RELAY_JS, sock, host, String(port)]);
  let out = '';
  relay.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  relay.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const t0 = Date.now();
  while (!out.includes('relay ready')) {
    if (relay.exitCode !== null) throw new Error(`relay exited: ${out}`);
    if (Date.now() - t0 > 10_000) throw new Error(`relay did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const open = new Set<Socket>();
  const server: Server = createServer((c) => {
    const u = connect(sock);
    for (const s of [c, u]) {
      open.add(s);
      s.once('close', () => open.delete(s));
    }
    pipeBoth(c, u);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const addr = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${addr.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        relay.kill();
        server.close(() => resolve());
        for (const s of open) s.destroy();
      }),
  };
}
