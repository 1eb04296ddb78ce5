#!/usr/bin/env python3
"""Bounded flood of spoofed DHCP requests on a LAN device, for the passive inventory's bounds test:
every request comes from a MAC of its own (Ethernet source and chaddr, 00:16:3e:xx:xx:xx, universal),
names the given host name (option 12) and asks for the given address (option 50).

usage: dhcpflood.py --dev DEV --count N [--request ADDR] [--hostname NAME] [--seconds S]
With --seconds the requests are spread evenly over S seconds (at most 60), else sent as fast as possible.
Only lab addresses are accepted for --request (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24), and
count is at most 1 000 000. Prints one JSON line: {"sent", "errors", "seconds"}.
"""
import argparse, ipaddress, json, random, socket, struct, time

LAB = [ipaddress.ip_network(n) for n in ('192.0.2.0/24', '198.51.100.0/24', '203.0.113.0/24')]

ap = argparse.ArgumentParser()
ap.add_argument('--dev', required=True)
ap.add_argument('--count', type=int, required=True)
ap.add_argument('--request', default='192.0.2.2')
ap.add_argument('--hostname', default='')
ap.add_argument('--seconds', type=float, default=0)
a = ap.parse_args()
req = ipaddress.ip_address(a.request)
if not any(req in n for n in LAB):
    raise SystemExit(f'refusing to ask for {a.request}: not a lab address')
if not 0 < a.count <= 1_000_000:
    raise SystemExit('count must be 1..1000000')
if not 0 <= a.seconds <= 60:
    raise SystemExit('seconds must be 0..60')

def csum(b):
    if len(b) % 2:
        b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff

name = a.hostname.encode()[:63]
opts = bytes([53, 1, 3, 50, 4]) + req.packed + bytes([55, 4, 1, 3, 6, 15])
if name:
    opts += bytes([12, len(name)]) + name
opts += b'\xff'
rng = random.Random(1)

sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
sock.bind((a.dev, 0))
sent = errors = 0
t0 = time.time()
for i in range(a.count):
    # Paced: every 1000 requests, wait until their share of the time has passed.
    if a.seconds and i % 1000 == 0:
        ahead = t0 + a.seconds * i / a.count - time.time()
        if ahead > 0:
            time.sleep(ahead)
    mac = bytes([0x00, 0x16, 0x3e, (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff])
    bootp = struct.pack('!BBBBIHH4s4s4s4s16s64s128s', 1, 1, 6, 0, rng.getrandbits(32), 0, 0x8000,
                        bytes(4), bytes(4), bytes(4), bytes(4), mac + bytes(10), bytes(64), bytes(128))
    payload = bootp + b'\x63\x82\x53\x63' + opts
    udp = struct.pack('!HHHH', 68, 67, 8 + len(payload), 0) + payload  # checksum 0: none (IPv4)
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), i & 0xffff, 0, 64, 17, 0, bytes(4), b'\xff' * 4)
    ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
    try:
        sock.send(b'\xff' * 6 + mac + b'\x08\x00' + ip + udp)
        sent += 1
    except OSError:
        errors += 1  # a full device queue: go on
print(json.dumps({'sent': sent, 'errors': errors, 'seconds': round(time.time() - t0, 2)}))
