// The daemon with only the capabilities procd gives it (openwrt/files/tunguard.capabilities.json),
// no_new_privs and nothing inheritable: it steers, proxies and serves the API, and /proc shows it and
// its children holding nothing more. Negative control: without CAP_NET_ADMIN it stops at once and says
// which capability is missing. (The whole suites run this way too: TUNGUARD_LAB_CAPS, see lab.ts.)
// nmap, which parses what scanned hosts answer, is caught while it runs: CAP_NET_RAW only, and its
// -sV -O scan still finds the service; control: a daemon without CAP_SETPCAP cannot narrow it.

import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CAP } from '../../src/cli/privileges.js';
import { ADDR, Lab, makeTempDir, REPO_ROOT, startHttpServer, type TunguardProcess, waitFor } from './lab.js';
import { NGINX_LIKE_JS } from './scan.js';

const CAPS_FILE = join(REPO_ROOT, 'openwrt/files/tunguard.capabilities.json');
const capsJson = JSON.parse(readFileSync(CAPS_FILE, 'utf8')) as Record<string, string[]>;
/** setpriv's names: CAP_NET_ADMIN → net_admin. */
const granted = capsJson.bounding.map((c) => c.replace(/^CAP_/, '').toLowerCase());
const mask = capsJson.bounding.reduce(
  (m, c) => m | (1n << BigInt(CAP[c.replace(/^CAP_/, '') as keyof typeof CAP])),
  0n,
);

let lab: Lab;
const www = makeTempDir('tunguard-www-');
let sha = '';

/** The capability lines of /proc/<pid>/status. */
interface ProcCaps {
  CapEff: bigint;
  CapPrm: bigint;
  CapBnd: bigint;
  CapInh: bigint;
  CapAmb: bigint;
  NoNewPrivs: number;
}

function caps(pid: number): ProcCaps {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => new RegExp(`^${name}:\\s*(\\S+)$`, 'm').exec(text)?.[1] ?? '';
  return {
    CapEff: BigInt(`0x${field('CapEff')}`),
    CapPrm: BigInt(`0x${field('CapPrm')}`),
    CapBnd: BigInt(`0x${field('CapBnd')}`),
    CapInh: BigInt(`0x${field('CapInh')}`),
    CapAmb: BigInt(`0x${field('CapAmb')}`),
    NoNewPrivs: Number(field('NoNewPrivs')),
  };
}

/** Every process below `pid` (its children, theirs, ...). */
function descendants(pid: number): number[] {
  const out: number[] = [];
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    let kids = '';
    try {
      kids = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8');
    } catch {}
    for (const k of kids.split(' ').filter(Boolean).map(Number)) out.push(k, ...descendants(k));
  }
  return out;
}

beforeAll(async () => {
  lab = Lab.create();
  const data = randomBytes(4 << 20);
  writeFileSync(join(www, 'f.bin'), data);
  sha = createHash('sha256').update(data).digest('hex');
  await startHttpServer(lab, lab.ns.lan, www, 8080, [ADDR.lan4]);
});

afterAll(async () => {
  await lab?.tunguard?.stop();
  lab?.destroy();
});

describe('the daemon with only the capabilities of its procd file', () => {
  it('asks for exactly NET_ADMIN, NET_RAW, BPF, PERFMON and SETPCAP, none inheritable or ambient', () => {
    expect([...granted].sort()).toEqual(['bpf', 'net_admin', 'net_raw', 'perfmon', 'setpcap']);
    expect(capsJson.effective.sort()).toEqual(capsJson.bounding.sort());
    expect(capsJson.inheritable).toEqual([]);
    expect(capsJson.ambient).toEqual([]);
  });

  it('steers, proxies a download during a SYN flood and serves the API, holding nothing more', async () => {
    const tg = lab.startTunguard(['--config', writeConfig()], true, undefined, granted);
    try {
      await checkRunning(tg);
    } finally {
      await tg.stop();
    }
  });

  it('negative control: without CAP_NET_ADMIN it stops at once and names the capability', async () => {
    const tg = lab.startTunguard(
      ['--config', writeConfig()],
      true,
      undefined,
      granted.filter((c) => c !== 'net_admin'),
    );
    await expect(tg.ready()).rejects.toThrow(/exited \(1\)/);
    expect(tg.output).toMatch(/missing capability CAP_NET_ADMIN \(the TUN device, routes, nft/);
    // Nothing was set up: no TUN device was left behind.
    expect(lab.exec(lab.ns.rtr, 'ip', ['link', 'show', 'tg0']).code).not.toBe(0);
  });
});

function writeConfig(): string {
  const path = join(lab.stateDir, 'tunguard.conf');
  writeFileSync(path, lab.config());
  return path;
}

/** What a daemon started with `granted` only must show: its capabilities, children, proxy and API. */
async function checkRunning(tg: TunguardProcess): Promise<void> {
  await tg.ready();
  expect(caps(tg.pid)).toMatchObject({
    CapEff: mask,
    CapPrm: mask,
    CapBnd: mask,
    CapInh: 0n,
    CapAmb: 0n,
    NoNewPrivs: 1,
  });
  expect(tg.output).toContain(
    'privileges: capabilities SETPCAP, NET_ADMIN, NET_RAW, PERFMON, BPF; no_new_privs on',
  );
  // Its children (nft -i for the SYN police, ...) hold no more than it does.
  const kids = descendants(tg.pid);
  expect(kids.length).toBeGreaterThan(0);
  for (const k of kids) expect(caps(k).CapEff & ~mask).toBe(0n);

  // A SYN flood from random spoofed sources while a real client downloads through the proxy.
  const flood = lab.execAsync(lab.ns.wan, 'timeout', [
    '4',
    'hping3',
    '-S',
    '-p',
    '8080',
    '--flood',
    '--rand-source',
    ADDR.lan4,
  ]);
  const got = lab.exec(lab.ns.wan, 'sh', [
    '-c',
    `curl -sS --fail --max-time 30 http://${ADDR.lan4}:8080/f.bin | sha256sum`,
  ]);
  await flood;
  expect(got.stdout.split(' ')[0]).toBe(sha);
  const token = readFileSync(join(lab.stateDir, 'api.token'), 'utf8').trim();
  const status = lab.api(token, 'GET', 'http://127.0.0.1:7447/api/v1/status');
  expect(status.status).toBe(200);
  const s = status.json as { counters: Record<string, number>; drops: Record<string, number> };
  expect(s.counters.tcp).toBeGreaterThan(1000); // the flood went through the daemon
}

describe('nmap with the least it needs', () => {
  const WEB_PORT = 8081;
  const raw = 1n << BigInt(CAP.NET_RAW);

  beforeAll(async () => {
    const web = lab.spawn(lab.ns.lan, process.execPath, ['-e', NGINX_LIKE_JS, ADDR.lan4, String(WEB_PORT)]);
    let out = '';
    web.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    await waitFor('the web service', () => out.includes('listening'));
  });

  /** Starts the daemon with `held` and a detection round 5 s after start (a real nmap -sV -O of the
   *  LAN host); returns nmap's /proc capabilities, caught while it ran, and the daemon's output. */
  async function scanWith(held: string[]): Promise<{ nmap: ProcCaps; output: string; software: string[][] }> {
    const conf = join(lab.stateDir, 'tunguard.conf');
    writeFileSync(
      conf,
      lab.config(
        `\nconfig detect 'detect'\n\toption enabled '1'\n\tlist protected_host '${ADDR.lan4}'\n` +
          `\toption interval '3600'\n\toption scan_ports '${WEB_PORT},22'\n\toption scan_timeout '60'\n`,
      ),
    );
    const tg = lab.startTunguard(['--config', conf], true, undefined, held);
    try {
      await tg.ready();
      let nmap: ProcCaps | undefined;
      await waitFor(
        'nmap running under the daemon',
        () => {
          for (const k of descendants(tg.pid)) {
            try {
              if (readFileSync(`/proc/${k}/comm`, 'utf8').trim() === 'nmap') nmap = caps(k);
            } catch {}
          }
          return nmap !== undefined;
        },
        30_000,
      );
      await waitFor('the round', () => /detect: checked/.test(tg.output), 90_000);
      const token = readFileSync(join(lab.stateDir, 'api.token'), 'utf8').trim();
      const host = lab.api(token, 'GET', `http://127.0.0.1:7447/api/v1/remediation/hosts/${ADDR.lan4}`).json
        .host as { software: { product: string; version: string; port: number }[] };
      const software = host.software.map((s) => [s.product, s.version, String(s.port)]);
      return { nmap: nmap as ProcCaps, output: tg.output, software };
    } finally {
      await tg.stop();
    }
  }

  it('runs nmap with CAP_NET_RAW only, and the scan still finds the service', async () => {
    const r = await scanWith(granted);
    expect(r.output).toContain('privileges: nmap runs with CAP_NET_RAW only (capsh)');
    expect(r.nmap).toEqual({ CapEff: raw, CapPrm: raw, CapBnd: raw, CapInh: 0n, CapAmb: 0n, NoNewPrivs: 1 });
    expect(r.output).toMatch(/detect: checked 1 host\(s\); scanned 1;/);
    expect(r.software).toContainEqual(['nginx', '1.18.0', String(WEB_PORT)]);
  }, 150_000);

  it("negative control: a daemon without CAP_SETPCAP says so, and its nmap holds the daemon's four", async () => {
    const four = granted.filter((c) => c !== 'setpcap');
    const r = await scanWith(four);
    expect(r.output).toContain("privileges: nmap would run with the daemon's capabilities (no CAP_SETPCAP)");
    const fourMask = mask & ~(1n << BigInt(CAP.SETPCAP));
    expect(r.nmap.CapEff).toBe(fourMask);
    expect(r.nmap.CapBnd).toBe(fourMask);
    expect(r.software).toContainEqual(['nginx', '1.18.0', String(WEB_PORT)]);
  }, 150_000);
});
