// A strict reader of the daemon's log lines, written from the logfmt grammar (as Loki's `| logfmt`
// and go-logfmt read it), not from src/daemon/log.ts: `tunguard: ` then space-separated key=value
// pairs, a value bare (no space, '=' or '"') or a double-quoted string with backslash escapes. On top
// of the grammar, what the daemon promises a collector: level first (error, warn or info), an
// optional event next, then msg; keys lower-case and never repeated.

export type LogRecord = Record<string, string>;

const KEY = /^[a-z][a-z0-9_]*$/;
const ESCAPES: Record<string, string> = {
  '"': '"',
  '\\': '\\',
  '/': '/',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
};

/** The fields of one line, or throws saying where it breaks the grammar or the promise. */
export function parseLogLine(line: string): LogRecord {
  const prefix = 'tunguard: ';
  if (!line.startsWith(prefix)) throw new Error(`no "${prefix}" prefix`);
  const rec: LogRecord = {};
  const keys: string[] = [];
  let i = prefix.length;
  while (i < line.length) {
    const eq = line.indexOf('=', i);
    if (eq < 0) throw new Error(`a key without a value at ${i}`);
    const key = line.slice(i, eq);
    if (!KEY.test(key)) throw new Error(`bad key "${key}" at ${i}`);
    if (Object.hasOwn(rec, key)) throw new Error(`key ${key} twice`);
    i = eq + 1;
    let value = '';
    if (line[i] === '"') {
      i++;
      for (;;) {
        if (i >= line.length) throw new Error(`unterminated quoted value of ${key}`);
        const c = line[i];
        if (c === '"') break;
        if (c === '\\') {
          const e = line[i + 1];
          if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(line.slice(i + 2, i + 6))) {
            value += String.fromCharCode(Number.parseInt(line.slice(i + 2, i + 6), 16));
            i += 6;
            continue;
          }
          if (!(e in ESCAPES)) throw new Error(`bad escape \\${e} in ${key}`);
          value += ESCAPES[e];
          i += 2;
          continue;
        }
        if (c < ' ') throw new Error(`a control character in ${key}`);
        value += c;
        i++;
      }
      i++; // the closing quote
    } else {
      const end = line.indexOf(' ', i);
      value = line.slice(i, end < 0 ? line.length : end);
      if (value === '' || /[="]/.test(value)) throw new Error(`bad bare value of ${key}: "${value}"`);
      i += value.length;
    }
    if (i < line.length) {
      if (line[i] !== ' ' || line[i + 1] === ' ' || i + 1 === line.length)
        throw new Error(`not one space after ${key}'s value at ${i}`);
      i++;
    }
    rec[key] = value;
    keys.push(key);
  }
  const order = keys[1] === 'event' ? keys.slice(0, 3) : keys.slice(0, 2);
  const want = keys[1] === 'event' ? ['level', 'event', 'msg'] : ['level', 'msg'];
  if (order.join(',') !== want.join(',')) throw new Error(`keys begin ${keys.slice(0, 3).join(',')}`);
  if (!['error', 'warn', 'info'].includes(rec.level)) throw new Error(`level ${rec.level}`);
  if (rec.event !== undefined && !/^[a-z][a-z-]*$/.test(rec.event)) throw new Error(`event ${rec.event}`);
  return rec;
}

/** Every line of a daemon's output, parsed; throws naming the first line that does not parse. */
export function parseLog(output: string): LogRecord[] {
  return output
    .split('\n')
    .filter((l) => l !== '')
    .map((l, n) => {
      try {
        return parseLogLine(l);
      } catch (err) {
        throw new Error(`line ${n + 1} is not a stable logfmt line (${(err as Error).message}): ${l}`);
      }
    });
}
