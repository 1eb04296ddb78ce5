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
    throw new ImportError(`malformed XML: ${e.message.replace(/^[^:]*:\d+:\d+: /, '')}`, parser.line);
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
  const decoder = new TextDecoder('utf-8');
  for await (const chunk of source) {
    parser.write(typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true }));
    if (queue.length) yield* queue.splice(0, queue.length);
  }
  const rest = decoder.decode();
  if (rest) parser.write(rest);
  parser.close();
  if (!handler) throw new ImportError('empty document: no root element');
  handler.end?.();
  if (queue.length) yield* queue.splice(0, queue.length);
}
