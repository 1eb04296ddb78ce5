// Sequence adjustment as pure functions: the window rescaling both ways (in bytes, capped and never
// rounded to a closed window), and seq/ack/timestamp translation of a real segment, round-tripped
// with its checksum still valid. The stage's use of them is test/unit/synproxy.test.ts's.
import { describe, expect, it } from 'vitest';
import {
  adjustQuotedSeq,
  adjustToClient,
  adjustToServer,
  clientWindowToServer,
  newSeqAdj,
  type SeqAdj,
  serverWindowToClient,
} from '../../src/defense/seqadj.js';
import { CsumStatus, classify, PacketInfo, rd32, verifyL4Checksum } from '../../src/packet/index.js';
import { tcp, v4 } from '../packet/helpers.js';

const adj = (over: Partial<SeqAdj>): SeqAdj => ({ ...newSeqAdj(), ...over });

describe('window translation', () => {
  it('rescales a server window to the scale the client was told, in bytes', () => {
    // Server scale 3, told the client 7: 1000 << 3 bytes = 8000 → 8000 >> 7 = 62.
    expect(serverWindowToClient(1000, adj({ wsClient: 5, wsServer: 3, wsAdv: 7 }))).toBe(62);
    // A small open window never becomes 0; a closed one stays closed.
    expect(serverWindowToClient(1, adj({ wsClient: 5, wsServer: 0, wsAdv: 7 }))).toBe(1);
    expect(serverWindowToClient(0, adj({ wsClient: 5, wsServer: 0, wsAdv: 7 }))).toBe(0);
    // The server did not agree to scaling: its window is bytes; capped at 65535.
    expect(serverWindowToClient(65535, adj({ wsClient: 5, wsServer: -1, wsAdv: 0 }))).toBe(-1);
    expect(serverWindowToClient(40000, adj({ wsClient: 5, wsServer: 9, wsAdv: 2 }))).toBe(65535);
    // Same scales: nothing to do.
    expect(serverWindowToClient(1234, adj({ wsClient: 5, wsServer: 7, wsAdv: 7 }))).toBe(-1);
  });

  it('gives the server the client window in bytes when the server refused scaling', () => {
    expect(clientWindowToServer(100, adj({ wsClient: 6, wsServer: -1 }))).toBe(6400);
    expect(clientWindowToServer(2000, adj({ wsClient: 6, wsServer: -1 }))).toBe(65535);
    expect(clientWindowToServer(100, adj({ wsClient: 6, wsServer: 2 }))).toBe(-1);
    expect(clientWindowToServer(100, adj({ wsClient: -1, wsServer: -1 }))).toBe(-1);
    // Scale 0 is scaling agreed (it differs from none): the server reads the window as sent.
    expect(clientWindowToServer(100, adj({ wsClient: 6, wsServer: 0 }))).toBe(-1);
  });

  it('treats a scale of 0 as agreed scaling, not as none', () => {
    // Client scale 0, server scale 3, told the client 7: the server's scale counts.
    expect(serverWindowToClient(1000, adj({ wsClient: 0, wsServer: 3, wsAdv: 7 }))).toBe(62);
    // Server scale 0 with the client told 7: bytes = the window, sent in units of 128.
    expect(serverWindowToClient(1280, adj({ wsClient: 5, wsServer: 0, wsAdv: 7 }))).toBe(10);
  });
});

describe('segment translation', () => {
  function segment(seq: number, ack: number): { buf: Uint8Array; info: PacketInfo } {
    // NOP NOP TS(TSval 1000, TSecr 2000).
    const opts = [1, 1, 8, 10, 0, 0, 0x03, 0xe8, 0, 0, 0x07, 0xd0];
    const buf = v4({ proto: 6 }, tcp({ seq, ack, flags: 0x10, win: 500, opts, payload: [1, 2, 3] }));
    const info = new PacketInfo();
    expect(classify(buf, 0, buf.length, false, info)).toBe(0);
    return { buf, info };
  }

  it('server→client adds delta to seq and takes tsOff from TSval; client→server undoes it on ack/TSecr', () => {
    const a = adj({ delta: 0xffff_fff0, ts: true, tsOff: 0x8000_0001, wsClient: 7, wsServer: 7, wsAdv: 7 });
    const s = segment(0x20, 0x99);
    adjustToClient(s.buf, s.info, a);
    expect(rd32(s.buf, s.info.l4Off + 4)).toBe(0x10); // wraps
    expect(rd32(s.buf, s.info.l4Off + 8)).toBe(0x99); // the client's own numbers untouched
    expect(rd32(s.buf, s.info.tcp.tsOff)).toBe((1000 - 0x8000_0001) >>> 0);
    expect(verifyL4Checksum(s.buf, s.info)).toBe(CsumStatus.OK);
    const c = segment(0x99, 0x10);
    adjustToServer(c.buf, c.info, a);
    expect(rd32(c.buf, c.info.l4Off + 8)).toBe(0x20);
    expect(rd32(c.buf, c.info.l4Off + 4)).toBe(0x99);
    expect(rd32(c.buf, c.info.tcp.tsOff + 4)).toBe((2000 + 0x8000_0001) >>> 0);
    expect(verifyL4Checksum(c.buf, c.info)).toBe(CsumStatus.OK);
  });

  it('leaves the ack of a segment without ACK alone, and a TS-less segment’s options too', () => {
    const buf = v4({ proto: 6 }, tcp({ seq: 5, ack: 1234, flags: 0x04, win: 0 }));
    const info = new PacketInfo();
    expect(classify(buf, 0, buf.length, false, info)).toBe(0);
    const before = [...buf];
    adjustToServer(buf, info, adj({ delta: 99, ts: true, tsOff: 7, wsClient: 7, wsServer: 7 }));
    expect([...buf]).toEqual(before);
  });

  it('leaves timestamps alone when the connection does not translate them', () => {
    const s = segment(5, 6);
    adjustToClient(s.buf, s.info, adj({ delta: 1, ts: false, tsOff: 77 }));
    expect(rd32(s.buf, s.info.tcp.tsOff)).toBe(1000);
    expect(rd32(s.buf, s.info.l4Off + 4)).toBe(6);
  });

  it('gives back the server’s own seq in a quote and keeps the outer checksum valid', () => {
    const buf = new Uint8Array(12);
    buf.set([0x12, 0x34, 0, 0, 0, 0, 0x10, 0x00], 4); // a quoted header: seq 0x00001000 at offset 8
    // A checksum over the 12 bytes, as the ICMP header's would be.
    const sum = (b: Uint8Array) => {
      let x = 0;
      for (let i = 0; i < b.length; i += 2) x += (b[i] << 8) | b[i + 1];
      while (x > 0xffff) x = (x & 0xffff) + (x >>> 16);
      return x;
    };
    const c0 = ~sum(buf) & 0xffff;
    buf[0] = c0 >>> 8;
    buf[1] = c0 & 0xff;
    expect(sum(buf)).toBe(0xffff);
    adjustQuotedSeq(buf, 8, 0, 0x800);
    expect(rd32(buf, 8)).toBe(0x800);
    expect(sum(buf)).toBe(0xffff);
  });
});
