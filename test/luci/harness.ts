// A small stand-in for what sits between LuCI's pages and the router: it serves the views from
// luci-app/htdocs and LuCI's own client modules from test/luci/stubs, renders a page per menu.d entry
// (the menu's tabs, the view its action names), and answers /ubus/ the way uhttpd-mod-ubus and rpcd do:
// the session must match, the ACL file of luci-app-tunguard must grant the call, `tunguard` calls run
// the REAL rpcd plugin (through `runPlugin`, e.g. in the router's namespace), and `uci` calls edit a
// real UCI file: like rpcd, the session's edits are kept as a delta replayed over the file as it is now
// (the daemon may rewrite it meanwhile) and written on `apply`, with the project's parser and formatter.
// It also plays cgi-io's /cgi-bin/cgi-upload (session and the ACL's file write grant, as cgi-io checks
// them), rpcd's `rc` object and luci-rpc's getNetworkDevices through callbacks the test gives, and
// LuCI's Status → Overview page, which loads the app's status include like luci-mod-status does.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, normalize, sep } from 'node:path';
import { formatUci, parseUci, type UciDocument, type UciSection } from '../../src/config/index.js';
import { REPO_ROOT } from '../lab/lab.js';

export const LUCI_APP = join(REPO_ROOT, 'luci-app');
export const PLUGIN = join(LUCI_APP, 'root/usr/libexec/rpcd/tunguard');
export const ACL_FILE = join(LUCI_APP, 'root/usr/share/rpcd/acl.d/luci-app-tunguard.json');
export const MENU_FILE = join(LUCI_APP, 'root/usr/share/luci/menu.d/luci-app-tunguard.json');
const HTDOCS = join(LUCI_APP, 'htdocs');
const STUBS = join(REPO_ROOT, 'test/luci/stubs');
const SCRIPT_NAME = '/cgi-bin/luci';
const UCI_CONFIG = 'tunguard';

/** ubus status codes (libubus) the answers use. */
const UBUS = { OK: 0, INVALID_ARGUMENT: 2, METHOD_NOT_FOUND: 3, NOT_FOUND: 4, PERMISSION_DENIED: 6 } as const;

export interface PluginRun {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Acl {
  read: { ubus: Record<string, string[]>; uci: string[] };
  write: { ubus: Record<string, string[]>; uci: string[]; file?: Record<string, string[]> };
}

interface MenuNode {
  title: string;
  order?: number;
  action: { type: string; path: string };
  depends?: { acl?: string[]; uci?: Record<string, boolean> };
}

/** One ubus call as the harness answered it (for assertions). */
export interface UbusCall {
  object: string;
  method: string;
  args: Record<string, unknown>;
  status: number | 'denied';
  ms: number;
}

export function readAcl(): { name: string; acl: Acl } {
  const all = JSON.parse(readFileSync(ACL_FILE, 'utf8')) as Record<string, Acl>;
  const names = Object.keys(all);
  if (names.length !== 1) throw new Error(`${ACL_FILE}: expected one ACL group, found ${names.join(', ')}`);
  return { name: names[0], acl: all[names[0]] };
}

export function readMenu(): Record<string, MenuNode> {
  return JSON.parse(readFileSync(MENU_FILE, 'utf8'));
}

/** Runs a command with `input` on stdin; resolves with its exit code and output (killed after timeoutMs). */
export function runWithInput(
  cmd: string,
  args: readonly string[],
  input: string,
  env: NodeJS.ProcessEnv,
  timeoutMs = 30_000,
): Promise<PluginRun> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    p.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.once('error', reject);
    p.once('close', (code) => {
      clearTimeout(t);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    p.stdin.on('error', () => {}); // a plugin that does not read its input closes the pipe early
    p.stdin.end(input);
  });
}

export interface HarnessOptions {
  /** Runs `<plugin> call <method>` with the JSON arguments on stdin. */
  runPlugin: (method: string, input: string) => Promise<PluginRun>;
  /** Runs `<plugin> list`. */
  listPlugin: () => Promise<PluginRun>;
  /** The UCI file behind the `uci` object's config "tunguard". */
  configFile: string;
  /** Where cgi-upload writes a file the ACL lets the session write (the router path → a real path). */
  uploadPath?: (aclPath: string) => string;
  /** rpcd's `rc` object: `list` and `init` (procd's init scripts). */
  rc?: {
    list: () => Promise<Record<string, unknown>>;
    init: (name: string, action: string) => Promise<number>;
  };
  /** luci-rpc's getNetworkDevices: the router's devices by name. */
  devices?: () => Promise<Record<string, unknown>>;
}

/** What cgi-upload takes at most here (cgi-io itself is bounded by /tmp). */
export const MAX_UPLOAD = 8 << 20;

export class LuciHarness {
  readonly sessionId = [...crypto.getRandomValues(new Uint8Array(16))]
    .map((b) => b.toString(16).padStart(2, '0'))
    .join('');
  readonly calls: UbusCall[] = [];
  /** Times the uci config was written by `apply`. */
  applied = 0;
  private server: Server | undefined;
  private readonly acl = readAcl();
  private readonly menu = readMenu();
  private pluginMethods = new Set<string>();
  /**
   * A login holding the app's ACL group for reading only (rpcd's `list read` without `list write`):
   * only the group's read grants count, and pages carry LuCI's read-only mark (`nodespec.readonly`,
   * which the dispatcher sets when the session may read but not write the node's ACL).
   */
  readOnly = false;
  /** The uci edits of this session until `apply` (rpcd keeps such a delta per session too). */
  private delta: UciEdit[] = [];
  private added = 0;

  constructor(private readonly o: HarnessOptions) {}

  get url(): string {
    const a = this.server?.address() as AddressInfo | undefined;
    if (!a) throw new Error('harness not started');
    return `http://127.0.0.1:${a.port}`;
  }

  pageUrl(menuPath: string): string {
    return `${this.url}${SCRIPT_NAME}/${menuPath}`;
  }

  async start(): Promise<void> {
    const list = await this.o.listPlugin();
    if (list.code !== 0) throw new Error(`plugin list failed (${list.code}): ${list.stderr}`);
    this.pluginMethods = new Set(Object.keys(JSON.parse(list.stdout)));
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: Error) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(String(err.stack ?? err));
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server?.closeAllConnections();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.method === 'POST' && url.pathname.startsWith('/ubus')) {
      const body = await readBody(req);
      let msg: unknown;
      try {
        msg = JSON.parse(body);
      } catch {
        return json(res, { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } });
      }
      const reply = Array.isArray(msg)
        ? await Promise.all(msg.map((m) => this.rpc(m)))
        : await this.rpc(msg as Record<string, unknown>);
      return json(res, reply);
    }
    if (req.method === 'POST' && url.pathname === '/cgi-bin/cgi-upload') return this.upload(req, res);
    if (req.method !== 'GET') return text(res, 405, 'method not allowed');
    if (url.pathname.startsWith(`${SCRIPT_NAME}/`))
      return this.page(res, url.pathname.slice(SCRIPT_NAME.length + 1));
    if (url.pathname.startsWith('/luci-static/resources/')) {
      const rel = url.pathname.slice('/luci-static/resources/'.length);
      // The app's own files first (views), then the LuCI stand-ins; nothing outside those two trees.
      for (const [root, file] of [
        [join(HTDOCS, 'luci-static/resources'), rel],
        [STUBS, rel],
      ]) {
        const path = normalize(join(root, file));
        if (!path.startsWith(root + sep)) continue;
        try {
          const src = readFileSync(path);
          res.writeHead(200, { 'content-type': 'application/javascript; charset=utf-8' });
          res.end(src);
          return;
        } catch {}
      }
      return text(res, 404, 'not found');
    }
    if (url.pathname === '/favicon.ico') {
      res.writeHead(204);
      res.end();
      return;
    }
    return text(res, 404, 'not found');
  }

  /** cgi-io's upload: multipart sessionid, filename, filedata; the session must may write filename. */
  private async upload(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req) {
      size += (c as Buffer).length;
      if (size > MAX_UPLOAD + 64 * 1024) return json(res, { failure: [27, 'File too large'] }, 413);
      chunks.push(c as Buffer);
    }
    const form = await new Response(Buffer.concat(chunks), {
      headers: { 'content-type': req.headers['content-type'] ?? '' },
    }).formData();
    const sid = form.get('sessionid');
    const filename = form.get('filename');
    const data = form.get('filedata');
    const granted = this.acl.acl.write.file?.[String(filename)] ?? [];
    if (sid !== this.sessionId || typeof filename !== 'string' || !granted.includes('write')) {
      this.calls.push({ object: 'cgi-upload', method: 'write', args: { filename }, status: 'denied', ms: 0 });
      return json(res, { failure: [13, 'Access to path denied by ACL'] }, 403);
    }
    if (!(data instanceof Blob) || !this.o.uploadPath)
      return json(res, { failure: [22, 'Invalid request'] }, 400);
    const bytes = Buffer.from(await data.arrayBuffer());
    writeFileSync(this.o.uploadPath(filename), bytes, { mode: 0o600 });
    this.calls.push({ object: 'cgi-upload', method: 'write', args: { filename }, status: 0, ms: 0 });
    return json(res, {
      size: bytes.length,
      checksum: createHash('md5').update(bytes).digest('hex'),
      sha256sum: createHash('sha256').update(bytes).digest('hex'),
    });
  }

  /** Status → Overview as luci-mod-status renders it: every include of the app, in one page. */
  private overview(res: ServerResponse): void {
    const dir = join(HTDOCS, 'luci-static/resources/view/status/include');
    const includes = readdirSync(dir)
      .filter((f) => f.endsWith('.js'))
      .map((f) => f.slice(0, -3))
      .sort();
    this.html(res, 'Overview', '', {
      requestpath: ['admin', 'status', 'overview'],
      view: 'status/index',
      includes,
    });
  }

  /** A LuCI-like page for a menu path: the app's tabs and the view its action names. */
  private page(res: ServerResponse, path: string): void {
    if (path === 'admin/status/overview') {
      this.overview(res);
      return;
    }
    let node = this.menu[path];
    let resolved = path;
    if (node?.action.type === 'alias') {
      resolved = node.action.path;
      node = this.menu[resolved];
    }
    if (node?.action.type !== 'view') {
      text(res, 404, `no view at ${path}`);
      return;
    }
    const root = Object.keys(this.menu).find((k) => this.menu[k].depends?.acl);
    const acl = root ? this.menu[root].depends?.acl : undefined;
    if (!root || !acl?.includes(this.acl.name)) {
      text(res, 403, `the menu does not depend on the ACL group ${this.acl.name}`);
      return;
    }
    const tabs = Object.entries(this.menu)
      .filter(([k]) => k.startsWith(`${root}/`) && !k.slice(root.length + 1).includes('/'))
      .sort((a, b) => (a[1].order ?? 0) - (b[1].order ?? 0))
      .map(([k, n]) => {
        const name = k.slice(root.length + 1);
        const active = k === resolved ? ' class="active"' : '';
        return `<li data-tab="${name}"${active}><a href="${SCRIPT_NAME}/${k}">${escapeHtml(n.title)}</a></li>`;
      })
      .join('');
    this.html(res, node.title, tabs, { requestpath: resolved.split('/'), view: node.action.path });
  }

  private html(res: ServerResponse, title: string, tabs: string, page: Record<string, unknown>): void {
    const env = {
      sessionid: this.sessionId,
      ubuspath: '/ubus/',
      resource: '/luci-static/resources',
      scriptname: SCRIPT_NAME,
      cgi_base: '/cgi-bin',
      ...(this.readOnly ? { nodespec: { readonly: true } } : {}),
      ...page,
    };
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html>
<html><head><meta charset="utf-8"><title>${escapeHtml(title)} - LuCI (test harness)</title>
<style>
body { font-family: sans-serif; margin: 0; } header { background: #002b49; color: #fff; padding: .5em 1em; }
ul.tabs { list-style: none; margin: 0; padding: .5em 1em; border-bottom: 1px solid #ccc; }
ul.tabs li { display: inline-block; margin-right: 1em; } ul.tabs li.active a { font-weight: bold; }
#maincontent { padding: 1em; } .table { border-collapse: collapse; width: 100%; }
.th, .td { border-bottom: 1px solid #eee; padding: .3em .5em; text-align: left; vertical-align: top; }
.cbi-value { margin: .4em 0; } .cbi-value-title { display: inline-block; width: 14em; vertical-align: top; }
.cbi-value-field { display: inline-block; } .cbi-value-description { color: #666; font-size: 90%; }
.cbi-input-invalid { border: 2px solid #c00; } .alert-message { padding: .5em; margin: .5em 0; background: #fff3cd; }
.alert-message.error { background: #f8d7da; } fieldset.cbi-section { border: 1px solid #ddd; margin: 1em 0; }
</style></head>
<body>
<header>OpenWrt · LuCI (tunguard test harness)</header>
<ul class="tabs">${tabs}</ul>
<div id="maincontent"><div id="tg-notifications"></div><div id="view"></div></div>
<div id="modal_overlay" style="display:none"></div>
<script src="/luci-static/resources/luci.js"></script>
<script>new LuCI(${JSON.stringify(env)});</script>
</body></html>`);
  }

  private allowed(object: string, method: string): boolean {
    const { read, write } = this.acl.acl;
    return (this.readOnly ? [read] : [read, write]).some((g) => (g.ubus?.[object] ?? []).includes(method));
  }

  private uciAllowed(config: string, access: 'read' | 'write'): boolean {
    const { read, write } = this.acl.acl;
    if (this.readOnly) return access === 'read' && (read.uci ?? []).includes(config);
    return access === 'read'
      ? (read.uci ?? []).includes(config) || (write.uci ?? []).includes(config)
      : (write.uci ?? []).includes(config);
  }

  private async rpc(m: Record<string, unknown>): Promise<Record<string, unknown>> {
    const id = m.id ?? null;
    const denied = { jsonrpc: '2.0', id, error: { code: -32002, message: 'Access denied' } };
    if (m.jsonrpc !== '2.0' || m.method !== 'call' || !Array.isArray(m.params) || m.params.length !== 4)
      return { jsonrpc: '2.0', id, error: { code: -32600, message: 'Invalid request' } };
    const [sid, object, method, args] = m.params as [string, string, string, Record<string, unknown>];
    const t0 = Date.now();
    const log = (status: number | 'denied') =>
      this.calls.push({ object, method, args, status, ms: Date.now() - t0 });
    if (sid !== this.sessionId) {
      log('denied');
      return denied;
    }
    if (object === 'tunguard') {
      if (!this.allowed(object, method)) {
        log('denied');
        return denied;
      }
      if (!this.pluginMethods.has(method)) {
        log(UBUS.METHOD_NOT_FOUND);
        return { jsonrpc: '2.0', id, result: [UBUS.METHOD_NOT_FOUND] };
      }
      const run = await this.o.runPlugin(method, JSON.stringify(args ?? {}));
      // rpcd takes the plugin's stdout only when it is one JSON object (its exit code is not looked at).
      let out: unknown;
      try {
        out = JSON.parse(run.stdout);
      } catch {
        out = undefined;
      }
      if (out === null || typeof out !== 'object' || Array.isArray(out)) {
        log(UBUS.INVALID_ARGUMENT);
        return { jsonrpc: '2.0', id, result: [UBUS.INVALID_ARGUMENT] };
      }
      log(UBUS.OK);
      return { jsonrpc: '2.0', id, result: [UBUS.OK, out] };
    }
    if (object === 'rc' || object === 'luci-rpc') {
      if (!this.allowed(object, method)) {
        log('denied');
        return denied;
      }
      const a = args ?? {};
      if (object === 'rc' && method === 'list' && this.o.rc) {
        const all = await this.o.rc.list();
        const out = typeof a.name === 'string' ? (a.name in all ? { [a.name]: all[a.name] } : {}) : all;
        log(UBUS.OK);
        return { jsonrpc: '2.0', id, result: [UBUS.OK, out] };
      }
      if (object === 'rc' && method === 'init' && this.o.rc) {
        // rpcd's rc: only known actions of an existing init script.
        const actions = ['start', 'stop', 'restart', 'reload', 'enable', 'disable'];
        if (typeof a.name !== 'string' || typeof a.action !== 'string' || !actions.includes(a.action)) {
          log(UBUS.INVALID_ARGUMENT);
          return { jsonrpc: '2.0', id, result: [UBUS.INVALID_ARGUMENT] };
        }
        const code = await this.o.rc.init(a.name, a.action);
        log(code);
        return { jsonrpc: '2.0', id, result: [code] };
      }
      if (object === 'luci-rpc' && method === 'getNetworkDevices' && this.o.devices) {
        log(UBUS.OK);
        return { jsonrpc: '2.0', id, result: [UBUS.OK, await this.o.devices()] };
      }
      log(UBUS.METHOD_NOT_FOUND);
      return { jsonrpc: '2.0', id, result: [UBUS.METHOD_NOT_FOUND] };
    }
    if (object === 'uci') {
      const r = this.uci(method, args ?? {});
      log(r === 'denied' ? 'denied' : r[0]);
      return r === 'denied' ? denied : { jsonrpc: '2.0', id, result: r };
    }
    log(UBUS.NOT_FOUND);
    return { jsonrpc: '2.0', id, result: [UBUS.NOT_FOUND] };
  }

  // --- the uci object (rpcd's uci plugin, for one config file) ---

  /** The file as it is now with this session's delta on top; anonymous sections named by position. */
  private view(): {
    doc: UciDocument;
    find: (name: unknown) => UciSection | undefined;
    nameOf: (s: UciSection) => string;
  } {
    const doc = parseUci(readFileSync(this.o.configFile, 'utf8'));
    const names = new Map<UciSection, string>();
    doc.sections.forEach((s, i) => {
      names.set(s, s.name ?? `cfg${(i + 1).toString(16).padStart(6, '0')}`);
    });
    const find = (name: unknown) => doc.sections.find((s) => names.get(s) === name);
    for (const e of this.delta) {
      if (e.edit === 'add') {
        const s: UciSection = { type: e.type, line: 0, options: {}, lists: {} };
        if (!e.anonymous) s.name = e.name;
        doc.sections.push(s);
        names.set(s, e.name);
        setValues(s, e.values);
        continue;
      }
      const s = find(e.section);
      if (!s) continue; // gone from the file since: the edit no longer applies
      if (e.edit === 'set') setValues(s, e.values);
      else if (e.options === undefined) doc.sections.splice(doc.sections.indexOf(s), 1);
      else
        for (const k of e.options) {
          delete s.options[k];
          delete s.lists[k];
        }
    }
    return { doc, find, nameOf: (s) => names.get(s) ?? '?' };
  }

  private uci(method: string, a: Record<string, unknown>): [number, unknown?] | 'denied' {
    if (method === 'apply' || method === 'confirm') {
      if (method === 'apply' && this.delta.length > 0) {
        const tmp = `${this.o.configFile}.luci-tmp`;
        writeFileSync(tmp, formatUci(this.view().doc));
        renameSync(tmp, this.o.configFile);
        this.delta = [];
        this.applied++;
      }
      return [UBUS.OK];
    }
    const config = a.config;
    if (typeof config !== 'string') return [UBUS.INVALID_ARGUMENT];
    const write = method !== 'get';
    if (!this.uciAllowed(config, write ? 'write' : 'read')) return 'denied';
    if (config !== UCI_CONFIG) return [UBUS.NOT_FOUND];
    const v = this.view();
    switch (method) {
      case 'get': {
        const values: Record<string, Record<string, unknown>> = {};
        v.doc.sections.forEach((s, index) => {
          const name = v.nameOf(s);
          const out: Record<string, unknown> = {
            '.anonymous': s.name === undefined,
            '.type': s.type,
            '.name': name,
            '.index': index,
          };
          for (const [k, o] of Object.entries(s.options)) out[k] = o.value;
          for (const [k, l] of Object.entries(s.lists)) out[k] = [...l.values];
          values[name] = out;
        });
        return [UBUS.OK, { values }];
      }
      case 'add': {
        if (typeof a.type !== 'string' || !validValues(a.values)) return [UBUS.INVALID_ARGUMENT];
        if (a.name !== undefined && (typeof a.name !== 'string' || v.find(a.name)))
          return [UBUS.INVALID_ARGUMENT];
        const anonymous = a.name === undefined;
        const name = anonymous ? `cfgn${(++this.added).toString(16).padStart(5, '0')}` : String(a.name);
        this.delta.push({ edit: 'add', type: a.type, name, anonymous, values: a.values as UciValues });
        return [UBUS.OK, { section: name }];
      }
      case 'set': {
        if (!v.find(a.section)) return [UBUS.NOT_FOUND];
        if (!validValues(a.values)) return [UBUS.INVALID_ARGUMENT];
        this.delta.push({ edit: 'set', section: String(a.section), values: a.values as UciValues });
        return [UBUS.OK];
      }
      case 'delete': {
        if (!v.find(a.section)) return [UBUS.NOT_FOUND];
        const options = Array.isArray(a.options)
          ? a.options.map(String)
          : typeof a.option === 'string'
            ? [a.option]
            : undefined;
        this.delta.push({ edit: 'delete', section: String(a.section), options });
        return [UBUS.OK];
      }
      default:
        return [UBUS.METHOD_NOT_FOUND];
    }
  }
}

type UciValues = Record<string, string | number | boolean | (string | number)[]> | undefined;

/** One edit of a session, as rpcd's uci delta keeps it. */
type UciEdit =
  | { edit: 'add'; type: string; name: string; anonymous: boolean; values: UciValues }
  | { edit: 'set'; section: string; values: UciValues }
  | { edit: 'delete'; section: string; options: string[] | undefined };

function validValues(values: unknown): boolean {
  if (values === undefined) return true;
  if (values === null || typeof values !== 'object' || Array.isArray(values)) return false;
  return Object.values(values).every(
    (v) =>
      ['string', 'number', 'boolean'].includes(typeof v) ||
      (Array.isArray(v) && v.every((x) => ['string', 'number'].includes(typeof x))),
  );
}

/** Strings become options, arrays lists (as ubus uci set takes them); an empty array removes. */
function setValues(s: UciSection, values: UciValues): void {
  for (const [k, v] of Object.entries(values ?? {})) {
    if (Array.isArray(v)) {
      delete s.options[k];
      if (v.length === 0) delete s.lists[k];
      else s.lists[k] = { values: v.map(String), line: 0, lines: v.map(() => 0) };
    } else {
      delete s.lists[k];
      s.options[k] = { value: String(v), line: 0 };
    }
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.on('data', (d: Buffer) => {
      body += d.toString();
      if (body.length > 1 << 20) req.destroy(new Error('body too large'));
    });
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

function json(res: ServerResponse, x: unknown, status = 200): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(x));
}

function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain' });
  res.end(body);
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
