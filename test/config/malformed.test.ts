// Generated malformed configs: each must fail with a ConfigError that names the right line — never with
// another exception type, never silently.
import { describe, expect, test } from 'vitest';
import { ConfigError, configFromText, DEFAULT_UCI } from '../../src/config/index.js';
import { configErrorOf, mulberry32, pick } from './helpers.js';

const PATH = '/etc/config/tunguard';

function expectErrorAt(text: string, line: number, startsWith?: string): ConfigError {
  const err = configErrorOf(() => configFromText(text, PATH));
  expect(err.path).toBe(PATH);
  expect(err.line, err.message).toBe(line);
  expect(err.message.startsWith(`${PATH}: line ${line}: `), err.message).toBe(true);
  if (startsWith !== undefined) expect(err.issues[0].message.startsWith(startsWith), err.message).toBe(true);
  return err;
}

/**
 * Damaged text either loads, with every warning on a line of the text, or fails with a ConfigError whose
 * message starts with a line of the text; any other exception escapes and fails the test.
 */
function expectLoadsOrNamesALine(text: string): void {
  const lineCount = text.split('\n').length;
  const onALine = (line: number | undefined) => line !== undefined && line >= 1 && line <= lineCount;
  let lines: Array<number | undefined>;
  try {
    lines = configFromText(text, PATH).warnings.map((w) => w.line);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    expect(err.message.startsWith(`${PATH}: line ${err.line}: `), err.message).toBe(true);
    lines = [err.line];
  }
  expect(lines.filter((line) => !onALine(line))).toEqual([]);
}

const HEADERS: Record<string, string> = {
  tunguard: "config tunguard 'main'",
  'defense.syn': "config defense 'syn'",
  'ratelimit.icmp': "config ratelimit 'icmp'",
  'ratelimit.udp': "config ratelimit 'udp'",
  api: "config api 'api'",
};

const INTEGER_FIELDS: Array<[string, string]> = [
  ['tunguard', 'queues'],
  ['tunguard', 'route_table'],
  ['tunguard', 'status_interval'],
  ...['window_seconds', 'moderate_threshold', 'risky_threshold', 'max_unfinished_per_source'].map(
    (k): [string, string] => ['defense.syn', k],
  ),
  ...['aggressive_hold_seconds', 'syn_cache_size', 'connection_idle_seconds'].map((k): [string, string] => [
    'defense.syn',
    k,
  ]),
  ...['rate', 'burst', 'per_source_rate', 'per_source_burst'].flatMap(
    (k): Array<[string, string]> => [
      ['ratelimit.icmp', k],
      ['ratelimit.udp', k],
    ],
  ),
];
const BAD_INTEGERS = ['10x', '-3', '', '1.5', ' 7', '0x10', '1e3', '+5', '٣', '9007199254740993'];

const BOOLEAN_FIELDS: Array<[string, string]> = [
  ['tunguard', 'enabled'],
  ['tunguard', 'ipv6'],
  ['tunguard', 'offload'],
  ['defense.syn', 'proxy_inbound'],
  ['defense.syn', 'proxy_outbound'],
  ['ratelimit.icmp', 'enabled'],
  ['ratelimit.udp', 'enabled'],
  ['api', 'cors'],
];
const BAD_BOOLEANS = ['maybe', '2', 'TRUE', '', 'y', 'On'];

describe('bad numbers', () => {
  const cases = INTEGER_FIELDS.flatMap(([section, key]) =>
    BAD_INTEGERS.map((bad) => [section, key, bad] as const),
  );
  test.each(cases)('%s %s %j', (section, key, bad) => {
    const text = `# generated\n${HEADERS[section]}\n\toption ${key} '${bad}'\n`;
    expectErrorAt(text, 3, `line 3: option ${key}: expected an integer`);
  });
});

describe('bad booleans', () => {
  const cases = BOOLEAN_FIELDS.flatMap(([section, key]) =>
    BAD_BOOLEANS.map((bad) => [section, key, bad] as const),
  );
  test.each(cases)('%s %s %j', (section, key, bad) => {
    const text = `${HEADERS[section]}\n\n\toption ${key} '${bad}'\n`;
    expectErrorAt(text, 3, `line 3: option ${key}: expected a boolean`);
  });
});

// Mutations of the shipped file, one statement line at a time.
const lines = DEFAULT_UCI.split('\n');
const statementLines = lines
  .map((text, i) => ({ text, line: i + 1 }))
  .filter(({ text }) => /^\t(option|list) /.test(text));

type Mutation = [string, (text: string) => string, string];
const MUTATIONS: Mutation[] = [
  ['an unterminated quote', (t) => t.slice(0, t.lastIndexOf("'")), 'unterminated single quote'],
  ['a line continuation', (t) => `${t} \\`, 'line continuation'],
  ['an extra argument', (t) => `${t} extra`, 'too many arguments'],
  ['a misspelt key', (t) => t.replace(/^\t(option|list) (\w+)/, '\t$1 $2x'), 'unknown '],
  ['a control character', (t) => t.replace(/'[^']*'$/, "'\u0001'"), 'control character U+0001'],
  ['no value', (t) => t.replace(/ '[^']*'$/, ''), ''],
  ['an invalid key', (t) => t.replace(/^\t(option|list) (\w+)/, '\t$1 $2-x'), 'invalid '],
];

describe('mutations of the shipped file', () => {
  const cases = statementLines.flatMap(({ text, line }) =>
    MUTATIONS.map(([what, mutate, start]) => [line, what, mutate(text), start] as const),
  );
  test('there are enough of them', () => {
    expect(cases.length).toBeGreaterThan(200);
  });
  test.each(cases)('line %i: %s', (line, _, mutated, start) => {
    const text = lines.map((l, i) => (i + 1 === line ? mutated : l)).join('\n');
    expectErrorAt(text, line, `line ${line}: ${start}`);
  });

  test.each(statementLines.filter(({ text }) => text.startsWith('\toption')))(
    'line $line as both option and list',
    ({ text, line }) => {
      const listed = text.replace('\toption', '\tlist');
      const out = [...lines.slice(0, line), listed, ...lines.slice(line)].join('\n');
      expectErrorAt(out, line + 1, `line ${line + 1}: '`);
    },
  );
});

describe('structural errors', () => {
  const cases: Array<[string, string, number]> = [
    ['an option before any section', `\toption enabled '1'\n${DEFAULT_UCI}`, 1],
    ['a section named twice', `${DEFAULT_UCI}\nconfig ratelimit 'udp'\n`, lines.length + 1],
    ['an unknown section at the end', `${DEFAULT_UCI}config firewall\n`, lines.length],
    ['a package statement', `package tunguard\n${DEFAULT_UCI}`, 1],
    ['a stray word', `${DEFAULT_UCI}enabled 1\n`, lines.length],
    ['a bare keyword', `${DEFAULT_UCI}option\n`, lines.length],
    ['a second anonymous api section', `${DEFAULT_UCI}config api\n`, lines.length],
  ];
  test.each(cases)('%s', (_, text, line) => {
    expectErrorAt(text, line);
  });
});

describe('random damage', () => {
  // Random edits of the shipped file: the result either loads or fails with a ConfigError naming a line
  // of the file; nothing else may escape.
  const rand = mulberry32(0xc0ffee);
  const INSERTS = [
    "'",
    '"',
    '\\',
    '#',
    ';',
    ' ',
    '\t',
    '\n',
    'x',
    '0',
    '-',
    '/',
    ':',
    '\u0000',
    '\r',
    '\u00e9',
    '9',
  ];
  const cases = Array.from({ length: 300 }, (_, n) => {
    let text = DEFAULT_UCI;
    const edits = 1 + Math.floor(rand() * 4);
    for (let e = 0; e < edits; e++) {
      const at = Math.floor(rand() * text.length);
      const op = rand();
      if (op < 0.4) text = text.slice(0, at) + pick(rand, INSERTS) + text.slice(at);
      else if (op < 0.7) text = text.slice(0, at) + text.slice(at + 1 + Math.floor(rand() * 3));
      else text = text.slice(0, at) + pick(rand, INSERTS) + text.slice(at + 1);
    }
    return [n, text] as const;
  });
  test.each(cases)('edit %i', (_, text) => {
    expectLoadsOrNamesALine(text);
  });

  test('some edits still load and most do not', () => {
    let failed = 0;
    for (const [, text] of cases) {
      try {
        configFromText(text, PATH);
      } catch {
        failed++;
      }
    }
    expect(failed).toBeGreaterThan(50);
    expect(failed).toBeLessThan(cases.length);
  });
});

describe('random statements', () => {
  // Lines built from the grammar's words (and words that name Object members): loads, or a ConfigError
  // with a line; nothing else.
  const rand = mulberry32(0x5eed);
  const HEADS = ['config', 'option', 'list', 'c', 'o', 'l', 'package', '#', ';', 'constructor', ''];
  const WORDS = [
    'tunguard',
    'defense',
    'ratelimit',
    'allow',
    'api',
    "'main'",
    "'syn'",
    "'icmp'",
    "'udp'",
    "'api'",
    'enabled',
    'lan_device',
    'queues',
    'listen',
    'prefix',
    'exempt_port',
    "'1'",
    "'0'",
    "'53'",
    "'10.0.0.0/8'",
    "'[::1]:1'",
    '__proto__',
    'constructor',
    'toString',
    "'it'\\''s'",
    '"q\\"q"',
    "''",
    '-1',
    'eth0',
    'br-lan',
    ';',
    '#',
  ];
  const cases = Array.from({ length: 300 }, (_, n) => {
    const count = 1 + Math.floor(rand() * 8);
    const text = Array.from({ length: count }, () => {
      const words = Array.from({ length: Math.floor(rand() * 4) }, () => pick(rand, WORDS));
      return [pick(rand, HEADS), ...words].join(rand() < 0.5 ? ' ' : '\t');
    }).join('\n');
    return [n, text] as const;
  });
  test.each(cases)('text %i', (_, text) => {
    expectLoadsOrNamesALine(text);
  });
});
