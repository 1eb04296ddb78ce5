#!/usr/bin/env node
// Writes luci-app/po/templates/tunguard.pot: every string the LuCI app translates, found the way LuCI's
// build/i18n-scan.pl finds them: _('…') and N_(n, '…', '…') in the views' JavaScript, the menu's
// "title"s (menu.d) and the ACL group's "description" (acl.d). Translators copy it to po/<lang>/
// tunguard.po; LuCI's po2lmo turns that into the .lmo the router loads.
//
//   node cross-build/luci-pot.mjs           write the template
//   node cross-build/luci-pot.mjs --check   exit 1 when the committed template is out of date

import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const APP = join(ROOT, 'luci-app');
export const POT = join(APP, 'po/templates/tunguard.pot');

function files(dir, ext) {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((d) => d.isFile() && d.name.endsWith(ext))
    .map((d) => join(d.parentPath ?? d.path, d.name))
    .sort();
}

/** One JavaScript string literal at `i` (its quote), decoded; and where it ends. */
function literal(src, i) {
  const q = src[i];
  let out = '';
  for (let j = i + 1; j < src.length; j++) {
    const c = src[j];
    if (c === q) return { value: out, end: j + 1 };
    if (c === '\n') break;
    if (c === '\\') {
      const n = src[++j];
      const esc = { n: '\n', t: '\t', r: '\r', "'": "'", '"': '"', '\\': '\\' }[n];
      if (esc !== undefined) out += esc;
      else if (n === 'u') {
        out += String.fromCharCode(Number.parseInt(src.slice(j + 1, j + 5), 16));
        j += 4;
      } else out += n;
      continue;
    }
    out += c;
  }
  throw new Error(`unterminated string at offset ${i}`);
}

/** The literals of a call's arguments, in order (a non-literal argument ends the list). */
function args(src, i) {
  const out = [];
  for (;;) {
    while (/\s/.test(src[i])) i++;
    if (src[i] !== "'" && src[i] !== '"') {
      // N_(n, …): the count is an expression; skip it up to the first comma.
      if (out.length === 0 && src[i] !== ')') {
        const comma = src.indexOf(',', i);
        if (comma < 0) return out;
        out.push(null);
        i = comma + 1;
        continue;
      }
      return out;
    }
    const l = literal(src, i);
    out.push(l.value);
    i = l.end;
    while (/\s/.test(src[i])) i++;
    if (src[i] !== ',') return out;
    i++;
  }
}

/** msgid (or msgid + plural) → the places it comes from. */
export function scan() {
  const found = new Map();
  const add = (id, plural, where) => {
    if (!id) return;
    const key = plural ? `${id}\u0000${plural}` : id;
    if (!found.has(key)) found.set(key, { id, plural, where: [] });
    // Files only, no line numbers: the template changes when a string does, not when code moves.
    const e = found.get(key);
    if (!e.where.includes(where)) e.where.push(where);
  };
  for (const f of files(join(APP, 'htdocs'), '.js')) {
    const src = readFileSync(f, 'utf8');
    const rel = relative(APP, f);
    // `_(` and `N_(` not preceded by an identifier character (so `foo_(` is not a call to _).
    const re = /(?<![A-Za-z0-9_$.])(N_|_)\(/g;
    for (let m = re.exec(src); m; m = re.exec(src)) {
      const a = args(src, m.index + m[0].length);
      if (m[1] === '_' && typeof a[0] === 'string') add(a[0], undefined, rel);
      if (m[1] === 'N_' && a[0] === null && typeof a[1] === 'string' && typeof a[2] === 'string')
        add(a[1], a[2], rel);
    }
  }
  for (const f of files(join(APP, 'root/usr/share/luci/menu.d'), '.json'))
    for (const node of Object.values(JSON.parse(readFileSync(f, 'utf8'))))
      if (node.title) add(node.title, undefined, relative(APP, f));
  for (const f of files(join(APP, 'root/usr/share/rpcd/acl.d'), '.json'))
    for (const group of Object.values(JSON.parse(readFileSync(f, 'utf8'))))
      if (group.description) add(group.description, undefined, relative(APP, f));
  return [...found.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function quote(s) {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\t/g, '\\t')}"`;
}

export function render(entries) {
  const head = 'msgid ""\nmsgstr "Content-Type: text/plain; charset=UTF-8"\n';
  const body = entries.map((e) => {
    const refs = `#: ${e.where.join(' ')}\n`;
    return e.plural
      ? `${refs}msgid ${quote(e.id)}\nmsgid_plural ${quote(e.plural)}\nmsgstr[0] ""\nmsgstr[1] ""\n`
      : `${refs}msgid ${quote(e.id)}\nmsgstr ""\n`;
  });
  return [head, ...body].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const text = render(scan());
  if (process.argv.includes('--check')) {
    let old = '';
    try {
      old = readFileSync(POT, 'utf8');
    } catch {}
    if (old !== text) {
      process.stderr.write(`${relative(ROOT, POT)} is out of date: run node cross-build/luci-pot.mjs\n`);
      process.exit(1);
    }
  } else {
    writeFileSync(POT, text);
    process.stdout.write(`${relative(ROOT, POT)}: ${text.split('\nmsgid ').length - 2} strings\n`);
  }
}
