// The record sets as rules: validation, lookup order environment → threat → combined, the send rule, JSON import/export.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findRemedies, type HostFacts } from '../../src/remediation/match.js';
import { ProgramStore } from '../../src/remediation/programs.js';
import { planRemedy, RemedyError } from '../../src/remediation/remedy.js';
import { parseRule, type Rule, RuleError } from '../../src/remediation/rules.js';
import { RulesStore } from '../../src/remediation/rules-store.js';
import { type DurableStore, openDurable } from '../../src/state/durable.js';

const SYS = '/opt/app/drivers';
/** Environment, threat and combined records, written as rules. */
const SEED: unknown[] = [
  {
    kind: 'environment',
    id: 'R1',
    environment: {
      osType: 'Windows',
      osVersions: ['Windows XP'],
      software: 'QQ',
      softwareVersions: ['QQ4', 'QQ5'],
    },
    remedy: {
      programs: [{ id: 'Win11', location: '/patch/win-2013-0098.msi', platform: 'windows' }],
      fileOps: [{ name: 'Crazy.bat', location: SYS, op: 'delete' }],
    },
  },
  {
    kind: 'environment',
    id: 'R2',
    environment: { osType: 'Windows', osVersions: ['Windows XP', 'Windows 7'] },
    remedy: {
      programs: [{ id: 'Win12', location: '/patch/win-1999-0016.msi' }],
      fileOps: [{ name: 'iessetup.exe', location: SYS, op: 'delete' }],
    },
  },
  {
    kind: 'threat',
    id: 'R12',
    threat: { type: 'vulnerability', id: 'CVE-1999-0016' },
    remedy: {
      programs: [{ id: 'Win12', location: '/patch/win-1999-0016.msi' }],
      fileOps: [{ name: 'iessetup.exe', location: SYS, op: 'delete' }],
    },
  },
  {
    kind: 'threat',
    id: 'R13',
    threat: { type: 'trojan', id: 'script-3221' },
    remedy: {
      programs: [
        { id: 'Win13', location: '/script/script-clean-3221.msi', platform: 'windows' },
        { id: 'Linux13', location: '/script/script-clean-3221.bin', platform: 'linux' },
      ],
      fileOps: [{ name: 'movie.exe', location: SYS, op: 'delete' }],
    },
  },
  {
    kind: 'threat',
    id: 'R14',
    threat: { type: 'vulnerability', id: 'cve-2013-0098' },
    remedy: {
      programs: [{ id: 'Win14', location: '/patch/win-2013-0098.msi' }],
      fileOps: [{ name: 'Shade.bat', location: SYS, op: 'delete' }],
    },
  },
  {
    kind: 'combined',
    id: 'R31',
    environment: {
      osType: 'Windows',
      osVersions: ['Windows7'],
      software: 'Reader',
      softwareVersions: ['Reader5.0'],
    },
    threat: { type: 'vulnerability' },
    remedy: { fileOps: [{ name: 'Pds.exe', location: '/opt/Magic_Printer', op: 'delete' }] },
  },
  {
    kind: 'combined',
    id: 'R32',
    environment: { osType: 'Windows' },
    threat: { type: 'worm', id: 'Bot-4162' },
    remedy: { fileOps: [{ name: 'killram.exe', location: '/opt/Botnet', op: 'delete' }] },
  },
];

let tmp: string;
let store: DurableStore;
let rules: Rule[];
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'tg-rules-'));
  store = openDurable(join(tmp, 'db'));
  rules = SEED.map(parseRule);
});
afterAll(async () => {
  await store.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** A host: Windows XP, QQ4, vulnerable to CVE-2013-0098. */
const host1: HostFacts = {
  hostId: 'h1',
  os: [{ name: 'Windows XP', family: 'Windows', vendor: 'Microsoft', confidence: 95 }],
  software: [{ product: 'QQ', version: 'QQ4' }],
  threats: [{ key: 'CVE-2013-0098', type: 'vulnerability', possible: false }],
};

describe('rule validation', () => {
  it('accepts the example records', () => {
    expect(rules.map((r) => r.id)).toEqual(['R1', 'R2', 'R12', 'R13', 'R14', 'R31', 'R32']);
    expect(rules[0].enabled).toBe(true);
  });

  it('refuses bad rules with a reason', () => {
    const base = {
      kind: 'environment',
      id: 'X',
      remedy: { fileOps: [{ name: 'a', location: '/x', op: 'delete' }] },
    };
    expect(() => parseRule({ ...base, environment: {} })).toThrow(
      /at environment: environment needs at least one field/,
    );
    expect(() => parseRule({ ...base, environment: { osType: 'Linux' }, remedy: {} })).toThrow(
      /a remedy needs a program or a file operation/,
    );
    expect(() => parseRule({ ...base, kind: 'threat', threat: {} })).toThrow(/threat needs a type or an id/);
    expect(() =>
      parseRule({
        ...base,
        environment: { osType: 'L' },
        remedy: { fileOps: [{ name: 'a;b', location: '/x', op: 'delete' }] },
      }),
    ).toThrow(/file name has characters/);
    expect(() =>
      parseRule({
        ...base,
        environment: { osType: 'L' },
        remedy: { fileOps: [{ name: 'a', location: '/x', op: 'chmod' }] },
      }),
    ).toThrow(/chmod needs a mode/);
    expect(() => parseRule({ ...base, kind: 'shell', environment: { osType: 'L' } })).toThrow(RuleError);
  });
});

describe('lookup', () => {
  it('searches environment, then threat, then combined rules (ordered)', () => {
    const worm: HostFacts = {
      ...host1,
      threats: [
        ...host1.threats,
        { key: 'MALWARE:worm:bot-4162', type: 'malware', kind: 'worm', name: 'Bot-4162', possible: false },
      ],
    };
    const hits = findRemedies(worm, rules, 'ordered');
    expect(hits.map((h) => `${h.set}:${h.rule.id}`)).toEqual(['FIG4:R1', 'FIG4:R2', 'FIG5:R14', 'FIG6:R32']);
    expect(hits[2].threats).toEqual(['CVE-2013-0098']);
  });

  it('stops at the first record set with a hit, and falls through when a set has none', () => {
    expect(findRemedies(host1, rules, 'first-hit').map((h) => h.rule.id)).toEqual(['R1', 'R2']);
    const linux: HostFacts = {
      hostId: 'h2',
      os: [{ family: 'Linux', confidence: 90 }],
      software: [],
      threats: host1.threats,
    };
    expect(findRemedies(linux, rules, 'first-hit').map((h) => h.rule.id)).toEqual(['R14']);
  });

  it('searches all sets at once by priority (simultaneous)', () => {
    const prio = rules.map((r) => (r.id === 'R14' ? { ...r, priority: 1 } : r));
    expect(findRemedies(host1, prio, 'simultaneous').map((h) => h.rule.id)).toEqual(['R14', 'R1', 'R2']);
  });

  it('needs both halves of a combined rule, skips disabled rules and unconfirmed CVEs', () => {
    const reader: HostFacts = {
      hostId: 'h3',
      os: [{ family: 'Windows', version: '7', name: 'Microsoft Windows 7', confidence: 90 }],
      software: [{ product: 'Reader', version: 'Reader5.0' }],
      threats: [],
    };
    expect(findRemedies(reader, rules).map((h) => h.rule.id)).toEqual(['R2']);
    const withVuln = {
      ...reader,
      threats: [{ key: 'CVE-2020-1', type: 'vulnerability' as const, possible: false }],
    };
    expect(findRemedies(withVuln, rules).map((h) => h.rule.id)).toEqual(['R2', 'R31']);
    const possible = {
      ...reader,
      threats: [{ key: 'CVE-2020-1', type: 'vulnerability' as const, possible: true }],
    };
    expect(findRemedies(possible, rules).map((h) => h.rule.id)).toEqual(['R2']);
    expect(
      findRemedies(
        host1,
        rules.map((r) => ({ ...r, enabled: false })),
      ),
    ).toEqual([]);
  });

  it('matches software by version range, and an incomparable version does not match', () => {
    const r = parseRule({
      kind: 'environment',
      id: 'ng',
      environment: { software: 'f5:nginx', softwareRange: { versionEndExcluding: '1.20.1' } },
      remedy: { fileOps: [{ name: 'x', location: '/x', op: 'delete' }] },
    });
    const f = (version: string): HostFacts => ({
      hostId: 'n',
      os: [],
      software: [{ product: 'nginx', version, cpe: `cpe:2.3:a:f5:nginx:${version}:*:*:*:*:*:*:*` }],
      threats: [],
    });
    expect(findRemedies(f('1.18.0'), [r])).toHaveLength(1);
    expect(findRemedies(f('1.20.1'), [r])).toHaveLength(0);
    expect(findRemedies(f('custom'), [r])).toHaveLength(0);
  });
});

describe('remedy planning (send the program when there is one, else the file operation)', () => {
  it('sends the stored program, pinned, for the host platform', async () => {
    const programs = new ProgramStore(store);
    const bin = Buffer.from('#!/bin/sh\necho clean\n');
    const info = await programs.put({
      id: 'Linux13',
      location: '/script/script-clean-3221.bin',
      platform: 'linux',
      content: bin,
    });
    const r13 = rules.find((r) => r.id === 'R13')!;
    const plan = planRemedy(r13.remedy, 'linux', programs);
    expect(plan.type).toBe('program');
    expect(plan.actions[0]).toMatchObject({
      action: 'program.run',
      programId: 'Linux13',
      sha256: info.sha256,
    });
    // No Windows program stored: the file operation goes instead.
    const win = planRemedy(r13.remedy, 'windows', programs);
    expect(win).toEqual({
      type: 'file-op',
      actions: [{ action: 'file.delete', location: SYS, name: 'movie.exe' }],
    });
    expect(() => planRemedy(r13.remedy, 'windows', programs, 'program')).toThrow(RemedyError);
    expect(() => planRemedy(r13.remedy, 'windows', programs, 'reference')).toThrow(/no pinned program/);
  });
});

describe('rule store', () => {
  it('creates, updates, deletes and round-trips JSON', async () => {
    const rs = new RulesStore(store);
    for (const r of SEED) await rs.create(r);
    await expect(rs.create(SEED[0])).rejects.toThrow(/exists/);
    const upd = await rs.update('R2', { ...(SEED[1] as object), name: 'XP and 7', id: 'ignored' });
    expect(upd).toMatchObject({ id: 'R2', name: 'XP and 7' });
    const json = await rs.exportJson();
    expect(await rs.remove('R32')).toBe(true);
    expect(rs.list()).toHaveLength(6);
    expect(await rs.importJson(json, { replace: true })).toEqual({ imported: 7, removed: 0 });
    expect(
      rs
        .list()
        .map((r) => r.id)
        .sort(),
    ).toEqual(['R1', 'R12', 'R13', 'R14', 'R2', 'R31', 'R32']);
  });

  it('imports all or nothing', async () => {
    const rs = new RulesStore(store);
    const before = rs.exportJson();
    const bad = JSON.stringify({ version: 1, rules: [SEED[0], { kind: 'threat', id: 'bad', remedy: {} }] });
    await expect(rs.importJson(bad, { replace: true })).rejects.toThrow(/invalid rule file at rules.1/);
    await expect(rs.importJson('{nope')).rejects.toThrow(/not JSON/);
    expect(rs.exportJson()).toBe(before);
  });
});
