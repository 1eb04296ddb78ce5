// Registering and deleting the offload guard's conntrack helper (src/netcfg/ct-helper.ts): both
// families or none, the kernel's EBUSY while the police table's object is being freed, and what is
// said when the kernel has no nfnetlink_cthelper. The kernel's side (the helper registers,
// fw4 leaves proxied IPv4 and IPv6 out of its flowtable) is proven in the QEMU guest (cross-build/qemu-test);
// the lab test (test/lab/offload-guard.test.ts) shows this machine's kernel refusing it.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CT_HELPER_NAME,
  ctHelperMissing,
  registerCtHelper,
  removeCtHelper,
} from '../../src/netcfg/ct-helper.js';

type Call = [boolean, string, number, number];

/** An addon whose ctHelper answers from a script of errno names (undefined: success). */
function scripted(answers: (string | undefined)[]) {
  const calls: Call[] = [];
  return {
    calls,
    ctHelper(add: boolean, name: string, family: number, l4: number) {
      calls.push([add, name, family, l4]);
      const code = answers.shift();
      if (code) throw Object.assign(new Error(`nfnetlink cthelper: ${code}`), { code });
    },
  };
}

describe('conntrack helper', () => {
  it('registers the TCP helper for IPv4 and IPv6', () => {
    const a = scripted([]);
    expect(registerCtHelper(a)).toBeUndefined();
    expect(a.calls).toEqual([
      [true, CT_HELPER_NAME, 2, 6],
      [true, CT_HELPER_NAME, 10, 6],
    ]);
    expect(CT_HELPER_NAME.length).toBeLessThan(16); // the kernel's NF_CT_HELPER_NAME_LEN
  });

  it('leaves nothing half registered, and says why', async () => {
    const a = scripted([undefined, 'ENOMEM']);
    expect(registerCtHelper(a)).toBe('nfnetlink cthelper: ENOMEM');
    await new Promise((r) => setTimeout(r, 10));
    expect(a.calls.slice(2)).toEqual([
      [false, CT_HELPER_NAME, 2, 6],
      [false, CT_HELPER_NAME, 10, 6],
    ]);
  });

  it('names the missing module when the kernel has no such subsystem', () => {
    const none = mkdtempSync(join(tmpdir(), 'tg-sysmod-'));
    expect(registerCtHelper(scripted(['EINVAL']), none)).toBe('no nfnetlink_cthelper in this kernel');
    expect(ctHelperMissing('no nfnetlink_cthelper in this kernel', { v4: true, v6: false })).toContain(
      'opkg install kmod-nfnetlink-cthelper',
    );
  });

  it('says what each proxied family keeps without it: IPv4 nothing, IPv6 the ct mark fallback', () => {
    const why = 'no nfnetlink_cthelper in this kernel';
    expect(ctHelperMissing(why, { v4: true, v6: true })).toBe(
      "proxied IPv4 connections are not kept out of flow offloading, and proxied IPv6 ones only while the SYN police's table is there (a ct mark): the kernel refused the conntrack helper (no nfnetlink_cthelper in this kernel; opkg install kmod-nfnetlink-cthelper)",
    );
    expect(ctHelperMissing(why, { v4: true, v6: false })).toMatch(
      /^proxied IPv4 connections are not kept out of flow offloading: the kernel refused/,
    );
    expect(ctHelperMissing(why, { v4: false, v6: true })).toMatch(
      /^proxied IPv6 connections only while the SYN police's table is there \(a ct mark\): the kernel refused/,
    );
  });

  it('deletes both families, retrying while the kernel still holds it', async () => {
    const a = scripted(['EBUSY', 'EBUSY', undefined, 'ENOENT']);
    expect(await removeCtHelper(a)).toBe(true);
    expect(a.calls.map((c) => c[2])).toEqual([2, 2, 2, 10]);
    expect(a.calls.every((c) => c[0] === false)).toBe(true);
  });

  it('reports a helper it could not delete', async () => {
    expect(await removeCtHelper(scripted(['EBUSY', 'EBUSY', 'EBUSY']), 3)).toBe(false);
    expect(await removeCtHelper(scripted(['EPERM']))).toBe(false);
  });
});
