// A plain element tree of a whole XML file, for tests that count a report's contents independently of the
// streaming importers (which never build a tree). Small files only: it holds the document in memory.

import { SaxesParser } from 'saxes';

export interface El {
  name: string;
  attrs: Record<string, string>;
  children: El[];
  /** The element's own text (not its descendants'). */
  text: string;
  parent?: El;
}

export function parseDom(xml: string): El {
  const parser = new SaxesParser();
  const root: El = { name: '#document', attrs: {}, children: [], text: '' };
  let cur = root;
  parser.on('opentag', (t) => {
    const el: El = {
      name: t.name,
      attrs: t.attributes as Record<string, string>,
      children: [],
      text: '',
      parent: cur,
    };
    cur.children.push(el);
    cur = el;
  });
  parser.on('text', (t) => {
    cur.text += t;
  });
  parser.on('cdata', (t) => {
    cur.text += t;
  });
  parser.on('closetag', () => {
    cur = cur.parent ?? root;
  });
  parser.write(xml).close();
  return root.children[0];
}

/** Every descendant named `name`, in document order. */
export function all(el: El, name: string): El[] {
  const out: El[] = [];
  const walk = (e: El) => {
    for (const c of e.children) {
      if (c.name === name) out.push(c);
      walk(c);
    }
  };
  walk(el);
  return out;
}

/** Direct children named `name`. */
export const kids = (el: El, name: string): El[] => el.children.filter((c) => c.name === name);
/** The first direct child named `name`. */
export const kid = (el: El, name: string): El | undefined => el.children.find((c) => c.name === name);
/** Trimmed own text of the first direct child named `name` ('' when absent). */
export const kidText = (el: El, name: string): string => kid(el, name)?.text.trim() ?? '';
