// Router ↔ agent wire protocol: length-prefixed JSON frames, Ed25519-signed envelopes, message schemas.

import { createHash, createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
import * as v from 'valibot';

export const PROTOCOL_VERSION = 1;
/** Default frame cap; a program sent inline must fit (base64) under it. */
export const DEFAULT_MAX_FRAME = 4 * 1024 * 1024;
const DOMAIN = 'tunguard-agent-v1';

export class ProtocolError extends Error {
  override name = 'ProtocolError';
  constructor(
    readonly reason: string,
    message?: string,
  ) {
    super(message ?? reason);
  }
}

// ---- framing: u32 big-endian length, then that many bytes of UTF-8 JSON ----

export function encodeFrame(obj: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(obj), 'utf8');
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length);
  return Buffer.concat([head, body]);
}

/**
 * Reassembles frames from stream chunks; refuses a frame over `max` as soon as its length is known,
 * before buffering it. Chunks are kept as they come and joined once per complete frame, so a large
 * frame arriving in many chunks is copied once, not once per chunk.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  constructor(private readonly max = DEFAULT_MAX_FRAME) {}

  /** Feeds bytes; returns the complete frames' texts. Throws ProtocolError('oversized') on a too-long frame. */
  push(chunk: Buffer): string[] {
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    const out: string[] = [];
    while (this.buffered >= 4) {
      const len = this.peekLength();
      if (len > this.max) throw new ProtocolError('oversized', `frame of ${len} bytes exceeds ${this.max}`);
      if (this.buffered < 4 + len) break;
      const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.buffered);
      out.push(all.subarray(4, 4 + len).toString('utf8'));
      const rest = all.subarray(4 + len);
      this.chunks = rest.length > 0 ? [rest] : [];
      this.buffered = rest.length;
    }
    return out;
  }

  /** The u32 length prefix, which may straddle chunks. */
  private peekLength(): number {
    const first = this.chunks[0];
    if (first.length >= 4) return first.readUInt32BE(0);
    const head = Buffer.concat(this.chunks, this.buffered).subarray(0, 4);
    return head.readUInt32BE(0);
  }
}

// ---- keys ----

/** Raw 32-byte Ed25519 public key, base64url: the form shown to and copied by the admin. */
export const PublicKeyText = v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{43}$/, 'not an Ed25519 public key'));

const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export function publicKeyText(key: KeyObject): string {
  const der = createPublicKey(key).export({ format: 'der', type: 'spki' });
  return der.subarray(SPKI_PREFIX.length).toString('base64url');
}

export function publicKeyFromText(text: string): KeyObject {
  const raw = Buffer.from(text, 'base64url');
  if (raw.length !== 32) throw new ProtocolError('bad-key', 'Ed25519 public key must be 32 bytes');
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}

export function privateKeyFromPem(pem: string): KeyObject {
  return createPrivateKey(pem);
}

/** Short fingerprint of a public key (binds a command to one agent key). */
export function keyId(pubText: string): string {
  return createHash('sha256').update(pubText).digest('hex').slice(0, 16);
}

// ---- envelopes ----

export const MESSAGE_TYPES = [
  'command',
  'result',
  'pair-hello',
  'pair-reply',
  'pair-reveal',
  'pair-done',
  'error',
] as const;
export type MessageType = (typeof MESSAGE_TYPES)[number];

/** What travels in a frame. `body` is JSON text, signed as bytes: no canonicalisation questions. */
export const EnvelopeSchema = v.strictObject({
  v: v.literal(PROTOCOL_VERSION),
  type: v.picklist(MESSAGE_TYPES),
  body: v.pipe(v.string(), v.maxLength(DEFAULT_MAX_FRAME)),
  sig: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{86}$/, 'not an Ed25519 signature'))),
});
export type Envelope = v.InferOutput<typeof EnvelopeSchema>;

function signedBytes(type: MessageType, body: string): Buffer {
  return Buffer.from(`${DOMAIN}\n${type}\n${body}`, 'utf8');
}

export function seal(type: MessageType, body: unknown, key: KeyObject): Envelope {
  const text = JSON.stringify(body);
  return {
    v: PROTOCOL_VERSION,
    type,
    body: text,
    sig: sign(null, signedBytes(type, text), key).toString('base64url'),
  };
}

export function verifyEnvelope(env: Envelope, pub: KeyObject): boolean {
  if (!env.sig) return false;
  try {
    return verify(null, signedBytes(env.type, env.body), pub, Buffer.from(env.sig, 'base64url'));
  } catch {
    return false;
  }
}

/** Parses a frame's text into an envelope; malformed input is a ProtocolError with a reason. */
export function parseEnvelope(text: string): Envelope {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new ProtocolError('malformed-json', 'frame is not JSON');
  }
  const r = v.safeParse(EnvelopeSchema, raw);
  if (!r.success) throw new ProtocolError('malformed-envelope', r.issues[0].message);
  return r.output;
}

/** Parses and validates an envelope body. */
export function parseBody<S extends v.GenericSchema>(schema: S, env: Envelope): v.InferOutput<S> {
  let raw: unknown;
  try {
    raw = JSON.parse(env.body);
  } catch {
    throw new ProtocolError('malformed-json', 'body is not JSON');
  }
  const r = v.safeParse(schema, raw);
  if (!r.success) {
    const issue = r.issues[0];
    throw new ProtocolError('invalid-command', `${v.getDotPath(issue) ?? 'body'}: ${issue.message}`);
  }
  return r.output;
}

// ---- actions and commands ----

/**
 * No shell metacharacters, controls or quotes: names and args never reach a shell, and we refuse them
 * anyway. The backslash is a Windows host's separator; the agent's path rules decide what it may spell.
 */
const SAFE_TEXT = /^[A-Za-z0-9 ._+,:=@%/\\-]*$/;
const SafeName = v.pipe(
  v.string(),
  v.minLength(1),
  v.maxLength(255),
  v.regex(/^[A-Za-z0-9._+@-]+$/, 'file name has characters outside the allowed set'),
  v.check((s) => s !== '.' && s !== '..', 'file name may not be . or ..'),
);
const AbsPath = v.pipe(
  v.string(),
  v.minLength(1),
  v.maxLength(4096),
  // '/x' on Linux, 'C:\x' on Windows: the shape only; each platform's agent checks its own spelling.
  v.regex(/^(\/|\\|[A-Za-z]:)/, 'path must be absolute'),
  // '?' for Windows' `\\?\C:\` long form (Windows refuses it in a name; Linux allows it).
  v.regex(/^[A-Za-z0-9 ._+,:=@%/\\?-]*$/, 'path has characters outside the allowed set'),
);
const Arg = v.pipe(
  v.string(),
  v.maxLength(1024),
  v.regex(SAFE_TEXT, 'argument has characters outside the allowed set'),
);
const Sha256 = v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/, 'sha256 must be 64 lower-case hex digits'));

/** The allowlist: anything else is refused at parse time. */
export const ActionSchema = v.variant('action', [
  v.strictObject({ action: v.literal('ping') }),
  v.strictObject({ action: v.literal('file.delete'), location: AbsPath, name: SafeName }),
  v.strictObject({ action: v.literal('file.quarantine'), location: AbsPath, name: SafeName }),
  v.strictObject({
    action: v.literal('file.restore'),
    quarantineId: v.pipe(v.string(), v.regex(/^[0-9a-f]{32}$/, 'bad quarantine id')),
  }),
  v.strictObject({
    action: v.literal('file.chmod'),
    location: AbsPath,
    name: SafeName,
    // Permission bits only: no setuid, setgid or sticky from the network.
    mode: v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(0o777)),
  }),
  v.strictObject({
    action: v.literal('program.run'),
    /** The cleanup program's identifier (stored on the host, or sent). */
    programId: v.pipe(v.string(), v.minLength(1), v.maxLength(128), v.regex(/^[A-Za-z0-9._-]+$/)),
    sha256: Sha256,
    /** A sent program: the program itself, base64. */
    content: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9+/]*={0,2}$/, 'content must be base64'))),
    /** A stored program: where it is on the host (under the agent's program roots). */
    location: v.optional(AbsPath),
    args: v.optional(v.pipe(v.array(Arg), v.maxLength(64)), []),
    timeoutMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(100), v.maxValue(3_600_000)), 60_000),
  }),
]);
/** An action as the router writes it (defaults not yet applied). */
export type Action = v.InferInput<typeof ActionSchema>;
export type ActionName = Action['action'];

export const CommandSchema = v.strictObject({
  id: v.pipe(v.string(), v.uuid('command id must be a UUID')),
  /** The host the router meant; the agent refuses any other. */
  hostId: v.pipe(v.string(), v.minLength(1), v.maxLength(128)),
  /** keyId() of the agent's public key: a command signed for one agent is useless on another. */
  agentKeyId: v.pipe(v.string(), v.regex(/^[0-9a-f]{16}$/)),
  issuedAt: v.pipe(v.number(), v.integer()),
  expiresAt: v.pipe(v.number(), v.integer()),
  /** The router-side dispatch this command serves (for the audit trail). */
  dispatchId: v.optional(v.pipe(v.string(), v.maxLength(64))),
  action: ActionSchema,
});
export type Command = v.InferOutput<typeof CommandSchema>;
/** A command as the router builds it. */
export type CommandInput = v.InferInput<typeof CommandSchema>;

export const REFUSALS = [
  'malformed-json',
  'malformed-envelope',
  'oversized',
  'unpaired',
  'unsigned',
  'bad-signature',
  'invalid-command',
  'wrong-host',
  'expired',
  'not-yet-valid',
  'ttl-too-long',
  'replay',
  'replay-cache-full',
  'action-not-allowed',
  'path-outside-roots',
  'path-not-canonical',
  'symlink',
  'not-a-regular-file',
  'not-found',
  'exists',
  /** Windows: another process holds the file open without sharing delete; nothing was moved. */
  'file-in-use',
  'hash-mismatch',
  'pairing-closed',
  'pairing-rejected',
  'internal',
] as const;
export type Refusal = (typeof REFUSALS)[number];

export const ResultSchema = v.object({
  commandId: v.string(),
  /** sha256 of the command envelope body the agent answered: binds the reply to the request. */
  commandDigest: v.string(),
  hostId: v.string(),
  ok: v.boolean(),
  refused: v.optional(v.picklist(REFUSALS)),
  reason: v.optional(v.string()),
  exitCode: v.optional(v.nullable(v.number())),
  signal: v.optional(v.nullable(v.string())),
  timedOut: v.optional(v.boolean()),
  outputDigest: v.optional(v.string()),
  output: v.optional(v.string()),
  quarantineId: v.optional(v.string()),
  path: v.optional(v.string()),
  startedAt: v.number(),
  finishedAt: v.number(),
  durationMs: v.number(),
});
export type Result = v.InferOutput<typeof ResultSchema>;

export function digest(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex');
}

// ---- pairing ----
//
// Commit before reveal (as Bluetooth SSP and ZRTP do): the router sends only a hash of its key and nonce,
// the agent answers with its own nonce, and only then does the router reveal its nonce. Whoever sits in
// the middle must fix its nonce on each side before learning the other side's, so it cannot search for
// nonces that make the two codes match: it gets one guess, worth 1 in 10^10.

const Nonce = v.pipe(v.string(), v.regex(/^[0-9a-f]{32}$/));

export const PairHelloSchema = v.strictObject({
  routerKey: PublicKeyText,
  /** pairingCommitment(routerKey, routerNonce); the nonce itself comes in pair-reveal. */
  commitment: v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/)),
  routerName: v.pipe(v.string(), v.maxLength(64)),
});
export const PairReplySchema = v.strictObject({
  agentKey: PublicKeyText,
  agentNonce: Nonce,
  hostId: v.pipe(v.string(), v.minLength(1), v.maxLength(128)),
});
export const PairRevealSchema = v.strictObject({ routerNonce: Nonce });
export const PairDoneSchema = v.strictObject({ accepted: v.boolean(), hostId: v.string() });

/** What the router commits to before it sees the agent's nonce. */
export function pairingCommitment(routerKey: string, routerNonce: string): string {
  return createHash('sha256').update(`${DOMAIN}|pair-commit|${routerKey}|${routerNonce}`).digest('hex');
}

/** Digits in the code both sides show: ~33 bits, so the attacker's single guess is hopeless. */
export const PAIRING_CODE_DIGITS = 10;

/**
 * The code both sides show ("12345-67890"); equal codes mean no one sits between them. `digits` other
 * than the default exists for tests that measure the attack on short codes.
 */
export function pairingCode(
  routerKey: string,
  agentKey: string,
  routerNonce: string,
  agentNonce: string,
  digits = PAIRING_CODE_DIGITS,
): string {
  const h = createHash('sha256')
    .update(`${DOMAIN}|pair|${routerKey}|${agentKey}|${routerNonce}|${agentNonce}`)
    .digest();
  const n = String(h.readBigUInt64BE(0) % 10n ** BigInt(digits)).padStart(digits, '0');
  const half = Math.ceil(digits / 2);
  return digits > 6 ? `${n.slice(0, half)}-${n.slice(half)}` : n;
}
