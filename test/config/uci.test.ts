// UCI text: what the parser accepts (as libuci does), what it refuses (with line and column), and the
// formatter's round trip.
import { describe, expect, test } from 'vitest';
import {
  DEFAULT_UCI,
  formatUci,
  parseUci,
  quoteUci,
  type UciDocument,
  UciError,
} from '../../src/config/index.js';
import { mulberry32, pick } from './helpers.js';

/** The document without line numbers: sections as {type, name?, options: {k: v}, lists: {k: [v]}}. */
function values(doc: UciDocument) {
  return doc.sections.map((s) => ({
    type: s.type,
    ...(s.name === undefined ? {} : { name: s.name }),
    options: Object.fromEntries(Object.entries(s.options).map(([k, o]) => [k, o.value])),
    lists: Object.fromEntries(Object.entries(s.lists).map(([k, l]) => [k, l.values])),
  }));
}

function one(
  options: Record<string, string> = {},
  lists: Record<string, string[]> = {},
  type = 't',
  name = 'n',
) {
  return [{ type, name, options, lists }];
}

describe('parseUci accepts', () => {
  const cases: Array<[string, string, ReturnType<typeof values>]> = [
    ['an empty file', '', []],
    ['only comments and blank lines', '# a\n\n   # b\n\t\n', []],
    ['a named section, single quotes', "config t 'n'\n\toption k 'v'\n", one({ k: 'v' })],
    ['double quotes', 'config t "n"\n\toption k "v w"\n', one({ k: 'v w' })],
    ['bare words', 'config t n\n option k v\n', one({ k: 'v' })],
    ['an anonymous section', 'config t\n option k v\n', [{ type: 't', options: { k: 'v' }, lists: {} }]],
    ["an empty name ('') as anonymous", "config t ''\n", [{ type: 't', options: {}, lists: {} }]],
    ["'\\'' for a quote", "config t n\n option k 'it'\\''s'\n", one({ k: "it's" })],
    ['pieces glued together', 'config t n\n option k \'a\'"b"c\n', one({ k: 'abc' })],
    ['backslash-quote in double quotes', 'config t n\n option k "a\\"b"\n', one({ k: 'a"b' })],
    ['backslash-backslash in double quotes', 'config t n\n option k "a\\\\b"\n', one({ k: 'a\\b' })],
    [
      'no \\n decoding (libuci takes the next character literally)',
      'config t n\n option k "a\\nb"\n',
      one({ k: 'anb' }),
    ],
    ['a backslash in single quotes is literal', "config t n\n option k 'a\\b'\n", one({ k: 'a\\b' })],
    ['an escaped blank in a bare word', 'config t n\n option k a\\ b\n', one({ k: 'a b' })],
    ['an escaped quote in a bare word', "config t n\n option k don\\'t\n", one({ k: "don't" })],
    ['a trailing comment', "config t n # the section\n option k 'v' # why\n", one({ k: 'v' })],
    ['# inside quotes', 'config t n\n option k \'a#b\'\n option j "c#d"\n', one({ k: 'a#b', j: 'c#d' })],
    ['# inside a bare word ends it (libuci)', 'config t n\n option k a#b\n', one({ k: 'a' })],
    ['; between statements', "config t n; option k 'v'; list l 1\n", one({ k: 'v' }, { l: ['1'] })],
    ['; inside quotes', "config t n\n option k 'a;b'\n", one({ k: 'a;b' })],
    ['the abbreviations c, o, l', 'c t n\n o k v\n l l 1\n', one({ k: 'v' }, { l: ['1'] })],
    ['CRLF line ends', "config t 'n'\r\n\toption k 'v'\r\n", one({ k: 'v' })],
    ['a byte order mark', "\uFEFFconfig t 'n'\n", one()],
    ['no newline at the end', "config t 'n'\n option k 'v'", one({ k: 'v' })],
    ['an empty value', "config t n\n option k ''\n", one({ k: '' })],
    ['a tab inside quotes', "config t n\n option k 'a\tb'\n", one({ k: 'a\tb' })],
    ['UTF-8 text', "config t n\n option k 'café ☕'\n", one({ k: 'café ☕' })],
    ['a type with punctuation (libuci allows it)', 'config my-type.x n\n', one({}, {}, 'my-type.x')],
    [
      'list values appended in order',
      'config t n\n list l a\n option k v\n list l b\n',
      one({ k: 'v' }, { l: ['a', 'b'] }),
    ],
    [
      'keys named like Object members',
      'config t n\n option constructor a\n option __proto__ b\n',
      one(JSON.parse('{"constructor":"a","__proto__":"b"}')),
    ],
    [
      'several sections',
      "config a 'x'\n option k 1\n\nconfig b\n list l 2\nconfig a 'y'\n",
      [
        { type: 'a', name: 'x', options: { k: '1' }, lists: {} },
        { type: 'b', options: {}, lists: { l: ['2'] } },
        { type: 'a', name: 'y', options: {}, lists: {} },
      ],
    ],
  ];
  test.each(cases)('%s', (_, text, expected) => {
    expect(values(parseUci(text))).toEqual(expected);
  });

  test('records the line of sections, options and every list value', () => {
    const doc = parseUci("# c\nconfig t 'n'\n\n\toption k 'v'\n\tlist l a\n\n\tlist l b\n");
    const s = doc.sections[0];
    expect(s.line).toBe(2);
    expect(s.options.k).toEqual({ value: 'v', line: 4 });
    expect(s.lists.l).toEqual({ values: ['a', 'b'], line: 5, lines: [5, 7] });
  });

  test('a repeated option overrides the earlier one, with a warning', () => {
    const warnings: unknown[] = [];
    const doc = parseUci('config t n\n option k 1\n option k 2\n', { onWarning: (w) => warnings.push(w) });
    expect(doc.sections[0].options.k).toEqual({ value: '2', line: 3 });
    expect(warnings).toEqual([
      { line: 3, column: 9, message: 'line 3: option k repeated; it overrides the value from line 2' },
    ]);
  });
});

describe('parseUci refuses', () => {
  const cases: Array<[string, number, number, string]> = [
    ["option k 'v'", 1, 1, 'line 1: option outside a section'],
    ["# c\n\nlist k 'v'", 3, 1, 'line 3: list outside a section'],
    ['config', 1, 1, 'line 1: config without a section type'],
    ["config ''", 1, 8, 'line 1: config without a section type'],
    ['config a b c', 1, 12, "line 1: too many arguments to config (unexpected 'c')"],
    ["config a 'b-c'", 1, 10, "line 1: invalid section name 'b-c' (only A-Z, a-z, 0-9 and _)"],
    ['config é', 1, 8, "line 1: invalid section type 'é' (printable ASCII without spaces)"],
    ["config a 'x'\nconfig b 'x'", 2, 10, "line 2: section 'x' is already defined at line 1"],
    ["config a\n option 'b c' d", 2, 9, "line 2: invalid option name 'b c' (only A-Z, a-z, 0-9 and _)"],
    ["config a\n option '' d", 2, 9, 'line 2: option without a name'],
    ['config a\n option', 2, 2, 'line 2: option without a name'],
    ['config a\n list k', 2, 8, 'line 2: list k without a value'],
    [
      'config a\n option k v w',
      2,
      13,
      "line 2: too many arguments to option k (unexpected 'w'; quote values with spaces)",
    ],
    [
      "config a\n option k 'v",
      2,
      11,
      'line 2: unterminated single quote (values spanning lines are not supported)',
    ],
    [
      'config a\n option k "v',
      2,
      11,
      'line 2: unterminated double quote (values spanning lines are not supported)',
    ],
    [
      'config a\n option k v\\',
      2,
      12,
      "line 2: line continuation ('\\' at the end of a line) is not supported",
    ],
    [
      'config a\n option k "v\\',
      2,
      13,
      "line 2: line continuation ('\\' at the end of a line) is not supported",
    ],
    ['config a\n option k v\u0000', 2, 12, 'line 2: control character U+0000'],
    ["config a\n option k 'v\u001b'", 2, 13, 'line 2: control character U+001B in a quoted value'],
    ['config a\n option k "\u0007"', 2, 12, 'line 2: control character U+0007 in a quoted value'],
    ['config a\n option k v\rw', 2, 12, 'line 2: control character U+000D'],
    ['frobnicate x', 1, 1, "line 1: unknown statement 'frobnicate' (expected config, option or list)"],
    ["'config' a", 1, 1, "line 1: unknown statement 'config' (expected config, option or list)"],
    ['conf a', 1, 1, "line 1: unknown statement 'conf' (expected config, option or list)"],
    [
      'config a\n toString x y',
      2,
      2,
      "line 2: unknown statement 'toString' (expected config, option or list)",
    ],
    ['constructor a', 1, 1, "line 1: unknown statement 'constructor' (expected config, option or list)"],
    ['package tunguard', 1, 1, "line 1: 'package' statements are not supported in a config file"],
    [
      'config a\n option k 1\n list k 2',
      3,
      7,
      "line 3: 'k' is already an option (line 2); it cannot also be a list",
    ],
    [
      'config a\n list k 1\n option k 2',
      3,
      9,
      "line 3: 'k' is already a list (line 2); it cannot also be an option",
    ],
    ['config a;option', 1, 10, 'line 1: option without a name'],
    ["config a\n\toption x y\n\n\n  option  z 'open", 5, 13, 'line 5: unterminated single quote'],
  ];
  test.each(cases)('%j → line %i, column %i', (text, line, column, message) => {
    let caught: unknown;
    try {
      parseUci(text);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(UciError);
    const err = caught as UciError;
    expect(err.line).toBe(line);
    expect(err.column).toBe(column);
    expect(err.message.startsWith(message)).toBe(true);
    expect(err.message).toBe(`line ${line}: ${err.reason}`);
  });
});

describe('formatUci', () => {
  test('writes the style of uci export', () => {
    const doc = parseUci("config t 'n'\n option k \"it's\"\n list l a\n list l 'b c'\nconfig u\n");
    expect(formatUci(doc)).toBe(
      "config t 'n'\n\toption k 'it'\\''s'\n\tlist l 'a'\n\tlist l 'b c'\n\nconfig u\n",
    );
  });

  test("quotes with single quotes and writes a quote as '\\''", () => {
    expect(quoteUci('')).toBe("''");
    expect(quoteUci("a'b")).toBe("'a'\\''b'");
    expect(quoteUci('a\\b "c" #d ;e')).toBe('\'a\\b "c" #d ;e\'');
  });

  test('an empty document is an empty file', () => {
    expect(formatUci({ sections: [] })).toBe('');
  });

  test('the shipped default file round-trips', () => {
    const doc = parseUci(DEFAULT_UCI);
    expect(values(parseUci(formatUci(doc)))).toEqual(values(doc));
  });

  test.each([
    ['a control character in a value', 'option k', { k: { value: 'a\nb', line: 1 } }, {}],
    ['a bad option name', "option name 'a b'", { 'a b': { value: 'x', line: 1 } }, {}],
    ['an empty list', 'list l has no values', {}, { l: { values: [], line: 1, lines: [] } }],
  ])('refuses %s', (_, message, options, lists) => {
    const doc: UciDocument = { sections: [{ type: 't', line: 1, options, lists }] };
    expect(() => formatUci(doc)).toThrow(RangeError);
    expect(() => formatUci(doc)).toThrow(message.split(' ')[0]);
  });

  test('refuses a section name used twice and a bad type', () => {
    const s = { type: 't', name: 'x', line: 1, options: {}, lists: {} };
    expect(() => formatUci({ sections: [s, s] })).toThrow(/used twice/);
    expect(() => formatUci({ sections: [{ ...s, type: 'a b' }] })).toThrow(/invalid section type/);
  });

  // Random documents with every character that needs care: parse(format(doc)) must equal doc.
  const ALPHABET = [
    "'",
    '"',
    '\\',
    '#',
    ';',
    ' ',
    '\t',
    'a',
    'Z',
    '0',
    '_',
    '-',
    '/',
    ':',
    'é',
    '☕',
    '\u00a0',
    '$',
  ];
  const TYPE_CHARS = ["'", '"', '\\', '#', ';', 'a', 'b', '_', '-', '.', '!', '~', '$', '0'];
  const rand = mulberry32(0x7e57);
  const word = (chars: string[], min: number, max: number) => {
    const n = min + Math.floor(rand() * (max - min + 1));
    return Array.from({ length: n }, () => pick(rand, chars)).join('');
  };
  const NAME_CHARS = [...'abcXYZ019_'];
  const docs: UciDocument[] = Array.from({ length: 60 }, (_, d) => ({
    sections: Array.from({ length: 1 + Math.floor(rand() * 4) }, (_, i) => {
      const options: UciDocument['sections'][number]['options'] = {};
      const lists: UciDocument['sections'][number]['lists'] = {};
      for (let k = 0; k < Math.floor(rand() * 5); k++) {
        options[`o${k}${word(NAME_CHARS, 0, 3)}`] = { value: word(ALPHABET, 0, 12), line: 0 };
      }
      for (let k = 0; k < Math.floor(rand() * 3); k++) {
        const n = 1 + Math.floor(rand() * 4);
        const vs = Array.from({ length: n }, () => word(ALPHABET, 0, 10));
        lists[`l${k}${word(NAME_CHARS, 0, 3)}`] = { values: vs, line: 0, lines: vs.map(() => 0) };
      }
      const name = rand() < 0.3 ? undefined : `s${d}_${i}`;
      return {
        type: word(TYPE_CHARS, 1, 6),
        ...(name === undefined ? {} : { name }),
        line: 0,
        options,
        lists,
      };
    }),
  }));
  test.each(docs.map((doc, i) => [i, doc] as const))('random document %i round-trips', (_, doc) => {
    const text = formatUci(doc);
    const back = parseUci(text);
    expect(values(back)).toEqual(values(doc));
    // And formatting is stable.
    expect(formatUci(back)).toBe(text);
  });
});
