// The opkg feed of `npm run build:openwrt` as a stock OpenWrt opkg (check_signature on) takes it:
// Packages.sig in usign's format over the uncompressed Packages, the public key beside it for
// `opkg-key add`, checked by Debian's signify-openbsd (OpenBSD's signify: the same Ed25519 records
// usign reads and writes); and one package per OpenWrt 24.10 architecture name the binaries run on.
// cross-build/usign.mjs (Node's Ed25519) is run through its command line, as the build runs it.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../lab/lab.js';
import { BUILD_TIMEOUT_MS, builtPackages, OUT, runBuild, TARGETS } from './openwrt.js';

const SIGNIFY = 'signify-openbsd';
const USIGN = join(REPO_ROOT, 'cross-build', 'usign.mjs');
const SIGN_FEED = join(REPO_ROOT, 'cross-build', 'sign-feed.mjs');
const work = mkdtempSync(join(tmpdir(), 'tunguard-feed-'));

beforeAll(() => {
  if (spawnSync('sh', ['-c', `command -v ${SIGNIFY}`]).status !== 0)
    throw new Error(`${SIGNIFY} is missing (apt-get install -y signify-openbsd)`);
  runBuild();
}, BUILD_TIMEOUT_MS);

afterAll(() => rmSync(work, { recursive: true, force: true }));

const run = (cmd: string, args: string[]) => spawnSync(cmd, args, { encoding: 'utf8', timeout: 20_000 });
const usign = (...args: string[]) => run('node', [USIGN, ...args]);
const signifyVerify = (pub: string, msg: string, sig: string) =>
  run(SIGNIFY, ['-V', '-p', pub, '-m', msg, '-x', sig]);
const w = (name: string) => join(work, name);

/** The record of a usign/signify file (second line, base64), decoded here independently of usign.mjs. */
const record = (file: string) => Buffer.from(readFileSync(file, 'utf8').split('\n')[1], 'base64');

describe('usign files by cross-build/usign.mjs, checked by signify-openbsd', () => {
  it('a key it makes signs what signify verifies; a changed message or another key fails', () => {
    expect(usign('-G', '-s', w('a.sec'), '-p', w('a.pub')).status).toBe(0);
    expect(usign('-G', '-s', w('b.sec'), '-p', w('b.pub')).status).toBe(0);
    writeFileSync(w('msg'), 'Package: tunguard\nVersion: 0.1.0-r1\n');
    const signed = usign('-S', '-m', w('msg'), '-s', w('a.sec'));
    expect(signed.stderr).toBe('');
    const ok = signifyVerify(w('a.pub'), w('msg'), w('msg.sig'));
    expect(ok.stdout + ok.stderr).toContain('Signature Verified');
    expect(ok.status).toBe(0);
    // Controls: one changed byte; the right message under another key's public half.
    writeFileSync(w('msg2'), 'Package: tunguard\nVersion: 0.1.0-r2\n');
    expect(signifyVerify(w('a.pub'), w('msg2'), w('msg.sig')).status).not.toBe(0);
    expect(signifyVerify(w('b.pub'), w('msg'), w('msg.sig')).status).not.toBe(0);
    // The records' sizes and layout (usign's main.c): "Ed" | fingerprint | …
    expect([record(w('a.pub')).length, record(w('a.sec')).length, record(w('msg.sig')).length]).toEqual([
      42, 104, 74,
    ]);
    expect(
      record(w('msg.sig'))
        .subarray(2, 10)
        .equals(record(w('a.pub')).subarray(2, 10)),
    ).toBe(true);
    expect(readFileSync(w('msg.sig'), 'utf8')).toMatch(/^untrusted comment: signed by key [0-9a-f]{16}\n/);
  });

  it("signs with a secret key signify made (the format is shared both ways), and prints usign -F's fingerprint", () => {
    const gen = run(SIGNIFY, ['-G', '-n', '-p', w('s.pub'), '-s', w('s.sec')]);
    expect(gen.status, gen.stderr).toBe(0);
    writeFileSync(w('m'), 'x'.repeat(1000));
    expect(usign('-S', '-m', w('m'), '-s', w('s.sec')).status).toBe(0);
    expect(signifyVerify(w('s.pub'), w('m'), w('m.sig')).status).toBe(0);
    const fp = usign('-F', '-p', w('s.pub'));
    expect(fp.stdout.trim()).toBe(record(w('s.pub')).subarray(2, 10).toString('hex'));
  });

  it('refuses damaged or passphrase-protected secret keys, with the reason', () => {
    writeFileSync(w('msg3'), 'data');
    const [comment, b64] = readFileSync(w('a.sec'), 'utf8').split('\n');
    const bytes = Buffer.from(b64, 'base64');
    const variant = (name: string, edit: (b: Buffer) => Buffer) => {
      writeFileSync(w(name), `${comment}\n${edit(Buffer.from(bytes)).toString('base64')}\n`, { mode: 0o600 });
      return usign('-S', '-m', w('msg3'), '-s', w(name), '-x', w(`${name}.sig`));
    };
    const flipped = variant('flip.sec', (b) => {
      b[b.length - 40] ^= 1; // inside the secret half: the checksum no longer matches
      return b;
    });
    expect(flipped.status).toBe(1);
    expect(flipped.stderr).toContain('checksum mismatch');
    const rounds = variant('kdf.sec', (b) => {
      b.writeUInt32BE(42, 4);
      return b;
    });
    expect(rounds.status).toBe(1);
    expect(rounds.stderr).toContain('passphrase-protected');
    const short = variant('short.sec', (b) => b.subarray(0, 100));
    expect(short.stderr).toContain('100 bytes, a usign secret record has 104');
    writeFileSync(w('text.sec'), 'not a key\n');
    expect(usign('-S', '-m', w('msg3'), '-s', w('text.sec')).stderr).toContain(
      "no 'untrusted comment:' line",
    );
    // The control: the unedited key signs.
    expect(variant('same.sec', (b) => b).status).toBe(0);
  });
});

describe('the feed', () => {
  it("Packages.sig verifies Packages with the shipped key (signify-openbsd); a changed index doesn't", () => {
    const pub = join(OUT, 'tunguard-feed.pub');
    const ok = signifyVerify(pub, join(OUT, 'Packages'), join(OUT, 'Packages.sig'));
    expect(ok.stdout + ok.stderr).toContain('Signature Verified');
    const changed = w('Packages');
    writeFileSync(
      changed,
      // One hex digit of the first checksum changed (to another digit: a fixed '0' left an index
      // whose checksum began with 0 unchanged, 1 build in 16).
      readFileSync(join(OUT, 'Packages'), 'utf8').replace(
        /SHA256sum: (.)/,
        (_, d: string) => `SHA256sum: ${d === '0' ? '1' : '0'}`,
      ),
    );
    expect(signifyVerify(pub, changed, join(OUT, 'Packages.sig')).status).not.toBe(0);
  });

  it('Packages avoids the lengths old usign (before 2019) failed to verify, as the buildroot pads', () => {
    const len = readFileSync(join(OUT, 'Packages')).length;
    expect([110, 111]).not.toContain((64 + len) % 128);
  });

  it("opkg-key add's file name is the key the signature names (usign -V -P /etc/opkg/keys finds it)", () => {
    const pub = record(join(OUT, 'tunguard-feed.pub'));
    const sig = record(join(OUT, 'Packages.sig'));
    const fp = pub.subarray(2, 10).toString('hex');
    expect(sig.subarray(2, 10).toString('hex')).toBe(fp);
    expect(usign('-F', '-p', join(OUT, 'tunguard-feed.pub')).stdout.trim()).toBe(fp);
    expect(readFileSync(join(OUT, 'Packages.sig'), 'utf8').split('\n')[0]).toBe(
      `untrusted comment: signed by key ${fp}`,
    );
  });

  it('the signing key: a key file others can read, or a symlink, is refused', () => {
    const feed = mkdtempSync(join(work, 'feed-'));
    writeFileSync(join(feed, 'Packages'), 'Package: x\n');
    const key = join(feed, 'k.sec');
    expect(usign('-G', '-s', key, '-p', join(feed, 'k.pub')).status).toBe(0);
    chmodSync(key, 0o640);
    const open = run('node', [SIGN_FEED, '--feed', feed, '--key', key]);
    expect(open.status).toBe(1);
    expect(open.stderr).toContain('mode 640 lets others read');
    chmodSync(key, 0o600);
    symlinkSync(key, join(feed, 'link.sec'));
    const link = run('node', [SIGN_FEED, '--feed', feed, '--key', join(feed, 'link.sec')]);
    expect(link.status).toBe(1);
    expect(link.stderr).toMatch(/ELOOP|symbolic link/);
    // The control: the same key, as itself, signs.
    expect(run('node', [SIGN_FEED, '--feed', feed, '--key', key]).status).toBe(0);
    expect(
      signifyVerify(join(feed, 'tunguard-feed.pub'), join(feed, 'Packages'), join(feed, 'Packages.sig'))
        .status,
    ).toBe(0);
  });

  it('one tunguard package per OpenWrt 24.10 architecture name the three builds run on', () => {
    // ARMv8-A (any core), ARMv7-A with VFPv3-D16 or more and hard-float, x86-64: opkg accepts only
    // the names in `opkg print-architecture`, so each name is its own package of the same build.
    const expected: Record<string, string[]> = {
      aarch64: ['aarch64_cortex-a53', 'aarch64_cortex-a72', 'aarch64_cortex-a76', 'aarch64_generic'],
      arm: [
        'arm_cortex-a15_neon-vfpv4',
        'arm_cortex-a5_vfpv4',
        'arm_cortex-a7_neon-vfpv4',
        'arm_cortex-a7_vfpv4',
        'arm_cortex-a8_vfpv3',
        'arm_cortex-a9_neon',
        'arm_cortex-a9_vfpv3-d16',
      ],
      x86_64: ['x86_64'],
    };
    for (const [target, archs] of Object.entries(expected))
      expect(
        TARGETS.packages
          .filter((p) => p.target === target)
          .map((p) => p.arch)
          .sort(),
      ).toEqual(archs);
    const index = readFileSync(join(OUT, 'Packages'), 'utf8');
    const inIndex = [...index.matchAll(/^Package: tunguard\n[\s\S]*?^Architecture: (\S+)$/gm)].map(
      (m) => m[1],
    );
    expect(inIndex.sort()).toEqual(Object.values(expected).flat().sort());
    const sizes = (archs: string[]) =>
      new Set(
        builtPackages()
          .packages.filter((p) => p.package === 'tunguard' && archs.includes(p.arch))
          .map((p) => p.installedSize),
      );
    // Same build under every name of a CPU: the same installed size.
    for (const archs of Object.values(expected)) expect(sizes(archs).size).toBe(1);
  });
});
