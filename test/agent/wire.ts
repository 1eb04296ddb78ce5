// Test helpers: raw frames to a real agent over TCP, verified results, and a snapshot of the host's files.

import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import {
  type Envelope,
  encodeFrame,
  FrameReader,
  parseBody,
  parseEnvelope,
  publicKeyFromText,
  publicKeyText,
  type Result,
  ResultSchema,
  verifyEnvelope,
} from '../../src/agent/protocol.js';
import type { RouterIdentity } from '../../src/remediation/identity.js';

export function newRouterIdentity(): RouterIdentity {
  const { privateKey } = generateKeyPairSync('ed25519');
  return { privateKey, publicText: publicKeyText(privateKey) };
}

export function newKey(): KeyObject {
  return generateKeyPairSync('ed25519').privateKey;
}

/** Sends raw bytes, returns the first reply envelope (or undefined if the agent just closed) and whether it closed. */
export function rawExchange(
  port: number,
  bytes: Buffer,
  timeoutMs = 5000,
): Promise<{ reply?: Envelope; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port });
    const reader = new FrameReader(16 * 1024 * 1024);
    let reply: Envelope | undefined;
    const t = setTimeout(() => {
      s.destroy();
      if (reply) resolve({ reply, closed: false });
      else reject(new Error('no reply from agent'));
    }, timeoutMs);
    s.on('connect', () => s.write(bytes));
    s.on('data', (c: Buffer) => {
      const frames = reader.push(c);
      if (frames.length && !reply) {
        reply = parseEnvelope(frames[0]);
        // Give the agent a moment to close (oversized frames) before we hang up ourselves.
        setTimeout(() => {
          clearTimeout(t);
          const closed = s.readableEnded || s.destroyed;
          s.destroy();
          resolve({ reply, closed });
        }, 50);
      }
    });
    s.on('end', () => {
      if (!reply) {
        clearTimeout(t);
        resolve({ closed: true });
      }
    });
    s.on('error', (e) => {
      clearTimeout(t);
      if (reply) resolve({ reply, closed: true });
      else reject(e);
    });
  });
}

/** Sends one envelope and returns the agent's result, checking the agent's signature. */
export async function sendEnvelope(
  port: number,
  env: Envelope | Record<string, unknown>,
  agentKey: string,
): Promise<Result> {
  const { reply } = await rawExchange(port, encodeFrame(env));
  if (!reply) throw new Error('agent sent nothing');
  if (!verifyEnvelope(reply, publicKeyFromText(agentKey))) throw new Error('reply not signed by the agent');
  return parseBody(ResultSchema, reply);
}

/** Everything observable about files under the given dirs: type, mode, size, content hash, link target. */
export function snapshot(...dirs: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (p: string) => {
    const st = lstatSync(p);
    if (st.isSymbolicLink()) out[p] = `link:${readlinkSync(p)}`;
    else if (st.isDirectory()) {
      out[p] = `dir:${(st.mode & 0o7777).toString(8)}`;
      for (const e of readdirSync(p).sort()) walk(join(p, e));
    } else
      out[p] =
        `file:${(st.mode & 0o7777).toString(8)}:${createHash('sha256').update(readFileSync(p)).digest('hex')}`;
  };
  for (const d of dirs) walk(d);
  return out;
}
