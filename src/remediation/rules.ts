// The three record sets as one validated rule type: environment, threat, and both combined.

import * as v from 'valibot';
import { MALWARE_KINDS } from '../inventory/threat.js';

const Text = v.pipe(v.string(), v.trim(), v.minLength(1), v.maxLength(256));
const Version = v.pipe(v.string(), v.trim(), v.minLength(1), v.maxLength(64));

export const RangeSchema = v.pipe(
  v.strictObject({
    versionStartIncluding: v.optional(Version),
    versionStartExcluding: v.optional(Version),
    versionEndIncluding: v.optional(Version),
    versionEndExcluding: v.optional(Version),
  }),
  v.check((r) => Object.keys(r).length > 0, 'a version range needs at least one bound'),
  // What the check says, for the API document (JSON Schema keywords).
  v.metadata({ minProperties: 1 }),
);

/** Network environment data: OS identity and version, software identity and version. */
export const EnvironmentSchema = v.pipe(
  v.strictObject({
    /** "Windows", "Linux": the OS family or vendor. */
    osType: v.optional(Text),
    /** Any of these OS versions ("Windows XP", "Windows 7"). */
    osVersions: v.optional(v.pipe(v.array(Text), v.minLength(1), v.maxLength(64))),
    /** A product name ("QQ", "nginx") or a CPE vendor:product ("f5:nginx"). */
    software: v.optional(Text),
    /** Any of these exact versions ("QQ4", "QQ5"). */
    softwareVersions: v.optional(v.pipe(v.array(Version), v.minLength(1), v.maxLength(256))),
    /** Or a version range, compared like NVD's (incomparable = no match). */
    softwareRange: v.optional(RangeSchema),
  }),
  v.check(
    (e) => Object.keys(e).length > 0,
    'environment needs at least one field (an empty one would match every host)',
  ),
  v.check(
    (e) => !(e.softwareVersions || e.softwareRange) || Boolean(e.software),
    'software versions need software',
  ),
  v.metadata({ minProperties: 1 }),
  v.description('network environment data: OS and software identity and version; versions need software'),
);
export type Environment = v.InferOutput<typeof EnvironmentSchema>;

export const THREAT_TYPES = ['vulnerability', 'malware', 'finding', ...MALWARE_KINDS] as const;

/** Threat detection data: a threat type and/or a threat identifier. */
export const ThreatCriteriaSchema = v.pipe(
  v.strictObject({
    type: v.optional(v.picklist(THREAT_TYPES)),
    /** CVE / BUGTRAQ / CNCVE / CNNVD id, or a malicious program's name ("Bot-4162"). */
    id: v.optional(Text),
    /** Also match CVEs only "possibly" present (distro builds may carry backported fixes). */
    includePossible: v.optional(v.boolean(), false),
  }),
  v.check((t) => t.type !== undefined || t.id !== undefined, 'threat needs a type or an id'),
  v.metadata({ anyOf: [{ required: ['type'] }, { required: ['id'] }] }),
  v.description('threat detection data: a type and/or an id (CVE…, BUGTRAQ…, a program name)'),
);
export type ThreatCriteria = v.InferOutput<typeof ThreatCriteriaSchema>;

const SafeFileName = v.pipe(
  v.string(),
  v.regex(/^[A-Za-z0-9._+@-]+$/, 'file name has characters outside the allowed set'),
);

/** Seed type 1 (identifier + storage location) and, when the router stores the bytes, type 2. */
export const ProgramRefSchema = v.strictObject({
  id: v.pipe(v.string(), v.regex(/^[A-Za-z0-9._-]{1,128}$/, 'program id: letters, digits, . _ -')),
  location: Text,
  platform: v.optional(v.picklist(['any', 'linux', 'windows', 'macos']), 'any'),
  /** Pin for a program the host stores itself (type 1); the router's own copies are pinned when stored. */
  sha256: v.optional(v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/))),
  args: v.optional(v.pipe(v.array(v.pipe(v.string(), v.maxLength(1024))), v.maxLength(64)), []),
  timeoutMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(100), v.maxValue(3_600_000)), 60_000),
});
export type ProgramRef = v.InferOutput<typeof ProgramRefSchema>;

/** Seed type 3: file identifier, storage location, operator. */
export const FileOpSchema = v.pipe(
  v.strictObject({
    name: SafeFileName,
    location: Text,
    op: v.picklist(['delete', 'quarantine', 'restore', 'chmod']),
    mode: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(0o777))),
    quarantineId: v.optional(v.pipe(v.string(), v.regex(/^[0-9a-f]{32}$/))),
  }),
  v.check((f) => f.op !== 'chmod' || f.mode !== undefined, 'chmod needs a mode'),
  v.check((f) => f.op !== 'restore' || f.quarantineId !== undefined, 'restore needs the quarantine id'),
);
export type FileOp = v.InferOutput<typeof FileOpSchema>;

export const RemedySchema = v.pipe(
  v.strictObject({
    programs: v.optional(v.pipe(v.array(ProgramRefSchema), v.maxLength(16)), []),
    fileOps: v.optional(v.pipe(v.array(FileOpSchema), v.maxLength(64)), []),
  }),
  v.check((r) => r.programs.length + r.fileOps.length > 0, 'a remedy needs a program or a file operation'),
);
export type Remedy = v.InferOutput<typeof RemedySchema>;

const Common = {
  id: v.pipe(v.string(), v.regex(/^[A-Za-z0-9._-]{1,64}$/, 'rule id: letters, digits, . _ -')),
  name: v.optional(v.pipe(v.string(), v.maxLength(256))),
  enabled: v.optional(v.boolean(), true),
  /** Lower runs first among matches of the same set. */
  priority: v.optional(v.pipe(v.number(), v.integer()), 100),
  remedy: RemedySchema,
};

export const RuleSchema = v.variant('kind', [
  v.strictObject({ kind: v.literal('environment'), environment: EnvironmentSchema, ...Common }),
  v.strictObject({ kind: v.literal('threat'), threat: ThreatCriteriaSchema, ...Common }),
  v.strictObject({
    kind: v.literal('combined'),
    environment: EnvironmentSchema,
    threat: ThreatCriteriaSchema,
    ...Common,
  }),
]);
export type Rule = v.InferOutput<typeof RuleSchema>;
export type RuleInput = v.InferInput<typeof RuleSchema>;

export const RuleSetSchema = v.strictObject({
  version: v.literal(1),
  rules: v.pipe(v.array(RuleSchema), v.maxLength(10_000)),
});

/** A validation failure that says where and why. */
export class RuleError extends Error {
  override name = 'RuleError';
}

export function parseRule(raw: unknown): Rule {
  const r = v.safeParse(RuleSchema, raw);
  if (!r.success) {
    const i = r.issues[0];
    throw new RuleError(`invalid rule at ${v.getDotPath(i) ?? 'top'}: ${i.message}`);
  }
  return r.output;
}
