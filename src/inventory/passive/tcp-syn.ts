// p0f v3-style TCP SYN signature (`ver:ittl:olen:mss:wsize,scale:olayout:quirks:pclass`) from parsed fields.

export type TcpOptionKind = 'mss' | 'nop' | 'ws' | 'sok' | 'sack' | 'ts' | 'eol' | `?${number}`;

/** What the dataplane already has after parsing a SYN (no bytes needed here). */
export interface SynFields {
  ipVersion: 4 | 6;
  ttl: number;
  /** IPv4 options length in bytes (0 for IPv6). */
  ipOptionsLength: number;
  mss?: number;
  window: number;
  wscale?: number;
  options: TcpOptionKind[];
  df: boolean;
  /** IPv4 id is non-zero while DF is set (p0f "id+"). */
  ipIdNonZero: boolean;
  payloadLength: number;
}

/** Initial TTL: the next common start value at or above the observed one. */
export function initialTtl(ttl: number): number {
  for (const t of [32, 64, 128, 255]) if (ttl <= t) return t;
  return 255;
}

/** Builds the signature string p0f databases are written in. */
export function synSignature(f: SynFields): string {
  const quirks: string[] = [];
  if (f.ipVersion === 4) {
    if (f.df) quirks.push('df');
    if (f.df && f.ipIdNonZero) quirks.push('id+');
    if (!f.df && !f.ipIdNonZero) quirks.push('id-');
  }
  let wsize = String(f.window);
  if (f.mss && f.window % f.mss === 0 && f.window / f.mss <= 64) wsize = `mss*${f.window / f.mss}`;
  const scale = f.wscale ?? '*';
  return [
    f.ipVersion,
    initialTtl(f.ttl),
    f.ipOptionsLength,
    f.mss ?? '*',
    `${wsize},${scale}`,
    f.options.join(','),
    quirks.join(','),
    f.payloadLength > 0 ? '+' : '0',
  ].join(':');
}

interface Label {
  sig: RegExp;
  name: string;
  family: string;
}

/** A handful of well-known shapes; matched against the signature with the version field as '*'. */
const LABELS: Label[] = [
  {
    // Window scale 7 with the default tcp_rmem, 8–10 with larger buffers (p0f lists 7 and 10).
    sig: /^4:64:0:\d+:mss\*(10|20|44|45),([7-9]|10):mss,sok,ts,nop,ws:df,id\+:0$/,
    name: 'Linux 3.x+',
    family: 'Linux',
  },
  {
    sig: /^6:64:0:\d+:mss\*(10|20|44|45),([7-9]|10):mss,sok,ts,nop,ws::0$/,
    name: 'Linux 3.x+',
    family: 'Linux',
  },
  {
    sig: /^4:128:0:\d+:(8192|64240|65535|mss\*44),8:mss,nop,ws,nop,nop,sok:df,id\+:0$/,
    name: 'Windows 10/11',
    family: 'Windows',
  },
  {
    sig: /^4:64:0:\d+:65535,6:mss,nop,ws,nop,nop,ts,sok,eol(,eol)*:df,id\+:0$/,
    name: 'macOS/iOS',
    family: 'Darwin',
  },
];

/** An OS label for a signature, with p0f's caution: a guess (confidence 30). */
export function synOsGuess(sig: string): { name: string; family: string; confidence: number } | undefined {
  const hit = LABELS.find((l) => l.sig.test(sig));
  return hit ? { name: hit.name, family: hit.family, confidence: 30 } : undefined;
}
