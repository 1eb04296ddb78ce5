// The guest's network probes (node builtins only, run by smoke.sh):
//   serve <addr> <port> <ready-file>   TCP echo server; logs each peer, touches ready-file when listening
//   connect <addr> <port> <bytes>      sends random bytes, expects the same bytes echoed back
//   hold <addr> <port> <seconds>       one connection kept busy: 32 KiB every 100 ms, all echoed back
//   api <state-dir> <established>      the daemon's API: refuses no/bad token, answers with the token,
//                                      and its counters show a SYN-proxy handshake beyond <established>
//   bulk-serve <addr> <port> <ready-file>  the offload bench's peer (bench-offload.sh): per connection
//                                      a header line says what to do: 'up' sink and count, 'ctl'
//                                      answer each byte with the count so far and the time, 'down'
//                                      send until closed; 'rr' echo
//   bulk <addr> <port> <warm-ms> <ms> <row>...  the bench's LAN client, one JSON line per row (up1,
//                                      down1, up4, down4: Mbit/s over the window; rr: request/response
//                                      p50, µs) with each connection's conntrack state at the window's
//                                      start and end, read from the router's namespace (/proc/1/net)
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';

const [cmd, ...args] = process.argv.slice(2);
const fail = (msg) => {
  console.log(`probe: ${msg}`);
  process.exit(1);
};
const sha = (buf) => createHash('sha256').update(buf).digest('hex');

function serve(addr, port, readyFile) {
  const server = createServer((sock) => {
    console.log(`peer ${sock.remoteAddress}:${sock.remotePort}`);
    sock.pipe(sock);
    sock.on('error', () => sock.destroy());
  });
  server.listen(Number(port), addr, () => writeFileSync(readyFile, `${process.pid}\n`));
}

function connectProbe(addr, port, bytes) {
  const data = randomBytes(Number(bytes));
  const started = Date.now();
  const chunks = [];
  let got = 0;
  const timer = setTimeout(() => fail(`timeout: ${got} of ${data.length} bytes echoed in 15 s`), 15_000);
  const sock = connect({ host: addr, port: Number(port) }, () => sock.end(data));
  sock.on('data', (c) => {
    chunks.push(c);
    got += c.length;
  });
  sock.on('error', (err) => fail(`connect ${addr}:${port}: ${err.message}`));
  sock.on('close', () => {
    clearTimeout(timer);
    const back = Buffer.concat(chunks);
    if (back.length !== data.length || sha(back) !== sha(data))
      fail(`echo differs: sent ${data.length} bytes, got ${back.length} (sha ${sha(back).slice(0, 12)})`);
    console.log(`echo ok: ${data.length} bytes in ${Date.now() - started} ms`);
  });
}

function holdProbe(addr, port, seconds) {
  const sent = [];
  const chunks = [];
  let got = 0;
  const started = Date.now();
  const timer = setTimeout(() => fail(`hold timeout: ${got} bytes echoed`), (Number(seconds) + 15) * 1000);
  const sock = connect({ host: addr, port: Number(port) }, () => {
    const tick = setInterval(() => {
      if (Date.now() - started >= Number(seconds) * 1000) {
        clearInterval(tick);
        sock.end();
        return;
      }
      const c = randomBytes(32768);
      sent.push(c);
      sock.write(c);
    }, 100);
  });
  sock.on('data', (c) => {
    chunks.push(c);
    got += c.length;
  });
  sock.on('error', (err) => fail(`hold ${addr}:${port}: ${err.message}`));
  sock.on('close', () => {
    clearTimeout(timer);
    const out = Buffer.concat(sent);
    const back = Buffer.concat(chunks);
    if (back.length !== out.length || sha(back) !== sha(out))
      fail(`hold: echo differs: sent ${out.length} bytes, got ${back.length}`);
    console.log(`hold ok: ${out.length} bytes over ${Date.now() - started} ms`);
  });
}

async function get(url, token) {
  const headers = token === undefined ? {} : { authorization: `Bearer ${token}` };
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: await res.text() };
}

async function apiProbe(stateDir, establishedBefore) {
  const info = JSON.parse(readFileSync(join(stateDir, 'api.json'), 'utf8'));
  const base = info.urls?.[0];
  if (!base) fail(`api.json lists no URL: ${JSON.stringify(info)}`);
  const token = readFileSync(info.tokenFile, 'utf8').trim();
  const url = `${base}/api/v1/status`;
  const none = await get(url);
  if (none.status !== 401) fail(`GET ${url} without a token answered ${none.status}, not 401`);
  const wrong = await get(url, `x${token}`);
  if (wrong.status !== 401) fail(`GET ${url} with a wrong token answered ${wrong.status}, not 401`);
  // The dataplane's counters reach the control plane about once a second: poll a few times.
  let s;
  for (let i = 0; i < 10; i++) {
    const r = await get(url, token);
    if (r.status !== 200) fail(`GET ${url} with the token answered ${r.status}: ${r.body.slice(0, 200)}`);
    s = JSON.parse(r.body);
    if ((s.counters?.synproxy_conn_established ?? 0) > Number(establishedBefore)) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  const c = s.counters ?? {};
  if (!(c.synproxy_conn_established > Number(establishedBefore)))
    fail(`API counters show no new SYN-proxied connection: ${JSON.stringify(c)}`);
  if (!(c.synproxy_cookie_valid >= 1)) fail(`API counters show no valid cookie ACK: ${JSON.stringify(c)}`);
  console.log(
    `api ok: ${url} 401 without/with a wrong token, 200 with it; version ${s.version}; ` +
      `synproxy_conn_established ${establishedBefore} -> ${c.synproxy_conn_established}, ` +
      `cookie_valid ${c.synproxy_cookie_valid}, rx_packets ${c.rx_packets}`,
  );
}

// --- the offload bench (bench-offload.sh) ------------------------------------------------------

/** One buffer for every write: the generator must cost the guest's CPU as little as it can. */
const BULK_CHUNK = Buffer.alloc(65536, 0x5a);

/** Writes BULK_CHUNK until the socket closes, waiting for 'drain' whenever the kernel is full. */
function pump(sock) {
  const more = () => {
    while (!sock.destroyed && sock.write(BULK_CHUNK));
  };
  sock.on('drain', more);
  more();
}

/** Bytes the bench's peer received on all its 'up' connections (read through a 'ctl' connection). */
let upBytes = 0;

function bulkServe(addr, port, readyFile) {
  const server = createServer((sock) => {
    sock.setNoDelay(true);
    sock.on('error', () => sock.destroy());
    let head = '';
    const onHead = (c) => {
      head += c.toString('latin1');
      const nl = head.indexOf('\n');
      if (nl < 0) return;
      sock.off('data', onHead);
      const what = head.slice(0, nl);
      const rest = Buffer.from(head.slice(nl + 1), 'latin1');
      if (what === 'down') pump(sock);
      else if (what === 'rr') {
        sock.on('data', (d) => sock.write(d));
        if (rest.length) sock.write(rest);
      } else if (what === 'up') {
        upBytes += rest.length;
        sock.on('data', (d) => {
          upBytes += d.length;
        });
      } else if (what === 'ctl') {
        // The up rows' window: the client asks for the bytes received so far, at its start and end.
        sock.on('data', () => sock.write(`${upBytes} ${performance.now().toFixed(3)}\n`));
      } else sock.destroy();
    };
    sock.on('data', onHead);
  });
  server.listen(Number(port), addr, () => writeFileSync(readyFile, `${process.pid}\n`));
}

/**
 * Conntrack state of each local port's flow to <port> in the router's namespace (pid 1's). A listing
 * of /proc/net/nf_conntrack is not atomic and once missed a live entry (a tunguard run's rr flow,
 * 'none' at the window's start, [OFFLOAD] at its end, no packet on the slow path): a flow missing
 * from one listing is looked for in up to two more.
 */
function ctStates(localAddr, port, lports) {
  let states = [];
  for (let i = 0; i < 3; i++) {
    states = ctListing(localAddr, port, lports);
    if (!states.includes('none')) break;
  }
  return states;
}

function ctListing(localAddr, port, lports) {
  let lines;
  try {
    lines = readFileSync('/proc/1/net/nf_conntrack', 'utf8').split('\n');
  } catch (err) {
    return lports.map(() => `unreadable (${err.code})`);
  }
  return lports.map((lp) => {
    const l = lines.find((x) => x.includes(`src=${localAddr} `) && x.includes(` sport=${lp} dport=${port} `));
    if (!l) return 'none';
    if (l.includes('[OFFLOAD]')) return 'OFFLOAD';
    return (
      l.match(/ (ESTABLISHED|SYN_SENT|SYN_RECV|FIN_WAIT|CLOSE_WAIT|LAST_ACK|TIME_WAIT|CLOSE) /)?.[1] ??
      'other'
    );
  });
}

/**
 * Where the measured connections' packets went, read in the router's namespace: the packets that
 * met the forward hook (bench-offload.sh's counters ob_up, ob_down, for the peer's port), the
 * packets on the TUN (OB_TUN, tg0: absent while no daemon runs) and all packets on wan0
 * (/proc/1/net/dev). A flow offloaded past tunguard does neither. [OFFLOAD] and a quiet forward
 * hook do not show that: with the daemon's --no-bypass every packet crosses the TUN and is offloaded
 * all the same (the TUN's program puts LAN→WAN packets back into lan0's receive path, where the
 * flowtable takes them; WAN→LAN ones, offloaded out of lan0, meet its egress program).
 */
function paths() {
  let slowUp = Number.NaN;
  let slowDown = Number.NaN;
  try {
    const j = JSON.parse(
      execFileSync(
        'nsenter',
        ['-t', '1', '-n', 'nft', '-j', 'list', 'counters', 'table', 'inet', 'tgbench'],
        {
          encoding: 'utf8',
        },
      ),
    );
    for (const o of j.nftables) {
      if (o.counter?.name === 'ob_up') slowUp = o.counter.packets;
      if (o.counter?.name === 'ob_down') slowDown = o.counter.packets;
    }
  } catch (err) {
    fail(`bulk: the slow-path counters (nft in the router's namespace): ${err.message}`);
  }
  const devs = readFileSync('/proc/1/net/dev', 'utf8').split('\n');
  /** rx + tx packets of one device; 0 when it does not exist. */
  const packets = (name) => {
    const l = devs.find((x) => x.trim().startsWith(`${name}:`));
    if (!l) return 0;
    const f = l.split(':')[1].trim().split(/\s+/).map(Number);
    return f[1] + f[9];
  };
  if (!devs.some((x) => x.trim().startsWith('wan0:'))) fail('bulk: no wan0 in /proc/1/net/dev');
  return { slowUp, slowDown, tun: packets(process.env.OB_TUN || 'tg0'), wan0: packets('wan0') };
}

/** The window's packets: slow-path ones each way, the TUN's, and wan0's all told. */
const pathDelta = (a, b) => ({
  slowUp: b.slowUp - a.slowUp,
  slowDown: b.slowDown - a.slowDown,
  tun: b.tun - a.tun,
  wan0: b.wan0 - a.wan0,
});

const sleepMs = (ms) => new Promise((r) => setTimeout(r, ms));

function openConns(addr, port, n, header) {
  return Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise((resolve, reject) => {
          const sock = connect({ host: addr, port: Number(port) }, () => {
            sock.setNoDelay(true);
            sock.write(header);
            resolve(sock);
          });
          sock.once('error', reject);
        }),
    ),
  );
}

/** One bulk row: n streams up (LAN → WAN) or down; Mbit/s over the window, counted by the receiver. */
async function bulkRow(addr, port, warm, ms, dir, n) {
  // Up: the peer counts what it received; a control connection reads its count at the window's
  // start and end (the data connections are full one way, the peer's clock times the window).
  const [ctl] = dir === 'up' ? await openConns(addr, port, 1, 'ctl\n') : [];
  const peerCount = () =>
    new Promise((resolve) => {
      ctl.once('data', (d) => resolve(d.toString().trim().split(' ').map(Number)));
      ctl.write('?');
    });
  const socks = await openConns(addr, port, n, dir === 'up' ? 'up\n' : 'down\n');
  const lports = socks.map((s) => s.localPort);
  const local = socks[0].localAddress;
  let bytes = 0;
  let counting = false;
  for (const s of socks) {
    if (dir === 'up') pump(s);
    else
      s.on('data', (d) => {
        if (counting) bytes += d.length;
      });
  }
  await sleepMs(warm);
  const start = ctStates(local, port, lports);
  const p0 = paths();
  const c0 = dir === 'up' ? await peerCount() : undefined;
  const t0 = performance.now();
  counting = true;
  await sleepMs(ms);
  counting = false;
  const c1 = dir === 'up' ? await peerCount() : undefined;
  const elapsed = performance.now() - t0;
  const p1 = paths();
  const end = ctStates(local, port, lports);
  for (const s of socks) s.destroy();
  ctl?.destroy();
  const mbps =
    dir === 'up' ? ((c1[0] - c0[0]) * 8) / ((c1[1] - c0[1]) * 1000) : (bytes * 8) / (elapsed * 1000);
  return { mbps: Number(mbps.toFixed(2)), start, end, packets: pathDelta(p0, p1) };
}

/** Request/response over one connection: 1 byte each way, p50 of the window's round trips (µs). */
async function rrRow(addr, port, warm, ms) {
  const [sock] = await openConns(addr, port, 1, 'rr\n');
  const rtts = [];
  let t0 = 0;
  let measuring = false;
  let stop = false;
  const one = Buffer.from('x');
  const finished = new Promise((resolve) => {
    sock.on('data', () => {
      const t = performance.now();
      if (measuring) rtts.push((t - t0) * 1000);
      if (stop) return resolve();
      t0 = performance.now();
      sock.write(one);
    });
  });
  t0 = performance.now();
  sock.write(one);
  await sleepMs(warm);
  const start = ctStates(sock.localAddress, port, [sock.localPort]);
  const p0 = paths();
  measuring = true;
  await sleepMs(ms);
  measuring = false;
  const p1 = paths();
  const end = ctStates(sock.localAddress, port, [sock.localPort]);
  stop = true;
  await finished;
  sock.destroy();
  rtts.sort((a, b) => a - b);
  if (!rtts.length) fail('rr: no round trip in the window');
  return {
    p50us: Math.round(rtts[Math.floor(rtts.length / 2)]),
    n: rtts.length,
    start,
    end,
    packets: pathDelta(p0, p1),
  };
}

async function bulk(addr, port, warm, ms, rows) {
  for (const row of rows) {
    const m = /^(up|down)([14])$/.exec(row);
    let r;
    if (m) r = await bulkRow(addr, port, Number(warm), Number(ms), m[1], Number(m[2]));
    else if (row === 'rr') r = await rrRow(addr, port, Number(warm), Number(ms));
    else fail(`bulk: unknown row '${row}' (up1 down1 up4 down4 rr)`);
    console.log(JSON.stringify({ row, ...r }));
  }
}

if (cmd === 'serve' && args.length === 3) serve(...args);
else if (cmd === 'connect' && args.length === 3) connectProbe(...args);
else if (cmd === 'hold' && args.length === 3) holdProbe(...args);
else if (cmd === 'bulk-serve' && args.length === 3) bulkServe(...args);
else if (cmd === 'bulk' && args.length >= 5)
  await bulk(args[0], args[1], args[2], args[3], args.slice(4)).catch((err) => fail(`bulk: ${err.message}`));
else if (cmd === 'api' && args.length === 2)
  await apiProbe(...args).catch((err) => fail(`api: ${err.message}`));
else
  fail(
    `usage: smoke-net.mjs serve|connect|hold|api|bulk-serve|bulk ... (got: ${process.argv.slice(2).join(' ')})`,
  );
