#!/usr/bin/env python3
"""Timed legitimate clients for the lab's flood tests: sequential HTTP fetches of one small file,
each recorded with its start (wall-clock ms, to line up with the flood's start), its connect time
(SYN sent until connect() returned) and its outcome. Bounded in time (<= 60 s) and count.

usage: legit_timed.py --dst ADDR --port N --path /small.bin [--seconds S] [--count N]
                      [--gap-ms MS] [--timeout S]
Prints one JSON line: {"fetches": [[start_ms, connect_ms, total_ms, ok], ...]}
(connect_ms/total_ms -1: not connected / not finished within the timeout).
"""
import argparse, json, select, socket, sys, time

ap = argparse.ArgumentParser()
ap.add_argument('--dst', required=True)
ap.add_argument('--port', type=int, required=True)
ap.add_argument('--path', default='/small.bin')
ap.add_argument('--seconds', type=float, default=5)
ap.add_argument('--count', type=int, default=1000)
ap.add_argument('--gap-ms', type=float, default=20)
ap.add_argument('--timeout', type=float, default=3)
a = ap.parse_args()
if not 0 < a.seconds <= 60 or not 0 < a.count <= 10000:
    sys.exit('bounded: 0 < seconds <= 60, count <= 10000')

fam = socket.AF_INET6 if ':' in a.dst else socket.AF_INET
req = f'GET {a.path} HTTP/1.0\r\nHost: x\r\n\r\n'.encode()


def one():
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setblocking(False)
    t0 = time.monotonic()
    conn = total = -1.0
    ok = False
    try:
        s.connect_ex((a.dst, a.port))
        deadline = t0 + a.timeout
        _, w, _ = select.select([], [s], [], a.timeout)
        if w and s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
            conn = (time.monotonic() - t0) * 1000
            s.sendall(req)
            data = b''
            while time.monotonic() < deadline:
                r, _, _ = select.select([s], [], [], max(0, deadline - time.monotonic()))
                if not r:
                    break
                chunk = s.recv(65536)
                if not chunk:
                    ok = data.startswith(b'HTTP/1.0 200') or data.startswith(b'HTTP/1.1 200')
                    total = (time.monotonic() - t0) * 1000
                    break
                data += chunk
    except OSError:
        pass
    finally:
        s.close()
    return conn, total, ok


out = []
end = time.monotonic() + a.seconds
while time.monotonic() < end and len(out) < a.count:
    start = time.time() * 1000
    conn, total, ok = one()
    out.append([round(start, 1), round(conn, 3), round(total, 3), ok])
    time.sleep(a.gap_ms / 1000)
print(json.dumps({'fetches': out}))
