// HTTP User-Agent from a cleartext request's bytes → OS and browser hints (reduced UAs carry no exact OS version).

export interface UaFind {
  userAgent: string;
  os?: { name: string; family: string; version?: string };
  browser?: { product: string; version: string };
  /** Chrome's reduced UA freezes the OS version (Windows NT 10.0, Android 10, macOS 10_15_7). */
  frozen: boolean;
}

const MAX_HEAD = 8192;

/** Extracts the User-Agent header from the head of an HTTP/1.x request; undefined when there is none. */
export function userAgentFromRequest(bytes: Uint8Array): string | undefined {
  const n = Math.min(bytes.length, MAX_HEAD);
  let head = '';
  for (let i = 0; i < n; i++) head += String.fromCharCode(bytes[i]);
  if (!/^[A-Z]{3,10} \S+ HTTP\/1\.[01]\r\n/.test(head)) return undefined;
  const end = head.indexOf('\r\n\r\n');
  for (const line of (end >= 0 ? head.slice(0, end) : head).split('\r\n').slice(1)) {
    const c = line.indexOf(':');
    if (c > 0 && line.slice(0, c).trim().toLowerCase() === 'user-agent') {
      return line
        .slice(c + 1)
        .trim()
        .replace(/[^\x20-\x7e]/g, '');
    }
  }
  return undefined;
}

const WINDOWS: Record<string, string> = {
  '10.0': '10/11',
  '6.3': '8.1',
  '6.2': '8',
  '6.1': '7',
  '6.0': 'Vista',
  '5.1': 'XP',
};

function osOf(ua: string): { os?: UaFind['os']; frozen: boolean } {
  const win = /Windows NT (\d+\.\d+)/.exec(ua);
  if (win) {
    return {
      os: { name: `Windows ${WINDOWS[win[1]] ?? win[1]}`, family: 'Windows', version: win[1] },
      frozen: win[1] === '10.0',
    };
  }
  const android = /Android (\d+(?:\.\d+)*)/.exec(ua);
  if (android) {
    return {
      os: { name: `Android ${android[1]}`, family: 'Android', version: android[1] },
      frozen: /Android 10; K\)/.test(ua),
    };
  }
  const ios = /(?:iPhone|CPU) OS (\d+(?:_\d+)*)/.exec(ua);
  if (ios) {
    const v = ios[1].replace(/_/g, '.');
    return { os: { name: `iOS ${v}`, family: 'iOS', version: v }, frozen: false };
  }
  const mac = /Mac OS X (\d+(?:[._]\d+)*)/.exec(ua);
  if (mac) {
    const v = mac[1].replace(/_/g, '.');
    return { os: { name: `macOS ${v}`, family: 'macOS', version: v }, frozen: v === '10.15.7' };
  }
  if (/Linux/.test(ua)) return { os: { name: 'Linux', family: 'Linux' }, frozen: false };
  return { frozen: false };
}

const BROWSERS: Array<[RegExp, string]> = [
  [/Firefox\/(\d+(?:\.\d+)*)/, 'firefox'],
  [/Edg\/(\d+(?:\.\d+)*)/, 'edge_chromium'],
  [/Chrome\/(\d+(?:\.\d+)*)/, 'chrome'],
  [/Version\/(\d+(?:\.\d+)*).*Safari\//, 'safari'],
  [/^curl\/(\d+(?:\.\d+)*)/, 'curl'],
];

/** Reads OS and browser out of a User-Agent string. */
export function parseUserAgent(ua: string): UaFind {
  const { os, frozen } = osOf(ua);
  const out: UaFind = { userAgent: ua.slice(0, 512), frozen };
  if (os) out.os = os;
  for (const [re, product] of BROWSERS) {
    const m = re.exec(ua);
    if (m) {
      out.browser = { product, version: m[1] };
      break;
    }
  }
  return out;
}
