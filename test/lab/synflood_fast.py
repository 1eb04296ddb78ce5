#!/usr/bin/env python3
"""Fast bounded SYN flood for the lab benchmark (bench/synflood): raw-socket SYNs sent in batches with
sendmmsg(2) (through ctypes) from several processes.

IPv4 destination: sources drawn at random from 198.18.0.0/15 (the benchmark range).
IPv6 destination: sources from 2001:db8:100::/40 (inside 2001:db8::/32, away from the lab's own
/64s); with --distinct every SYN has a source of its own: source i is 2001:db8:1XX:XXXX:<random>/128,
i.e. a distinct /64 as well, for i = 0 .. count-1 (spread over the processes).

Only lab destinations are accepted (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8:1::/64,
2001:db8:2::/64, 2001:db8:3::/64: the WAN host's, for a flood from the LAN side),
and the flood is bounded in time (<= 300 s) and count (<= 50 M).

usage: synflood_fast.py --dst ADDR --port N [--rate PPS] [--seconds S] [--count N] [--procs P]
                        [--sources N] [--distinct [--start-index I]] [--src64 PREFIX] [--batch B]
                        [--pool N] [--proto tcp|icmp|udp]
rate 0 = as fast as possible. Prints one JSON line: {"sent", "errors", "seconds", "procs", ...}.

--pool N builds N packets once (random sources, ports, sequence numbers) and sends them over and over:
no per-packet work in Python, so the kernel's send path, not this script, sets the rate. --proto icmp
(echo requests) and udp (16-byte datagrams to --port) are IPv4 only and always use a pool.
"""
import argparse, ctypes, ipaddress, json, os, random, socket, struct, sys, time

LAB_DST = [ipaddress.ip_network(n) for n in
           ('192.0.2.0/24', '198.51.100.0/24', '203.0.113.0/24', '2001:db8:1::/64', '2001:db8:2::/64',
            '2001:db8:3::/64')]
MAX_SECONDS = 300
MAX_COUNT = 50_000_000

ap = argparse.ArgumentParser()
ap.add_argument('--dst', required=True)
ap.add_argument('--port', type=int, required=True)
ap.add_argument('--rate', type=float, default=0)
ap.add_argument('--seconds', type=float, default=5)
ap.add_argument('--count', type=int, default=0, help='stop after this many SYNs in all (0: time only)')
ap.add_argument('--procs', type=int, default=1)
ap.add_argument('--sources', type=int, default=1 << 17, help='IPv4: distinct sources used (<= 2^17)')
ap.add_argument('--distinct', action='store_true', help='IPv6: every SYN from a source of its own')
ap.add_argument('--batch', type=int, default=256)
ap.add_argument('--start-index', type=int, default=0, help='IPv6 --distinct: first source index')
ap.add_argument('--src64', help='IPv6: sources in this /64 (a lab one), random interface ids')
ap.add_argument('--pool', type=int, default=0, help='send N prebuilt packets cyclically (0: build each one)')
ap.add_argument('--proto', choices=('tcp', 'icmp', 'udp'), default='tcp')
a = ap.parse_args()

dst_ip = ipaddress.ip_address(a.dst)
if not any(dst_ip in n for n in LAB_DST):
    sys.exit(f'refusing to flood {a.dst}: not a lab address')
if not 0 < a.seconds <= MAX_SECONDS or not 0 <= a.count <= MAX_COUNT:
    sys.exit('flood must be bounded: 0 < seconds <= %d, count <= %d' % (MAX_SECONDS, MAX_COUNT))
V6 = dst_ip.version == 6
if V6 and a.distinct and a.count == 0:
    sys.exit('--distinct needs --count')
if V6 and a.distinct and a.start_index + a.count > 1 << 24:
    sys.exit('--distinct supports source indices below 2^24')
nsrc = max(1, min(a.sources, 1 << 17))
SRC64 = None
if a.src64:
    net = ipaddress.ip_network(a.src64 + '/64', strict=False)
    if not V6 or a.distinct or not net.subnet_of(ipaddress.ip_network('2001:db8::/32')):
        sys.exit('--src64 needs an IPv6 destination, no --distinct, and a prefix in 2001:db8::/32')
    SRC64 = struct.unpack('!II', net.network_address.packed[:8])
if a.proto != 'tcp':
    if V6:
        sys.exit('--proto icmp/udp: IPv4 destinations only')
    a.pool = a.pool or 1 << 16
if a.pool and (a.distinct or not 1 <= a.pool <= 1 << 17):
    sys.exit('--pool takes 1 .. 131072 packets, and no --distinct (a pool repeats its sources)')
B = max(1, min(a.batch, 1024))
procs = max(1, a.procs)

libc = ctypes.CDLL(None, use_errno=True)


class IOVec(ctypes.Structure):
    _fields_ = [('base', ctypes.c_void_p), ('len', ctypes.c_size_t)]


class MsgHdr(ctypes.Structure):
    _fields_ = [('name', ctypes.c_void_p), ('namelen', ctypes.c_uint32), ('iov', ctypes.POINTER(IOVec)),
                ('iovlen', ctypes.c_size_t), ('control', ctypes.c_void_p), ('controllen', ctypes.c_size_t),
                ('flags', ctypes.c_int)]


class MMsgHdr(ctypes.Structure):
    _fields_ = [('hdr', MsgHdr), ('len', ctypes.c_uint)]


libc.sendmmsg.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int]
libc.sendmmsg.restype = ctypes.c_int


def fold(s):
    s = (s & 0xffff) + (s >> 16)
    s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def words(b):
    return sum(struct.unpack('!%dH' % (len(b) // 2), b))


def worker(idx, wfd):
    rng = random.Random()
    dst_b = dst_ip.packed
    opts = b'\x02\x04\x05\xb4' if not V6 else b'\x02\x04\x05\xa0'  # MSS 1460 / 1440
    # The layer-4 header and payload: a SYN with MSS, or (pool only) an echo request / a datagram.
    tcp_len = 20 + len(opts) if a.proto == 'tcp' else 8 + 16
    ipproto = {'tcp': 6, 'icmp': 1, 'udp': 17}[a.proto]
    if V6:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)
        hlen = 40
        sa = struct.pack('<H', socket.AF_INET6) + struct.pack('!HI', 0, 0) + dst_b + struct.pack('<I', 0)
        # pseudo-header constant part: dst, upper-layer length, next header
        const = words(dst_b) + tcp_len + 6
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        hlen = 20
        sa = struct.pack('<H', socket.AF_INET) + struct.pack('!H', 0) + dst_b + b'\0' * 8
        const = words(dst_b) + ipproto + tcp_len
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
    except OSError:
        pass
    # constant TCP words: dport, data offset/flags (SYN), window, urgent 0, options; ack 0.
    if a.proto == 'tcp':
        const += a.port + ((((tcp_len // 4) << 12) | 0x02)) + 64240 + words(opts)
    plen = hlen + tcp_len
    P = a.pool or B  # packets in the buffer: the pool, or one batch rebuilt before each send
    buf = ctypes.create_string_buffer(plen * P)
    mv = memoryview(buf).cast('B')
    for k in range(P):
        o = k * plen
        if V6:
            # version 6, payload length, next header TCP, hop limit 64, src filled later, dst
            struct.pack_into('!IHBB16s16s', mv, o, 6 << 28, tcp_len, 6, 64, b'\0' * 16, dst_b)
        else:
            struct.pack_into('!BBHHHBBH4s4s', mv, o, 0x45, 0, plen, 0, 0, 64, ipproto, 0, b'\0' * 4, dst_b)
        if a.proto == 'tcp':
            struct.pack_into('!HHIIBBHHH', mv, o + hlen, 0, a.port, 0, 0, (tcp_len // 4) << 4, 0x02, 64240, 0, 0)
            mv[o + hlen + 20:o + plen] = opts
    sa_buf = ctypes.create_string_buffer(sa, len(sa))
    iovs = (IOVec * P)()
    msgs = (MMsgHdr * P)()
    base_addr = ctypes.addressof(buf)
    msgs_addr = ctypes.addressof(msgs)
    msg_size = ctypes.sizeof(MMsgHdr)
    for k in range(P):
        iovs[k].base = base_addr + k * plen
        iovs[k].len = plen
        msgs[k].hdr.name = ctypes.addressof(sa_buf)
        msgs[k].hdr.namelen = len(sa)
        msgs[k].hdr.iov = ctypes.pointer(iovs[k])
        msgs[k].hdr.iovlen = 1

    v4pack = struct.Struct('!I').pack_into
    tcppack = struct.Struct('!HHI').pack_into  # sport, dport, seq
    csumpack = struct.Struct('!H').pack_into
    v6src = struct.Struct('!IIQ').pack_into  # 2001:0db8, 01 + 24-bit index, interface id
    base4 = 0xC6120000  # 198.18.0.0
    port = a.port
    getrand = rng.getrandbits
    fd = sock.fileno()

    def fill(k):
        nonlocal src_i
        o = k * plen
        r = getrand(88)
        if a.proto != 'tcp':
            src = base4 + ((r >> 48) % nsrc)
            v4pack(mv, o + 12, src)
            if a.proto == 'icmp':  # echo request: type 8, code 0, checksum, id, sequence, zeros
                ident, sq = r & 0xffff, (r >> 16) & 0xffff
                struct.pack_into('!BBHHH', mv, o + hlen, 8, 0, fold(0x0800 + ident + sq), ident, sq)
            else:  # a datagram from a random port; the checksum over the pseudo header
                sport = 1024 + (r & 0xffff) % 64000
                s = const + (src >> 16) + (src & 0xffff) + sport + a.port + tcp_len
                struct.pack_into('!HHHH', mv, o + hlen, sport, a.port, tcp_len, fold(s))
            return
        sport = 1024 + (r & 0xffff) % 64000
        seq = (r >> 16) & 0xffffffff
        if V6:
            w0 = 0x20010db8
            if SRC64:
                w0, hi = SRC64
            elif a.distinct:
                hi = 0x01000000 | (src_i & 0xffffff)
                src_i += procs
            else:
                hi = 0x01000000 | ((r >> 48) & 0xffffff)
            iid = getrand(64)
            v6src(mv, o + 8, w0, hi, iid)
            s = (const + (w0 >> 16) + (w0 & 0xffff) + (hi >> 16) + (hi & 0xffff) + (iid >> 48) + ((iid >> 32) & 0xffff)
                 + ((iid >> 16) & 0xffff) + (iid & 0xffff))
        else:
            src = base4 + ((r >> 48) % nsrc)  # 40 random bits
            v4pack(mv, o + 12, src)
            s = const + (src >> 16) + (src & 0xffff)
        s += sport + (seq >> 16) + (seq & 0xffff)
        tcppack(mv, o + hlen, sport, port, seq)
        csumpack(mv, o + hlen + 16, fold(s))

    # Per-process share of the count and the rate.
    my_count = 0
    if a.count:
        my_count = a.count // procs + (1 if idx < a.count % procs else 0)
    my_rate = a.rate / procs if a.rate > 0 else 0
    sent = 0
    errors = 0
    src_i = a.start_index + idx  # distinct IPv6 sources: start + idx, start + idx + procs, ...
    for k in range(a.pool):
        fill(k)
    pos = 0  # the pool's next packet
    t0 = time.time()
    end = t0 + a.seconds
    while True:
        now = time.time()
        if now >= end or (my_count and sent >= my_count):
            break
        n = B
        if my_count:
            n = min(n, my_count - sent)
        if my_rate > 0:
            allowed = int((now - t0) * my_rate) - sent
            if allowed <= 0:
                time.sleep(min(0.001, end - now))
                continue
            n = min(n, allowed)
        if not a.pool:
            for k in range(n):
                fill(k)
        if a.pool:
            n = min(n, P - pos)
        done = 0
        while done < n:
            r = libc.sendmmsg(fd, msgs_addr + (pos + done) * msg_size, n - done, 0)
            if r < 0:
                errors += n - done
                e = ctypes.get_errno()
                if e not in (105, 11, 4):  # ENOBUFS, EAGAIN, EINTR: the queue is full, go on
                    os.write(wfd, json.dumps({'sent': sent, 'errors': errors, 'fatal': os.strerror(e)}).encode())
                    return
                break
            done += r
        sent += done
        if a.pool:
            pos = (pos + done) % P
    os.write(wfd, json.dumps({'sent': sent, 'errors': errors, 'seconds': time.time() - t0}).encode())


pipes = []
pids = []
t_start = time.time()
for i in range(procs):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        code = 0
        try:
            worker(i, w)
        except BaseException as err:  # report and exit the child whatever happens
            os.write(w, json.dumps({'sent': 0, 'errors': 0, 'fatal': repr(err)}).encode())
            code = 1
        os._exit(code)
    os.close(w)
    pipes.append(r)
    pids.append(pid)
results = []
for r in pipes:
    data = b''
    while True:
        chunk = os.read(r, 4096)
        if not chunk:
            break
        data += chunk
    os.close(r)
    results.append(json.loads(data or b'{"sent": 0, "errors": 0, "fatal": "no report"}'))
for pid in pids:
    os.waitpid(pid, 0)
elapsed = time.time() - t_start
out = {
    'sent': sum(x['sent'] for x in results),
    'errors': sum(x['errors'] for x in results),
    'seconds': elapsed,
    'procs': procs,
    'family': 6 if V6 else 4,
    'distinct': bool(V6 and a.distinct),
    # CPU of the sending processes (waited-for children), seconds
    'cpu_user': os.times().children_user,
    'cpu_sys': os.times().children_system,
}
fatal = [x['fatal'] for x in results if 'fatal' in x]
if fatal:
    out['fatal'] = fatal
print(json.dumps(out))
sys.exit(1 if fatal else 0)
