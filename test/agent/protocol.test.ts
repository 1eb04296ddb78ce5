// The wire protocol on its own: frames, envelope and body parsing, keys, the pairing code, and the
// envelope signature, checked against a construction written here from the protocol's definition:
// Ed25519 over "tunguard-agent-v1\n<type>\n<body>" (UTF-8). The domain string keeps a signature made for
// this protocol from being valid for anything else, and the type keeps one message kind from passing as
// another.
import { createHash, sign, verify } from 'node:crypto';
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import {
  ActionSchema,
  type Envelope,
  encodeFrame,
  FrameReader,
  keyId,
  MESSAGE_TYPES,
  type MessageType,
  PROTOCOL_VERSION,
  ProtocolError,
  pairingCode,
  parseBody,
  parseEnvelope,
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

/** The ProtocolError reason `fn` throws (or 'none'). */
function reason(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof ProtocolError) return e.reason;
    throw e;
  }
  return 'none';
}

describe('frames', () => {
  it('are a big-endian length and that many bytes of UTF-8 JSON', () => {
    const f = encodeFrame({ a: 'é' });
    expect(f.readUInt32BE(0)).toBe(f.length - 4);
    expect(f.subarray(4).toString('utf8')).toBe('{"a":"é"}');
  });

  it('are reassembled from any split, several to a chunk', () => {
    const bytes = Buffer.concat([encodeFrame({ n: 1 }), encodeFrame({}), encodeFrame({ n: 'three' })]);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const r = new FrameReader();
      const got = [...r.push(bytes.subarray(0, cut)), ...r.push(bytes.subarray(cut))];
      expect(got, `cut at ${cut}`).toEqual(['{"n":1}', '{}', '{"n":"three"}']);
    }
    const r = new FrameReader();
    expect(r.push(bytes.subarray(0, 3))).toEqual([]); // not even a length yet
    expect(r.push(bytes.subarray(3, 4))).toEqual([]); // a length, no body
  });

  it('refuses a frame longer than the cap from its length alone; a frame at the cap passes', () => {
    const r = new FrameReader(10);
    const head = Buffer.alloc(4);
    head.writeUInt32BE(11);
    expect(reason(() => r.push(head))).toBe('oversized');
    const atCap = encodeFrame('12345678'); // "12345678" with its quotes: 10 bytes
    expect(new FrameReader(10).push(atCap)).toEqual(['"12345678"']);
  });
});

describe('parsing', () => {
  const key = newKey();
  it('names what is wrong with an envelope or a body', () => {
    expect(reason(() => parseEnvelope('{'))).toBe('malformed-json');
    expect(reason(() => parseEnvelope('{"v":2,"type":"command","body":"{}"}'))).toBe('malformed-envelope');
    expect(reason(() => parseEnvelope('{"v":1,"type":"command","body":"{}","x":1}'))).toBe(
      'malformed-envelope',
    );
    const ok = parseEnvelope(JSON.stringify(seal('result', { a: 1 }, key)));
    expect(ok.type).toBe('result');
    const schema = v.strictObject({ a: v.number() });
    expect(parseBody(schema, ok)).toEqual({ a: 1 });
    expect(reason(() => parseBody(schema, { ...ok, body: '{' }))).toBe('malformed-json');
    expect(reason(() => parseBody(schema, { ...ok, body: '{"a":"x"}' }))).toBe('invalid-command');
    expect(() => parseBody(schema, { ...ok, body: '{"a":"x"}' })).toThrow(/^a: /);
  });

  it('refuses a public key that is not 32 bytes, and fingerprints keys by sha256', () => {
    expect(reason(() => publicKeyFromText('AAAA'))).toBe('bad-key');
    const text = publicKeyText(key);
    expect(keyId(text)).toBe(createHash('sha256').update(text).digest('hex').slice(0, 16));
  });

  it('refuses . and .. as file names', () => {
    for (const name of ['.', '..'])
      expect(v.safeParse(ActionSchema, { action: 'file.delete', location: '/srv', name }).success, name).toBe(
        false,
      );
    expect(v.safeParse(ActionSchema, { action: 'file.delete', location: '/srv', name: '.x' }).success).toBe(
      true,
    );
  });
});

describe('pairing code', () => {
  it('is digits from sha256 over the domain, both keys and both nonces, and depends on each', () => {
    const args = ['router-key', 'agent-key', 'a'.repeat(32), 'b'.repeat(32)] as const;
    const h = createHash('sha256')
      .update(`tunguard-agent-v1|pair|${args.join('|')}`)
      .digest();
    const six = String(h.readBigUInt64BE(0) % 1_000_000n).padStart(6, '0');
    expect(pairingCode(...args, 6)).toBe(six);
    const ten = String(h.readBigUInt64BE(0) % 10_000_000_000n).padStart(10, '0');
    expect(pairingCode(...args, 10)).toBe(`${ten.slice(0, 5)}-${ten.slice(5)}`);
    for (let i = 0; i < 4; i++) {
      const other = [...args] as [string, string, string, string];
      other[i] = `${other[i]}x`;
      expect(pairingCode(...other, 10), `argument ${i}`).not.toBe(pairingCode(...args, 10));
    }
  });
});
