// The envelope signature, checked against a construction written here from the protocol's definition:
// Ed25519 over "tunguard-agent-v1\n<type>\n<body>" (UTF-8). The domain string keeps a signature made for
// this protocol from being valid for anything else, and the type keeps one message kind from passing as
// another.
import { sign, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  type Envelope,
  MESSAGE_TYPES,
  type MessageType,
  PROTOCOL_VERSION,
  publicKeyFromText,
  publicKeyText,
  seal,
  verifyEnvelope,
} from '../../src/agent/protocol.js';
import { newKey } from './wire.js';

const key = newKey();
const pub = publicKeyFromText(publicKeyText(key));
const BODY = { hello: 'wörld', n: 1 };

/** The signed bytes as the protocol defines them, built independently of protocol.ts. */
const signedText = (domain: string, type: string, body: string) => `${domain}\n${type}\n${body}`;

function envelopeSignedOver(text: string, type: MessageType, body: string): Envelope {
  return {
    v: PROTOCOL_VERSION,
    type,
    body,
    sig: sign(null, Buffer.from(text, 'utf8'), key).toString('base64url'),
  };
}

describe('envelope signatures', () => {
  it('seal signs exactly "tunguard-agent-v1\\n<type>\\n<body>" for every message type', () => {
    for (const type of MESSAGE_TYPES) {
      const env = seal(type, BODY, key);
      expect(env.body).toBe(JSON.stringify(BODY));
      const bytes = Buffer.from(signedText('tunguard-agent-v1', type, env.body), 'utf8');
      expect(verify(null, bytes, pub, Buffer.from(env.sig!, 'base64url')), type).toBe(true);
    }
  });

  it('verifyEnvelope accepts a signature made over the independent construction', () => {
    const body = JSON.stringify(BODY);
    expect(
      verifyEnvelope(
        envelopeSignedOver(signedText('tunguard-agent-v1', 'result', body), 'result', body),
        pub,
      ),
    ).toBe(true);
  });

  it('refuses a signature over the body alone, another domain, or another type', () => {
    const body = JSON.stringify(BODY);
    const cases: Array<[string, string]> = [
      ['the body alone', body],
      ['no domain', signedText('', 'result', body)],
      ['another version', signedText('tunguard-agent-v2', 'result', body)],
      ['another protocol', signedText('tunguard-api-v1', 'result', body)],
      ['another type', signedText('tunguard-agent-v1', 'command', body)],
      ['type and body run together', `tunguard-agent-v1\nresult${body}`],
    ];
    for (const [what, text] of cases)
      expect(verifyEnvelope(envelopeSignedOver(text, 'result', body), pub), what).toBe(false);
  });

  it('refuses a signature by another key, and an envelope without one', () => {
    const env = seal('result', BODY, newKey());
    expect(verifyEnvelope(env, pub)).toBe(false);
    const { sig: _sig, ...unsigned } = seal('result', BODY, key);
    expect(verifyEnvelope(unsigned, pub)).toBe(false);
  });
});
