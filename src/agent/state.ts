// The agent's persistent state: its own Ed25519 key, the pinned router key, written atomically and 0600.

import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import * as v from 'valibot';
import { PublicKeyText, privateKeyFromPem, publicKeyFromText, publicKeyText } from './protocol.js';

/** Writes a file atomically (temp + fsync + rename) with mode 0600. */
export function writeFileAtomic(path: string, data: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

export interface AgentIdentity {
  privateKey: KeyObject;
  publicKey: KeyObject;
  publicText: string;
}

/** Loads the agent's key, creating it on first start. */
export function loadOrCreateIdentity(stateDir: string): AgentIdentity {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const file = join(stateDir, 'agent-key.pem');
  if (!existsSync(file)) {
    const { privateKey } = generateKeyPairSync('ed25519');
    writeFileAtomic(file, privateKey.export({ format: 'pem', type: 'pkcs8' }).toString());
  }
  const privateKey = privateKeyFromPem(readFileSync(file, 'utf8'));
  const publicText = publicKeyText(privateKey);
  return { privateKey, publicKey: publicKeyFromText(publicText), publicText };
}

const TrustSchema = v.strictObject({ routerKey: PublicKeyText, pairedAt: v.number() });

/** The pinned router key, if paired. */
export function loadRouterKey(stateDir: string): { text: string; key: KeyObject } | undefined {
  const file = join(stateDir, 'router.json');
  if (!existsSync(file)) return undefined;
  const r = v.safeParse(TrustSchema, JSON.parse(readFileSync(file, 'utf8')));
  if (!r.success) throw new Error(`corrupt ${file}: ${r.issues[0].message}`);
  return { text: r.output.routerKey, key: publicKeyFromText(r.output.routerKey) };
}

export function saveRouterKey(stateDir: string, routerKey: string): void {
  const r = v.safeParse(PublicKeyText, routerKey);
  if (!r.success) throw new Error(`not a router key: ${r.issues[0].message}`);
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  writeFileAtomic(join(stateDir, 'router.json'), JSON.stringify({ routerKey, pairedAt: Date.now() }));
}
