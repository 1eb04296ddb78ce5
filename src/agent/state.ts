// The agent's persistent state: its own Ed25519 key, the pinned router key, written atomically and 0600.

import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as v from 'valibot';
import { writeFileAtomicSync } from '../state/atomic-file.js';
import { systemRoot, systemToolEnv } from './platform.js';
import { PublicKeyText, privateKeyFromPem, publicKeyFromText, publicKeyText } from './protocol.js';

/**
 * Creates a directory only the agent's own account can read. Linux: mode 0700. Windows: mode bits
 * mean nothing there, so icacls replaces the inherited ACL with full control for SYSTEM (S-1-5-18)
 * and Administrators (S-1-5-32-544) alone, by SID so a localized Windows names them the same.
 */
export function makePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (process.platform !== 'win32') return;
  try {
    execFileSync(
      join(systemRoot(), 'System32', 'icacls.exe'),
      [dir, '/inheritance:r', '/grant:r', '*S-1-5-18:(OI)(CI)F', '*S-1-5-32-544:(OI)(CI)F', '/Q'],
      { stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true, timeout: 30_000, env: systemToolEnv() },
    );
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    throw new Error(
      `cannot restrict ${dir} to SYSTEM and Administrators: ${err.stderr?.toString().trim() || err.message}`,
    );
  }
}

export interface AgentIdentity {
  privateKey: KeyObject;
  publicKey: KeyObject;
  publicText: string;
}

/** Loads the agent's key, creating it on first start. */
export function loadOrCreateIdentity(stateDir: string): AgentIdentity {
  makePrivateDir(stateDir);
  const file = join(stateDir, 'agent-key.pem');
  if (!existsSync(file)) {
    const { privateKey } = generateKeyPairSync('ed25519');
    writeFileAtomicSync(file, privateKey.export({ format: 'pem', type: 'pkcs8' }).toString());
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
  makePrivateDir(stateDir);
  writeFileAtomicSync(join(stateDir, 'router.json'), JSON.stringify({ routerKey, pairedAt: Date.now() }));
}
