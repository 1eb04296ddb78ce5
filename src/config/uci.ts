// UCI text (/etc/config/<name>) ⇄ a plain document: a strict parser with line/column errors, and a
// serializer whose output parses back to the same document.
//
// Lexical rules follow libuci's file.c: a word is a run of bare characters, '…' (no escapes inside),
// and "…" (backslash takes the next character literally) pieces glued together, so `'it'\''s'` is
// "it's"; outside single quotes a backslash takes the next character literally (no \n decoding);
// `#` outside quotes ends the line, `;` outside quotes ends the statement; `c`, `o`, `l` abbreviate
// config, option, list. Stricter than libuci: a backslash or an open quote at the end of a line (libuci's
// line continuation and multi-line values) is an error, as are control characters, a missing value,
// extra arguments, a `package` statement, a section name defined twice, and a key used both as an
// option and as a list in one section.

/** A parse (or format) error at a 1-based line and column; the message starts with "line N: ". */
export class UciError extends Error {
  /** 1-based line of the error. */
  readonly line: number;
  /** 1-based column of the error (UTF-16 code units; a tab counts as one). */
  readonly column: number;
  /** The message without the "line N: " prefix. */
  readonly reason: string;

  constructor(line: number, column: number, reason: string) {
    super(`line ${line}: ${reason}`);
    this.name = 'UciError';
    this.line = line;
    this.column = column;
    this.reason = reason;
  }
}

/** One `option <key> '<value>'`: the last one wins when a key is repeated. */
export interface UciOption {
  value: string;
  /** Line of the statement that set the value. */
  line: number;
}

/** All `list <key> '<value>'` statements of one key in one section, in file order. */
export interface UciList {
  values: string[];
  /** Line of the first value. */
  line: number;
  /** Line of each value (same length as `values`). */
  lines: number[];
}

/** One `config <type> ['<name>']` section. */
export interface UciSection {
  type: string;
  /** Absent for an anonymous section. */
  name?: string;
  /** Line of the `config` statement. */
  line: number;
  options: Record<string, UciOption>;
  lists: Record<string, UciList>;
}

export interface UciDocument {
  sections: UciSection[];
}

/** Something legal but probably unintended (a repeated option). */
export interface UciWarning {
  line: number;
  column: number;
  message: string;
}

export interface ParseUciOptions {
  /** Called for each warning; without it, warnings are dropped. */
  onWarning?: (warning: UciWarning) => void;
}

/** A word of a statement after quote removal. */
interface Word {
  text: string;
  /** 1-based column where the word starts. */
  column: number;
  /** Whether any part of it was quoted or escaped. */
  literal: boolean;
}

/** Section and option names: libuci accepts only these (shell compatibility). */
const NAME_RE = /^[A-Za-z0-9_]+$/;
/** Section types: libuci accepts any printable, non-space ASCII. */
const TYPE_RE = /^[\x21-\x7e]+$/;

function isBlank(c: string): boolean {
  return c === ' ' || c === '\t';
}

function isControl(c: string): boolean {
  const code = c.charCodeAt(0);
  return (code < 0x20 && c !== '\t') || code === 0x7f;
}

/** Index of the first character a value may not hold (libuci's uci_validate_text), or -1. */
function findControl(s: string): number {
  for (let i = 0; i < s.length; i++) if (isControl(s[i])) return i;
  return -1;
}

function describeChar(c: string): string {
  return `U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * Splits one line into statements of words. Returns the statements; a trailing comment is dropped.
 * Throws UciError on an unterminated quote, a trailing backslash or a control character.
 */
function lexLine(text: string, lineNo: number): Word[][] {
  const statements: Word[][] = [];
  let words: Word[] = [];
  let i = 0;
  const n = text.length;
  const at = (col: number, reason: string) => new UciError(lineNo, col, reason);
  outer: while (i < n) {
    while (i < n && isBlank(text[i])) i++;
    if (i >= n) break;
    const c0 = text[i];
    if (c0 === '#') break;
    if (c0 === ';') {
      statements.push(words);
      words = [];
      i++;
      continue;
    }
    const start = i;
    let out = '';
    let literal = false;
    while (i < n && !isBlank(text[i])) {
      const c = text[i];
      if (c === "'") {
        literal = true;
        const close = text.indexOf("'", i + 1);
        if (close < 0) throw at(i + 1, 'unterminated single quote (values spanning lines are not supported)');
        const piece = text.slice(i + 1, close);
        const bad = findControl(piece);
        if (bad >= 0)
          throw at(i + 2 + bad, `control character ${describeChar(piece[bad])} in a quoted value`);
        out += piece;
        i = close + 1;
      } else if (c === '"') {
        literal = true;
        const open = i;
        i++;
        for (;;) {
          if (i >= n)
            throw at(open + 1, 'unterminated double quote (values spanning lines are not supported)');
          const d = text[i];
          if (d === '"') {
            i++;
            break;
          }
          if (d === '\\') {
            if (i + 1 >= n) throw at(i + 1, "line continuation ('\\' at the end of a line) is not supported");
            i++;
          }
          if (isControl(text[i]))
            throw at(i + 1, `control character ${describeChar(text[i])} in a quoted value`);
          out += text[i];
          i++;
        }
      } else if (c === '\\') {
        literal = true;
        if (i + 1 >= n) throw at(i + 1, "line continuation ('\\' at the end of a line) is not supported");
        if (isControl(text[i + 1])) throw at(i + 2, `control character ${describeChar(text[i + 1])}`);
        out += text[i + 1];
        i += 2;
      } else if (c === '#') {
        // libuci: a '#' outside quotes ends the word and the line.
        words.push({ text: out, column: start + 1, literal });
        break outer;
      } else if (c === ';') {
        words.push({ text: out, column: start + 1, literal });
        statements.push(words);
        words = [];
        i++;
        continue outer;
      } else if (isControl(c)) {
        throw at(i + 1, `control character ${describeChar(c)}`);
      } else {
        out += c;
        i++;
      }
    }
    words.push({ text: out, column: start + 1, literal });
  }
  statements.push(words);
  return statements.filter((s) => s.length > 0);
}

const COMMANDS: Record<string, 'config' | 'option' | 'list' | 'package'> = {
  config: 'config',
  c: 'config',
  option: 'option',
  o: 'option',
  list: 'list',
  l: 'list',
  package: 'package',
  p: 'package',
};

/**
 * Parses UCI text into a document. Throws UciError (with line and column) on the first error.
 * Lines may end in LF or CRLF; a leading byte order mark is ignored.
 */
export function parseUci(text: string, options: ParseUciOptions = {}): UciDocument {
  const sections: UciSection[] = [];
  const named = new Map<string, UciSection>();
  let current: UciSection | undefined;
  if (text.startsWith('\uFEFF')) text = text.slice(1);
  const lines = text.split('\n');
  for (let idx = 0; idx < lines.length; idx++) {
    const lineNo = idx + 1;
    let line = lines[idx];
    if (line.endsWith('\r')) line = line.slice(0, -1);
    for (const words of lexLine(line, lineNo)) {
      const [head, ...args] = words;
      const at = (col: number, reason: string) => new UciError(lineNo, col, reason);
      const cmd = head.literal || !Object.hasOwn(COMMANDS, head.text) ? undefined : COMMANDS[head.text];
      if (cmd === undefined) {
        throw at(head.column, `unknown statement '${head.text}' (expected config, option or list)`);
      }
      const lastCol = (args.at(-1) ?? head).column;
      if (cmd === 'package') {
        throw at(head.column, "'package' statements are not supported in a config file");
      } else if (cmd === 'config') {
        const [typeWord, nameWord, extra] = args;
        if (!typeWord || typeWord.text === '')
          throw at(typeWord?.column ?? lastCol, 'config without a section type');
        if (!TYPE_RE.test(typeWord.text)) {
          throw at(
            typeWord.column,
            `invalid section type '${typeWord.text}' (printable ASCII without spaces)`,
          );
        }
        if (extra) throw at(extra.column, `too many arguments to config (unexpected '${extra.text}')`);
        // Null-prototype records: keys such as 'constructor' or '__proto__' are ordinary keys here.
        const section: UciSection = {
          type: typeWord.text,
          line: lineNo,
          options: Object.create(null),
          lists: Object.create(null),
        };
        // libuci: an empty name ('') makes an anonymous section.
        if (nameWord && nameWord.text !== '') {
          if (!NAME_RE.test(nameWord.text)) {
            throw at(nameWord.column, `invalid section name '${nameWord.text}' (only A-Z, a-z, 0-9 and _)`);
          }
          const prior = named.get(nameWord.text);
          if (prior) {
            throw at(nameWord.column, `section '${nameWord.text}' is already defined at line ${prior.line}`);
          }
          section.name = nameWord.text;
          named.set(section.name, section);
        }
        sections.push(section);
        current = section;
      } else {
        if (!current) throw at(head.column, `${cmd} outside a section`);
        const [keyWord, valueWord, extra] = args;
        if (!keyWord || keyWord.text === '') throw at(keyWord?.column ?? lastCol, `${cmd} without a name`);
        if (!NAME_RE.test(keyWord.text)) {
          throw at(keyWord.column, `invalid ${cmd} name '${keyWord.text}' (only A-Z, a-z, 0-9 and _)`);
        }
        if (!valueWord) throw at(lastCol + keyWord.text.length, `${cmd} ${keyWord.text} without a value`);
        if (extra) {
          throw at(
            extra.column,
            `too many arguments to ${cmd} ${keyWord.text} (unexpected '${extra.text}'; quote values with spaces)`,
          );
        }
        const key = keyWord.text;
        const value = valueWord.text;
        if (cmd === 'option') {
          const asList = current.lists[key];
          if (asList) {
            throw at(
              keyWord.column,
              `'${key}' is already a list (line ${asList.line}); it cannot also be an option`,
            );
          }
          const prior = current.options[key];
          if (prior) {
            options.onWarning?.({
              line: lineNo,
              column: keyWord.column,
              message: `line ${lineNo}: option ${key} repeated; it overrides the value from line ${prior.line}`,
            });
          }
          current.options[key] = { value, line: lineNo };
        } else {
          const asOption = current.options[key];
          if (asOption) {
            throw at(
              keyWord.column,
              `'${key}' is already an option (line ${asOption.line}); it cannot also be a list`,
            );
          }
          const list = current.lists[key];
          if (list) {
            list.values.push(value);
            list.lines.push(lineNo);
          } else {
            current.lists[key] = { values: [value], line: lineNo, lines: [lineNo] };
          }
        }
      }
    }
  }
  return { sections };
}

/** Quotes a value for UCI: single quotes, an embedded quote as '\''. */
export function quoteUci(value: string): string {
  return `'${value.replaceAll("'", "'\\''")}'`;
}

function checkFormattable(what: string, value: string): void {
  if (findControl(value) >= 0) {
    throw new RangeError(`${what}: control characters (other than tab) cannot be written to UCI`);
  }
}

/**
 * Writes a document as UCI text in the style of `uci export` (sections separated by a blank line,
 * options before lists, every value single-quoted). parseUci(formatUci(doc)) equals doc but for lines.
 * Throws RangeError for what UCI cannot hold (bad names, control characters in values).
 */
export function formatUci(doc: UciDocument): string {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const s of doc.sections) {
    if (!TYPE_RE.test(s.type)) throw new RangeError(`invalid section type '${s.type}'`);
    let head = `config ${NAME_RE.test(s.type) ? s.type : quoteUci(s.type)}`;
    if (s.name !== undefined) {
      if (!NAME_RE.test(s.name)) throw new RangeError(`invalid section name '${s.name}'`);
      if (seen.has(s.name)) throw new RangeError(`section name '${s.name}' used twice`);
      seen.add(s.name);
      head += ` ${quoteUci(s.name)}`;
    }
    if (out.length > 0) out.push('');
    out.push(head);
    for (const [key, opt] of Object.entries(s.options)) {
      if (!NAME_RE.test(key)) throw new RangeError(`invalid option name '${key}'`);
      if (Object.hasOwn(s.lists, key)) throw new RangeError(`'${key}' is both an option and a list`);
      checkFormattable(`option ${key}`, opt.value);
      out.push(`\toption ${key} ${quoteUci(opt.value)}`);
    }
    for (const [key, list] of Object.entries(s.lists)) {
      if (!NAME_RE.test(key)) throw new RangeError(`invalid list name '${key}'`);
      if (list.values.length === 0) throw new RangeError(`list ${key} has no values`);
      for (const value of list.values) {
        checkFormattable(`list ${key}`, value);
        out.push(`\tlist ${key} ${quoteUci(value)}`);
      }
    }
  }
  return out.length > 0 ? `${out.join('\n')}\n` : '';
}
