// One daemon per WAN device: two tunguards steering the same device would each attach their programs
// and answer each other's SYNs. The claim is an abstract unix socket named after the device: abstract
// names live in the network namespace (the lab's namespaces each have their own wan0), and the kernel
// drops the name with the process however it dies, so a crash never leaves a stale lock.
import { connect, createServer, type Server } from 'node:net';

const name = (wan: string) => `\0tunguard/wan/${wan}`;

/** Asks the daemon holding the claim for its pid ('?' when it does not answer). */
function holderPid(wan: string): Promise<string> {
  return new Promise((resolve) => {
    let pid = '';
    const s = connect({ path: name(wan) });
    s.setTimeout(1000, () => s.destroy());
    s.on('data', (b) => {
      pid += b.toString().slice(0, 16);
    });
    s.on('close', () => resolve(/^\d+$/.test(pid) ? pid : '?'));
    s.on('error', () => resolve('?'));
  });
}

/** Claims `wan` for this process; throws when another daemon in this namespace holds it. */
export async function claimWan(wan: string): Promise<Server> {
  const server = createServer((s) => s.end(String(process.pid)));
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ path: name(wan) }, () => resolve());
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    const pid = await holderPid(wan);
    throw new Error(`another tunguard (pid ${pid}) already steers ${wan}; refusing to start a second one`);
  }
  server.unref();
  return server;
}
