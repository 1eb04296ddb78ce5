// A client that once completed a proxied handshake skips the SYN police (the known sets); once the
// dataplane marks it aggressive it must not any more: its address leaves the set while it is marked.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ADDR, Lab, makeTempDir, sleep, startHttpServer, waitFor } from './lab.js';
import { synsFrom } from './syns.js';

let lab: Lab;
const root = makeTempDir('tunguard-www-');

beforeAll(async () => {
  lab = Lab.create();
  writeFileSync(join(root, 'small.bin'), Buffer.alloc(1024, 1));
  await startHttpServer(lab, lab.ns.lan, root, 8080, [ADDR.lan4]);
});

afterEach(async () => {
  await lab?.tunguard?.stop();
});

afterAll(() => {
  lab?.destroy();
});

const known4 = () => lab.run(lab.ns.rtr, 'nft', ['list', 'set', 'inet', 'tunguard', 'known4']);

describe('SYN police and aggressive sources', () => {
  it('takes a known client out of the known set once it is marked aggressive', async () => {
    const conf = join(lab.stateDir, 'police.conf');
    writeFileSync(conf, lab.config("config defense 'syn'\n\toption max_unfinished_per_source '2'\n"));
    await lab.startTunguard(['--config', conf, '--syn-police', '1000'], false).ready();
    const ok = lab.run(lab.ns.wan, 'curl', [
      '-sS',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      `http://${ADDR.lan4}:8080/small.bin`,
    ]);
    expect(ok).toBe('200');
    await waitFor('the client in the known set', () => known4().includes(ADDR.wan4), 5000);
    // The same address now leaves handshakes unfinished (hping's SYNs, spoofing nothing).
    synsFrom(lab, ADDR.wan4, 4);
    await sleep(2500);
    synsFrom(lab, ADDR.wan4, 1);
    await waitFor('the mark', () => lab.tunguard!.output.includes(`aggressive source ${ADDR.wan4}`), 5000);
    await sleep(300);
    expect(known4()).not.toContain(ADDR.wan4);
  }, 60_000);
});
