// The configuration in force and its file: validation through src/config, atomic persistence (temp file,
// fsync, rename, fsync of the directory), one writer at a time, and allowlist edits that keep the file's
// comments (a targeted line edit, checked by re-parsing; `uci export` style only as a fallback).

import { readFileSync } from 'node:fs';
import { type AllowEntry, type ConfigCheckResult, DepsError } from '../api/deps.js';
import { MAX_API_CONFIG_BYTES } from '../api/schemas.js';
import { sha256Hex } from '../api/util.js';
import {
  type CidrPrefix,
  ConfigError,
  type ConfigIssue,
  configFromText,
  formatUci,
  type LoadedConfig,
  loadConfigFile,
  parseCidr,
  parseUci,
  type TunguardConfig,
  type UciDocument,
  type UciSection,
} from '../config/index.js';
import { writeFileAtomic } from '../state/atomic-file.js';

export interface ConfigState {
  text: string;
  loaded: LoadedConfig;
}

/** Where a prefix is written in the UCI text. */
interface AllowSite {
  entry: AllowEntry;
  section: UciSection;
  key: 'allow_prefix' | 'prefix';
}

/** Splits an option value the way the schema does (OpenWrt's habit of blank-separated lists). */
function valuesOf(s: UciSection, key: string): { values: string[]; kind: 'option' | 'list' | 'none' } {
  if (Object.hasOwn(s.lists, key)) return { values: s.lists[key].values, kind: 'list' };
  if (Object.hasOwn(s.options, key))
    return { values: s.options[key].value.split(/[ \t]+/).filter((w) => w !== ''), kind: 'option' };
  return { values: [], kind: 'none' };
}

function sectionLabel(s: UciSection, index: number): string {
  return s.name ?? `@${s.type}[${index}]`;
}

function allowSites(doc: UciDocument): AllowSite[] {
  const out: AllowSite[] = [];
  const seen = new Set<string>();
  let allowIndex = 0;
  for (const s of doc.sections) {
    const isMain = s.type === 'tunguard';
    const isAllow = s.type === 'allow';
    if (!isMain && !isAllow) continue;
    const key = isMain ? 'allow_prefix' : 'prefix';
    const label = isMain ? 'main' : sectionLabel(s, allowIndex++);
    const comment = isAllow && Object.hasOwn(s.options, 'comment') ? s.options.comment.value : '';
    for (const value of valuesOf(s, key).values) {
      let p: CidrPrefix;
      try {
        p = parseCidr(value);
      } catch {
        continue; // a valid config has none; a draft may
      }
      if (seen.has(p.cidr)) continue;
      seen.add(p.cidr);
      out.push({ entry: { cidr: p.cidr, family: p.family, section: label, comment }, section: s, key });
    }
  }
  return out;
}

/** A section name for an API-added prefix: unique per canonical prefix, [A-Za-z0-9_] only. */
export function allowSectionName(cidr: string): string {
  return `allow_${cidr.replace(/[^A-Za-z0-9]/g, '_')}`;
}

function quote(value: string): string {
  return `'${value.replaceAll("'", "'\\''")}'`;
}

/** Comparable form of a config without its allowlist. */
function withoutAllow(c: TunguardConfig): string {
  return JSON.stringify({ ...c, allow: [] });
}

export class ConfigStore {
  private state: ConfigState;
  /** The configuration the daemon started with (what a restart-only setting is compared against). */
  readonly startConfig: TunguardConfig;
  private writing: Promise<unknown> = Promise.resolve();
  /**
   * Checks beyond the schema that need the running system (e.g. never listen on a WAN address); run on
   * every new configuration, from the API and from reload alike.
   */
  extraCheck: ((c: TunguardConfig, text: string) => ConfigIssue[]) | undefined;
  /**
   * Set when what is in force is not the file (it had errors at start: src/daemon/start-config.ts). The
   * allowlist is then not edited (that would write the fallback over the admin's file); a good reload
   * or a PUT of a whole valid file clears it.
   */
  fallback: string | undefined;

  /**
   * @param path the UCI file; undefined keeps the configuration in memory only (daemon on defaults)
   */
  constructor(
    readonly path: string | undefined,
    initial: ConfigState,
  ) {
    this.state = initial;
    this.startConfig = initial.loaded.config;
  }

  /** Reads and validates `path` (throws ConfigError). */
  static fromFile(path: string): ConfigStore {
    const loaded = loadConfigFile(path);
    return new ConfigStore(path, { text: readFileSync(path, 'utf8'), loaded });
  }

  /** The built-in defaults, in memory. */
  static fromDefaults(): ConfigStore {
    return new ConfigStore(undefined, { text: '', loaded: configFromText('', '<defaults>') });
  }

  get config(): TunguardConfig {
    return this.state.loaded.config;
  }

  get text(): string {
    return this.state.text;
  }

  get warnings(): ConfigIssue[] {
    return this.state.loaded.warnings;
  }

  get etag(): string {
    return `"${sha256Hex(this.state.text).slice(0, 32)}"`;
  }

  get persisted(): boolean {
    return this.path !== undefined;
  }

  /** Validates UCI text without changing anything. */
  check(text: string): ConfigCheckResult {
    try {
      const loaded = configFromText(text, this.path ?? '<config>');
      const extra = this.extraCheck?.(loaded.config, text) ?? [];
      if (extra.length > 0) return { valid: false, issues: extra, warnings: loaded.warnings };
      return { valid: true, issues: [], warnings: loaded.warnings };
    } catch (err) {
      if (err instanceof ConfigError) return { valid: false, issues: [...err.issues], warnings: [] };
      throw err;
    }
  }

  private validate(text: string): LoadedConfig {
    try {
      const loaded = configFromText(text, this.path ?? '<config>');
      const extra = this.extraCheck?.(loaded.config, text) ?? [];
      if (extra.length > 0) throw new ConfigError(this.path ?? '<config>', extra);
      return loaded;
    } catch (err) {
      if (err instanceof ConfigError) {
        const detail = err.issues.length > 0 ? err.issues.map((i) => i.message).join('; ') : err.message;
        throw new DepsError('invalid', detail, err.issues);
      }
      throw err;
    }
  }

  private refuseOnFallback(): void {
    if (this.fallback !== undefined)
      throw new DepsError(
        'conflict',
        `${this.path} is not in force (${this.fallback}): fix it and reload before changing the allowlist`,
      );
  }

  /** Runs `fn` after every earlier write finished (one writer at a time). */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.writing.then(fn, fn);
    this.writing = run.catch(() => undefined);
    return run;
  }

  /**
   * Validates and persists new text, then makes it the configuration in force. Throws DepsError:
   * 'invalid' (with the issues), 'precondition_failed' when `ifMatch` is not the current etag.
   */
  replace(text: string, ifMatch?: string): Promise<{ prev: TunguardConfig; next: LoadedConfig }> {
    return this.serial(async () => {
      if (ifMatch !== undefined && ifMatch !== this.etag && ifMatch !== '*')
        throw new DepsError('precondition_failed', `the configuration changed (etag is now ${this.etag})`);
      if (Buffer.byteLength(text) > MAX_API_CONFIG_BYTES)
        throw new DepsError('invalid', `larger than ${MAX_API_CONFIG_BYTES} bytes`);
      const loaded = this.validate(text);
      if (this.path !== undefined) await writeFileAtomic(this.path, text, { mode: 'keep' });
      const prev = this.config;
      this.state = { text, loaded };
      this.fallback = undefined;
      return { prev, next: loaded };
    });
  }

  /**
   * Re-reads the file (SIGHUP). Returns the previous and new configuration; throws ConfigError and keeps
   * the old one when the file is bad. Without a file there is nothing to re-read: returns undefined.
   */
  reload(): Promise<{ prev: TunguardConfig; next: LoadedConfig } | undefined> {
    return this.serial(async () => {
      if (this.path === undefined) return undefined;
      const loaded = loadConfigFile(this.path);
      const text = readFileSync(this.path, 'utf8');
      const extra = this.extraCheck?.(loaded.config, text) ?? [];
      if (extra.length > 0) throw new ConfigError(this.path, extra);
      const prev = this.config;
      this.state = { text, loaded };
      this.fallback = undefined;
      return { prev, next: loaded };
    });
  }

  allowEntries(): AllowEntry[] {
    return allowSites(parseUci(this.state.text)).map((s) => s.entry);
  }

  /** Adds a prefix in its own `config allow` section; `changed: false` if some section holds it. */
  addAllow(
    prefix: CidrPrefix,
    comment: string,
  ): Promise<{ entry: AllowEntry; changed: boolean; prev: TunguardConfig; next: LoadedConfig }> {
    return this.serial(async () => {
      this.refuseOnFallback();
      const existing = allowSites(parseUci(this.state.text)).find((s) => s.entry.cidr === prefix.cidr);
      const prev = this.config;
      if (existing) return { entry: existing.entry, changed: false, prev, next: this.state.loaded };
      const name = allowSectionName(prefix.cidr);
      let text = this.state.text;
      if (text !== '' && !text.endsWith('\n')) text += '\n';
      text += `\nconfig allow '${name}'\n\tlist prefix '${prefix.cidr}'\n`;
      if (comment !== '') text += `\toption comment ${quote(comment)}\n`;
      const loaded = this.validate(text);
      if (this.path !== undefined) await writeFileAtomic(this.path, text, { mode: 'keep' });
      this.state = { text, loaded };
      const entry = allowSites(parseUci(text)).find((s) => s.entry.cidr === prefix.cidr)!.entry;
      return { entry, changed: true, prev, next: loaded };
    });
  }

  /** Removes a prefix from whichever section holds it (an allow section left empty goes too). */
  removeAllow(prefix: CidrPrefix): Promise<{ entry: AllowEntry; prev: TunguardConfig; next: LoadedConfig }> {
    return this.serial(async () => {
      this.refuseOnFallback();
      const doc = parseUci(this.state.text);
      const site = allowSites(doc).find((s) => s.entry.cidr === prefix.cidr);
      if (!site) throw new DepsError('not_found', `${prefix.cidr} is not on the allowlist`);
      const prev = this.config;
      const expected = prev.allow.filter((p) => p.cidr !== prefix.cidr).map((p) => p.cidr);
      const ok = (t: string): LoadedConfig | undefined => {
        try {
          const l = configFromText(t);
          const same =
            withoutAllow(l.config) === withoutAllow(prev) &&
            JSON.stringify(l.config.allow.map((p) => p.cidr)) === JSON.stringify(expected);
          return same ? l : undefined;
        } catch {
          return undefined;
        }
      };
      let text = lineEdit(this.state.text, site, prefix.cidr);
      let loaded = text === undefined ? undefined : ok(text);
      if (!loaded || text === undefined) {
        text = formatUci(docEdit(doc, site, prefix.cidr));
        loaded = ok(text);
        if (!loaded) throw new DepsError('conflict', `cannot remove ${prefix.cidr} without changing more`);
      }
      if (this.path !== undefined) await writeFileAtomic(this.path, text, { mode: 'keep' });
      this.state = { text, loaded };
      return { entry: site.entry, prev, next: loaded };
    });
  }
}

/** The prefix's values of a site, without it (canonical comparison). */
function remaining(site: AllowSite, cidr: string): string[] {
  return valuesOf(site.section, site.key).values.filter((x) => {
    try {
      return parseCidr(x).cidr !== cidr;
    } catch {
      return true;
    }
  });
}

/** Removes the prefix by editing lines; undefined when that is not simple (the caller falls back). */
function lineEdit(text: string, site: AllowSite, cidr: string): string | undefined {
  const lines = text.split('\n');
  const s = site.section;
  const rest = remaining(site, cidr);
  const drop = new Set<number>();
  const replace = new Map<number, string>();
  if (Object.hasOwn(s.lists, site.key)) {
    const l = s.lists[site.key];
    l.values.forEach((x, i) => {
      let c: string | undefined;
      try {
        c = parseCidr(x).cidr;
      } catch {}
      if (c === cidr) drop.add(l.lines[i]);
    });
  } else if (Object.hasOwn(s.options, site.key)) {
    const o = s.options[site.key];
    if (rest.length === 0) drop.add(o.line);
    else replace.set(o.line, `\toption ${site.key} ${quote(rest.join(' '))}`);
  } else {
    return undefined;
  }
  if (s.type === 'allow' && rest.length === 0) {
    // The section would have no prefix (an error): drop it, its options and lists with it.
    drop.add(s.line);
    for (const o of Object.values(s.options)) drop.add(o.line);
    for (const l of Object.values(s.lists)) for (const n of l.lines) drop.add(n);
  }
  // A section removed at the end of the file, or before a blank line, takes the blank line before it.
  if (drop.has(s.line) && lines[s.line - 2] === '') {
    const after = Math.max(...drop) + 1;
    if (after > lines.length || lines[after - 1] === '' || lines[after - 1] === undefined)
      drop.add(s.line - 1);
  }
  const out: string[] = [];
  lines.forEach((line, i) => {
    const n = i + 1;
    if (drop.has(n)) return;
    out.push(replace.get(n) ?? line);
  });
  return out.join('\n');
}

/** The same edit on the document (formatUci drops comments: only a fallback). */
function docEdit(doc: UciDocument, site: AllowSite, cidr: string): UciDocument {
  const rest = remaining(site, cidr);
  const sections: UciSection[] = [];
  for (const s of doc.sections) {
    if (s !== site.section) {
      sections.push(s);
      continue;
    }
    if (s.type === 'allow' && rest.length === 0) continue;
    const options = { ...s.options };
    const lists = { ...s.lists };
    delete options[site.key];
    delete lists[site.key];
    if (rest.length > 0) lists[site.key] = { values: rest, line: 0, lines: rest.map(() => 0) };
    sections.push({ ...s, options, lists });
  }
  return { sections };
}
