#!/usr/bin/env python3
"""An L3 uplink for the lab, as WireGuard or PPPoE is one: IP packets without a link-layer header.

Attaches to the TUN device --tun (made beforehand with `ip tuntap add mode tun`) and carries each
packet it reads in one UDP datagram to --peer, and each datagram from --peer back into the TUN. Two
of these, one per namespace, make a point-to-point link (the kernel has no ipip/gre/wireguard here).

Only lab addresses are accepted for --local and --peer (198.51.100.0/24, 192.0.2.0/24,
203.0.113.0/24). Runs until killed, or --seconds (<= 600).

usage: l3relay.py --tun NAME --local ADDR:PORT --peer ADDR:PORT [--seconds S]
"""
import argparse, fcntl, ipaddress, os, select, socket, struct, sys, time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
LAB = [ipaddress.ip_network(n) for n in ('198.51.100.0/24', '192.0.2.0/24', '203.0.113.0/24')]
MAX_SECONDS = 600


def endpoint(text):
    host, _, port = text.rpartition(':')
    if not any(ipaddress.ip_address(host) in n for n in LAB):
        sys.exit(f'l3relay: {host} is not a lab address')
    return host, int(port)


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--tun', required=True)
    p.add_argument('--local', required=True, type=endpoint)
    p.add_argument('--peer', required=True, type=endpoint)
    p.add_argument('--seconds', type=float, default=MAX_SECONDS)
    a = p.parse_args()
    tun = os.open('/dev/net/tun', os.O_RDWR)
    fcntl.ioctl(tun, TUNSETIFF, struct.pack('16sH', a.tun.encode(), IFF_TUN | IFF_NO_PI))
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    udp.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    udp.bind(a.local)
    end = time.monotonic() + min(a.seconds, MAX_SECONDS)
    print('ready', flush=True)
    while time.monotonic() < end:
        ready, _, _ = select.select([tun, udp], [], [], 0.5)
        if tun in ready:
            try:
                udp.sendto(os.read(tun, 65536), a.peer)
            except OSError:
                pass  # the peer not there yet: as a real link, the packet is lost
        if udp in ready:
            data, src = udp.recvfrom(65536)
            if src == a.peer:
                os.write(tun, data)


if __name__ == '__main__':
    main()
