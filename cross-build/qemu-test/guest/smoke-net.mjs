// The guest's network probes (node builtins only, run by smoke.sh):
//   serve <addr> <port> <ready-file>   TCP echo server; logs each peer, touches ready-file when listening
//   connect <addr> <port> <bytes>      sends random bytes, expects the same bytes echoed back
//   hold <addr> <port> <seconds>       one connection kept busy: 32 KiB every 100 ms, all echoed back
//   api <state-dir> <established>      the daemon's API: refuses no/bad token, answers with the token,
//                                      and its counters show a SYN-proxy handshake beyond <established>
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

if (cmd === 'serve' && args.length === 3) serve(...args);
else if (cmd === 'connect' && args.length === 3) connectProbe(...args);
else if (cmd === 'hold' && args.length === 3) holdProbe(...args);
else if (cmd === 'api' && args.length === 2)
  await apiProbe(...args).catch((err) => fail(`api: ${err.message}`));
else fail(`usage: smoke-net.mjs serve|connect|hold|api ... (got: ${process.argv.slice(2).join(' ')})`);
