// Streams an XML byte source through saxes, handing events to a format handler and yielding what it emits.

import { SaxesParser } from 'saxes';

/** Any byte or text source: a file stream, a child's stdout, an array of chunks in tests. */
export type XmlSource = AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>;

/** An import failed; `reason` says why in words an admin can act on. */
export class ImportError extends Error {
  override name = 'ImportError';
  constructor(
    readonly reason: string,
    readonly line?: number,
  ) {
    super(line !== undefined ? `${reason} (line ${line})` : reason);
  }
}

/** Callbacks of one format; `stack` holds the names of the open elements, the current one last. */
export interface XmlHandler {
  open(name: string, attrs: Record<string, string>, stack: readonly string[]): void;
  text(text: string, stack: readonly string[]): void;
  close(name: string, stack: readonly string[]): void;
  /** Called once at the end of the document. */
  end?(): void;
}

/** Collects the text of one element up to a cap, so a huge plugin_output cannot grow memory. */
export class TextCap {
  private parts: string[] = [];
  private size = 0;
  constructor(private readonly cap = 64 * 1024) {}
  add(t: string): void {
    if (this.size >= this.cap) return;
    const room = this.cap - this.size;
    const piece = t.length > room ? t.slice(0, room) : t;
    this.parts.push(piece);
    this.size += piece.length;
  }
  take(): string {
    const s = this.parts.join('');
    this.parts = [];
    this.size = 0;
    return s;
  }
}

/** Bytes read before the encoding is decided: enough for a BOM and an XML declaration. */
const HEAD_BYTES = 1024;

/**
 * The encoding of a document from its first bytes (XML 1.0 appendix F): a byte-order mark, UTF-16 without
 * one (`<?` as two-byte units), else the XML declaration's `encoding`, else UTF-8.
 */
export function sniffEncoding(head: Uint8Array): string {
  const [a, b, c, d] = head;
  if (a === 0xef && b === 0xbb && c === 0xbf) return 'utf-8';
  if (a === 0xff && b === 0xfe) return 'utf-16le';
  if (a === 0xfe && b === 0xff) return 'utf-16be';
  if (a === 0x3c && b === 0 && c === 0x3f && d === 0) return 'utf-16le';
  if (a === 0 && b === 0x3c && c === 0 && d === 0x3f) return 'utf-16be';
  const ascii = String.fromCharCode(...head.subarray(0, Math.min(head.length, 256)));
  const declared = /^\s*<\?xml[^>]*?\sencoding\s*=\s*["']([A-Za-z][\w.:-]*)["']/.exec(ascii)?.[1];
  // A declaration written in single bytes cannot truly be UTF-16; the bytes win over the label.
  if (!declared || /^utf-?16/i.test(declared)) return 'utf-8';
  try {
    return new TextDecoder(declared).encoding;
  } catch {
    throw new ImportError(`unsupported encoding "${declared}" in the XML declaration`);
  }
}

/** Says what a document that is not XML looks like, in words (never its bytes: they may be anything). */
function notXml(head: Uint8Array | string): ImportError {
  const b = typeof head === 'string' ? undefined : head;
  if (b && b[0] === 0x1f && b[1] === 0x8b)
    return new ImportError('not XML: the file is gzip-compressed; unpack it first');
  if (b && b[0] === 0x50 && b[1] === 0x4b)
    return new ImportError('not XML: the file is a zip archive; unpack it first');
  const t = typeof head === 'string' ? head : new TextDecoder('utf-8').decode(head.subarray(0, 64));
  if (/^\s*[[{]/.test(t)) return new ImportError('not XML: the file looks like JSON');
  return new ImportError('not XML: the file does not start with "<"');
}

/** Turns a byte or text source into text, decoded as its BOM or XML declaration says. */
async function* decodeSource(source: XmlSource): AsyncGenerator<string> {
  let decoder: TextDecoder | undefined;
  let pending: Uint8Array[] = [];
  let pendingSize = 0;
  let first = true;
  const check = (text: string, head: Uint8Array | string) => {
    if (!first) return text;
    const t = text.replace(/^\uFEFF/, '');
    const lead = /\S/.exec(t);
    if (!lead) return ''; // only blanks so far: decide on the next piece
    if (lead[0] !== '<') throw notXml(head);
    first = false;
    return t;
  };
  const start = () => {
    const head = Buffer.concat(pending);
    pending = [];
    decoder = new TextDecoder(sniffEncoding(head));
    return check(decoder.decode(head, { stream: true }), head);
  };
  for await (const chunk of source) {
    if (typeof chunk === 'string') {
      const t = check(chunk, chunk);
      if (t) yield t;
      continue;
    }
    if (!decoder) {
      pending.push(chunk);
      pendingSize += chunk.length;
      if (pendingSize < HEAD_BYTES) continue;
      const t = start();
      if (t) yield t;
      continue;
    }
    const t = check(decoder.decode(chunk, { stream: true }), chunk);
    if (t) yield t;
  }
  if (!decoder && pending.length) {
    const t = start();
    if (t) yield t;
  }
  const rest = decoder?.decode() ?? '';
  if (rest) yield check(rest, rest);
}

/**
 * Parses `source` and yields the items that the handler (chosen from the root element's name) emits.
 * Only the handler's current record is held in memory; the document is never loaded whole.
 * saxes does not resolve external entities, so a DOCTYPE cannot pull files in (no XXE).
 */
export async function* streamXml<T>(
  source: XmlSource,
  pick: (root: string, emit: (item: T) => void) => XmlHandler | string,
): AsyncGenerator<T> {
  const parser = new SaxesParser({ position: true });
  const queue: T[] = [];
  // Strings cut from a chunk (attribute values, text) keep the whole chunk alive in V8; a structured
  // clone copies them, so an emitted record never pins the document's text in memory.
  const emit = (item: T) => queue.push(structuredClone(item));
  const stack: string[] = [];
  let handler: XmlHandler | undefined;
  parser.on('error', (e) => {
    // saxes prefixes "line:column: "; the line goes once, at the end, from ImportError.
    throw new ImportError(`malformed XML: ${e.message.replace(/^(?:[^:\n]*:)?\d+:\d+: /, '')}`, parser.line);
  });
  parser.on('opentag', (tag) => {
    if (!handler) {
      const picked = pick(tag.name, emit);
      if (typeof picked === 'string') throw new ImportError(picked);
      handler = picked;
    }
    stack.push(tag.name);
    handler.open(tag.name, tag.attributes as Record<string, string>, stack);
  });
  const onText = (t: string) => {
    if (handler && stack.length) handler.text(t, stack);
  };
  parser.on('text', onText);
  parser.on('cdata', onText);
  parser.on('closetag', (tag) => {
    handler?.close(tag.name, stack);
    stack.pop();
  });
  let any = false;
  for await (const text of decodeSource(source)) {
    if (text) any = true;
    parser.write(text);
    if (queue.length) yield* queue.splice(0, queue.length);
  }
  if (!any) throw new ImportError('empty document: no root element');
  parser.close();
  if (!handler) throw new ImportError('empty document: no root element');
  handler.end?.();
  if (queue.length) yield* queue.splice(0, queue.length);
}
