// The agent's configuration file (JSON), validated; every path absolute in the host platform's spelling.

import { readFileSync } from 'node:fs';
import * as v from 'valibot';
import { expandWinEnv, hostRules } from './platform.js';
import { ActionSchema, DEFAULT_MAX_FRAME } from './protocol.js';

/**
 * A canonical absolute path that is not a file system root. On Windows `%ProgramData%`-style names
 * are expanded first, so one config file serves any Windows install directory.
 */
const Abs = v.pipe(
  v.string(),
  v.rawTransform(({ dataset, addIssue, NEVER }) => {
    try {
      const raw =
        hostRules.kind === 'win32' ? expandWinEnv(dataset.value) : dataset.value.replace(/(.)\/+$/, '$1');
      const p = hostRules.canonical(raw);
      if (p === '/' || /^[A-Z]:\\$/.test(p)) throw new Error('may not be a file system root');
      return p;
    } catch (e) {
      addIssue({ message: `must be an absolute path: ${(e as Error).message}` });
      return NEVER;
    }
  }),
);
const ACTIONS = ActionSchema.options.map((o) => o.entries.action.literal);

/** Frame cap when no program travels inline: commands and results are a few KiB. */
export const PLAIN_MAX_FRAME = 64 * 1024;

const AgentConfigFields = v.strictObject({
  /** The identity the router knows this host by; commands for any other host are refused. */
  hostId: v.pipe(v.string(), v.minLength(1), v.maxLength(128)),
  listen: v.optional(
    v.strictObject({
      host: v.optional(v.string(), '0.0.0.0'),
      port: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(65535)), 7443),
    }),
    {},
  ),
  /** Keys, pinned router key, replay cache (0700). */
  stateDir: Abs,
  /** File operations only ever touch paths under these directories. */
  roots: v.pipe(v.array(Abs), v.minLength(1)),
  /** Where "deleted" files go so `restore` can bring them back; must not lie under a root. */
  quarantineDir: Abs,
  /** Where programs kept on this host (id + location) may be stored. */
  programRoots: v.optional(v.array(Abs), []),
  /**
   * Whether program.run may carry the program itself. Off by default: a stolen router
   * token must not be able to run code of its choosing on every host; programs stored under
   * programRoots run either way.
   */
  allowInlinePrograms: v.optional(v.boolean(), false),
  /** Actions this host allows (default all of the protocol's allowlist). */
  allowActions: v.optional(v.array(v.picklist(ACTIONS)), ACTIONS),
  /**
   * Largest frame read from the network, before anything is authenticated. Default: room for an
   * inline program (DEFAULT_MAX_FRAME) only when inline programs are allowed, else PLAIN_MAX_FRAME, so
   * 16 unauthenticated connections cannot make the agent hold 64 MiB.
   */
  maxFrameBytes: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1024))),
  /** Longest command lifetime accepted; bounds the replay cache. */
  maxCommandTtlMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1000)), 10 * 60_000),
  /** Allowed clock skew for issuedAt in the future. */
  clockSkewMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0)), 60_000),
  replayCacheSize: v.optional(v.pipe(v.number(), v.integer(), v.minValue(16)), 4096),
  /** Whether this agent accepts a pairing request (only while it has no router key). */
  pairing: v.optional(v.boolean(), false),
  /** Idle time before a connection is dropped. */
  idleTimeoutMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(100)), 30_000),
});
export const AgentConfigSchema = v.pipe(
  AgentConfigFields,
  v.transform((c) => ({
    ...c,
    maxFrameBytes: c.maxFrameBytes ?? (c.allowInlinePrograms ? DEFAULT_MAX_FRAME : PLAIN_MAX_FRAME),
  })),
);
export type AgentConfig = v.InferOutput<typeof AgentConfigSchema>;

export function parseAgentConfig(raw: unknown): AgentConfig {
  const r = v.safeParse(AgentConfigSchema, raw);
  if (!r.success) {
    const i = r.issues[0];
    throw new Error(`bad agent config at ${v.getDotPath(i) ?? 'top'}: ${i.message}`);
  }
  return r.output;
}

export function loadAgentConfig(path: string): AgentConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read agent config ${path}: ${(e as Error).message}`);
  }
  return parseAgentConfig(raw);
}
