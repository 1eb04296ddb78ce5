// A LAN service nmap recognises, and a real nmap version scan of it from the router namespace,
// bounded in time, written as nmap XML.
import { ADDR, type Lab } from './lab.js';

/** `nmap -sV` of one port of the LAN host into `xml`; returns nmap's exit code and stderr. */
export function scanLanPort(lab: Lab, port: number, xml: string) {
  return lab.exec(
    lab.ns.rtr,
    'nmap',
    [
      '-sV',
      '-Pn',
      '-n',
      '-p',
      String(port),
      '--max-retries',
      '1',
      '--host-timeout',
      '30s',
      '-oX',
      xml,
      ADDR.lan4,
    ],
    40_000,
  );
}

/**
 * `node -e NGINX_LIKE_JS <host> <port>`: an HTTP server that names itself nginx 1.18.0 (what nmap -sV
 * then reports; NVD: CVE-2021-23017). Prints 'listening' when ready.
 */
export const NGINX_LIKE_JS = `
const http = require('node:http');
const [host, port] = process.argv.slice(1);
http.createServer((_q, s) => { s.setHeader('Server', 'nginx/1.18.0'); s.end('ok'); })
  .listen(Number(port), host, () => console.log('listening'));
`;
