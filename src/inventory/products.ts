// Known product names as banners spell them → NVD vendor:product, to give passive finds a CPE.

import { wfnString } from './cpe.js';

/** Lower-cased banner product → [vendor, product] as NVD names them. */
const KNOWN: Record<string, [string, string]> = {
  openssh: ['openbsd', 'openssh'],
  dropbear: ['dropbear_ssh_project', 'dropbear_ssh'],
  'dropbear sshd': ['dropbear_ssh_project', 'dropbear_ssh'],
  apache: ['apache', 'http_server'],
  'apache httpd': ['apache', 'http_server'],
  nginx: ['f5', 'nginx'],
  lighttpd: ['lighttpd', 'lighttpd'],
  'microsoft-iis': ['microsoft', 'internet_information_services'],
  'microsoft iis httpd': ['microsoft', 'internet_information_services'],
  openssl: ['openssl', 'openssl'],
  vsftpd: ['beasts', 'vsftpd'],
  proftpd: ['proftpd', 'proftpd'],
  simplehttpserver: ['python', 'python'],
  python: ['python', 'python'],
  postfix: ['postfix', 'postfix'],
  exim: ['exim', 'exim'],
  sendmail: ['sendmail', 'sendmail'],
  'pure-ftpd': ['pureftpd', 'pure-ftpd'],
  'filezilla server': ['filezilla-project', 'filezilla_server'],
  uhttpd: ['openwrt', 'uhttpd'],
  'node.js': ['nodejs', 'node.js'],
  php: ['php', 'php'],
  minidlna: ['readymedia_project', 'readymedia'],
};

/** A CPE 2.3 for a product name and version, when the product is known; undefined otherwise. */
export function cpeForProduct(product: string, version?: string): string | undefined {
  const hit = KNOWN[product.trim().toLowerCase()];
  if (!hit) return undefined;
  const esc = (s: string) => {
    const v = wfnString(s);
    return typeof v === 'string' ? v.replace(/\\([.\-_])/g, '$1') : '*';
  };
  let ver = version ? esc(version) : '*';
  let update = '*';
  // NVD writes OpenSSH 8.9p1 as version 8.9, update p1.
  const m = hit[1] === 'openssh' && version ? /^(\d+(?:\.\d+)*)(p\d+)$/.exec(version) : null;
  if (m) {
    ver = m[1];
    update = m[2];
  }
  return `cpe:2.3:a:${hit[0]}:${esc(hit[1])}:${ver}:${update}:*:*:*:*:*:*`;
}
