// A real nmap version scan from the router namespace, bounded in time, written as nmap XML.
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
