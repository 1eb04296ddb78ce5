#!/usr/bin/env python3
"""Writes random and mutated packets into a TUN's transmit side through an AF_PACKET socket, so the
process reading the TUN receives them exactly as the kernel would hand over a packet.
usage: inject.py <dev> <count> <seed>; prints the number sent (queue overflows are the kernel's)."""
import random, socket, struct, sys, time

dev, count, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)

def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff

def v4_tcp():
    opts = rng.choice([b'', b'\x02\x04\x05\xb4', b'\x02\x04\x05\xb4\x04\x02\x08\x0a' + bytes(8) + b'\x01\x03\x03\x07'])
    tcp = struct.pack('!HHIIBBHHH', rng.randrange(65536), 80, rng.getrandbits(32), 0, (5 + len(opts) // 4) << 4, 0x02, 64240, 0, 0) + opts
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(tcp), 1, 0x4000, 64, 6, 0, bytes([198, 51, 100, 2]), bytes([192, 0, 2, 2]))
    ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
    return bytearray(ip + tcp)

def v6_udp():
    udp = struct.pack('!HHHH', 5000, 53, 8 + 12, 0) + bytes(12)
    ext = bytes([17, 0, 1, 4, 0, 0, 0, 0])  # hop-by-hop with PadN, then UDP
    ip = struct.pack('!IHBB16s16s', 6 << 28, len(ext) + len(udp), 0, 64, bytes(16), bytes(16))
    return bytearray(ip + ext + udp)

def mutate(p):
    k = rng.randrange(4)
    if k == 0:
        for _ in range(rng.randrange(1, 8)):
            i = rng.randrange(len(p)); p[i] ^= 1 << rng.randrange(8)
    elif k == 1:
        p = p[:rng.randrange(1, len(p))]
    elif k == 2:
        i = rng.randrange(min(len(p), 60)); p[i] = rng.randrange(256)
    else:
        p += bytes(rng.randrange(64))
    return bytes(p)

s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, 0)
sent = 0
t0 = time.time()
for i in range(count):
    r = rng.random()
    if r < 0.3:
        pkt = rng.randbytes(rng.randrange(1, 200))
    elif r < 0.65:
        pkt = mutate(v4_tcp())
    else:
        pkt = mutate(v6_udp())
    proto = 0x86DD if pkt[0] >> 4 == 6 else 0x0800
    try:
        s.sendto(pkt, (dev, proto))
        sent += 1
    except OSError:
        pass  # ENOBUFS when the queue is full: a dropped injection, not a result
    if time.time() - t0 > 60:
        break
print(sent)
