// Yields the raw JSON text of each element of one top-level array (e.g. NVD's "vulnerabilities") from a stream.

import { ImportError, type XmlSource } from './xml-stream.js';

/**
 * Scans `source` once, tracking strings and nesting, and yields the text of every element of the
 * array stored under top-level key `key`. Only one element is held at a time; an element larger than
 * `maxElement` characters is refused (a feed entry is a few KB).
 */
export async function* jsonArrayElements(
  source: XmlSource,
  key: string,
  maxElement = 8 * 1024 * 1024,
): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8');
  let depth = 0;
  let inString = false;
  let escaped = false;
  let keyBuf: string[] | undefined; // collecting a depth-1 string (a top-level key)
  let lastKey = '';
  let inTarget = false; // inside the wanted array (depth 2)
  let capture: string[] | undefined;
  let captureLen = 0;
  let captureStart = -1;
  let foundTarget = false;

  for await (const chunk of source) {
    const s = typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    captureStart = capture ? 0 : -1;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (inString) {
        if (escaped) escaped = false;
        else if (c === 0x5c) escaped = true;
        else if (c === 0x22) {
          inString = false;
          if (keyBuf) {
            lastKey = keyBuf.join('');
            keyBuf = undefined;
          }
        } else if (keyBuf && keyBuf.length < 256) keyBuf.push(s[i]);
        continue;
      }
      if (c === 0x22) {
        inString = true;
        if (depth === 1 && !capture) keyBuf = [];
      } else if (c === 0x7b || c === 0x5b) {
        if (depth === 1 && c === 0x5b && lastKey === key) {
          inTarget = true;
          foundTarget = true;
        } else if (inTarget && depth === 2 && !capture) {
          capture = [];
          captureLen = 0;
          captureStart = i;
        }
        depth++;
      } else if (c === 0x7d || c === 0x5d) {
        depth--;
        if (depth < 0) throw new ImportError('malformed JSON: unbalanced brackets');
        if (capture && depth === 2) {
          capture.push(s.slice(captureStart, i + 1));
          const text = capture.join('');
          capture = undefined;
          captureStart = -1;
          yield text;
        } else if (inTarget && depth === 1) inTarget = false;
      }
    }
    if (capture && captureStart >= 0) {
      const piece = s.slice(captureStart);
      capture.push(piece);
      captureLen += piece.length;
      if (captureLen > maxElement) throw new ImportError(`feed element larger than ${maxElement} characters`);
    }
  }
  if (depth !== 0 || inString) throw new ImportError('malformed JSON: document is truncated');
  if (!foundTarget) throw new ImportError(`no top-level "${key}" array in the feed`);
}
