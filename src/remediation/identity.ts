// The router's Ed25519 signing identity, kept in the durable store's meta db (never logged, never exported).

import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { privateKeyFromPem, publicKeyText } from '../agent/protocol.js';
import type { DurableStore } from '../state/durable.js';

export interface RouterIdentity {
  privateKey: KeyObject;
  /** base64url raw public key: what an admin copies onto a host (`tunguard-agent trust-router --key`). */
  publicText: string;
}

const KEY = 'router-signing-key';

export async function loadOrCreateRouterIdentity(store: DurableStore): Promise<RouterIdentity> {
  const meta = store.db<string>('meta');
  let pem = meta.get(KEY);
  if (!pem) {
    const { privateKey } = generateKeyPairSync('ed25519');
    pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    await meta.put(KEY, pem);
  }
  const privateKey = privateKeyFromPem(pem);
  return { privateKey, publicText: publicKeyText(privateKey) };
}
