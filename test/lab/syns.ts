// Bounded SYN sources for the lab, all from the wan namespace to the LAN host's port 8080.
import { ADDR, type Lab } from './lab.js';

/**
 * `count` SYNs from the spoofed source `src` (hping3 changes the source port every time), 20 ms
 * apart. hping3 exits 1 when nothing answers (as for a dropped source): its exit code says nothing.
 */
export function synsFrom(lab: Lab, src: string, count: number) {
  return lab.exec(
    lab.ns.wan,
    'hping3',
    ['-q', '-S', '-a', src, '-p', '8080', '-c', String(count), '-i', 'u20000', ADDR.lan4],
    30_000,
  );
}

/** Five SYNs from each of the 50 sources 198.51.100.<from..from+49> at once (below the aggressive mark). */
export function synBurst(lab: Lab, from: number) {
  return lab.execAsync(
    lab.ns.wan,
    'sh',
    [
      '-c',
      `for i in $(seq ${from} ${from + 49}); do hping3 -q -S -a 198.51.100.$i -p 8080 -c 5 -i u2000 ${ADDR.lan4} 2>/dev/null & done; wait; true`,
    ],
    20_000,
  );
}
