// The frame reader: frames split anywhere (the length prefix too) come out whole and in order; a
// frame over the cap is refused as soon as its length is known, before its body arrives.
import { describe, expect, it } from 'vitest';
import { encodeFrame, FrameReader } from '../../src/agent/protocol.js';

describe('FrameReader', () => {
  const frames = [{ a: 1 }, { b: 'x'.repeat(5000) }, {}, { c: [1, 2, 3] }];
  const bytes = Buffer.concat(frames.map((f) => encodeFrame(f)));

  it('reassembles frames split at every chunk size, the length prefix included', () => {
    for (const size of [1, 2, 3, 5, 7, 64, 4099, bytes.length]) {
      const r = new FrameReader(1 << 20);
      const out: unknown[] = [];
      for (let i = 0; i < bytes.length; i += size)
        out.push(...r.push(bytes.subarray(i, i + size)).map((t) => JSON.parse(t)));
      expect(out, `chunks of ${size}`).toEqual(frames);
    }
  });

  it('refuses an oversized frame from its length prefix alone, even split', () => {
    const r = new FrameReader(1024);
    const head = Buffer.alloc(4);
    head.writeUInt32BE(2048);
    expect(r.push(head.subarray(0, 2))).toEqual([]);
    expect(() => r.push(head.subarray(2))).toThrow(/2048 bytes exceeds 1024/);
  });
});
