// The LuCI app's translation template (luci-app/po/templates/tunguard.pot): it is what the extractor
// (cross-build/luci-pot.mjs) makes of the views, menu and ACL now; its strings from the views are
// exactly those GNU xgettext finds with LuCI's keywords (_ and N_:2,3); real msgfmt accepts it. And the
// views speak the user's words: the three rule kinds by name, never the patent figure numbers.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../lab/lab.js';
import { LUCI_APP } from './harness.js';

const POT = join(LUCI_APP, 'po/templates/tunguard.pot');
const SCRIPT = join(REPO_ROOT, 'cross-build/luci-pot.mjs');

function views(): string[] {
  return readdirSync(join(LUCI_APP, 'htdocs'), { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile() && d.name.endsWith('.js'))
    .map((d) => join(d.parentPath, d.name))
    .sort();
}

/** The msgids of a .pot, continuation lines joined and escapes decoded. */
function msgids(text: string): Set<string> {
  const ids = new Set<string>();
  const entries = text.split(/\n\n+/);
  for (const e of entries) {
    const m = /^msgid ((?:"(?:[^"\\]|\\.)*"\n?)+)/m.exec(e);
    if (!m) continue;
    const id = [...m[1].matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((x) => JSON.parse(`"${x[1]}"`)).join('');
    if (id !== '') ids.add(id);
  }
  return ids;
}

function tool(cmd: string, pkg: string): string {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} is missing (apt-get install -y ${pkg})`);
  return r.stdout.trim();
}

describe('luci-app translation template', () => {
  it('is up to date with the views, menu and ACL (node cross-build/luci-pot.mjs)', () => {
    const r = spawnSync(process.execPath, [SCRIPT, '--check'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
  });

  it('holds exactly the strings GNU xgettext finds in the views, plus the menu titles and the ACL text', () => {
    const out = join(tmpdir(), `tunguard-xgettext-${process.pid}.pot`);
    const r = spawnSync(
      tool('xgettext', 'gettext'),
      [
        '--from-code=UTF-8',
        '--language=JavaScript',
        '--keyword=_',
        '--keyword=N_:2,3',
        '-o',
        out,
        ...views(),
      ],
      { encoding: 'utf8' },
    );
    expect(r.status, r.stderr).toBe(0);
    const theirs = msgids(readFileSync(out, 'utf8'));
    rmSync(out);
    const ours = msgids(readFileSync(POT, 'utf8'));
    const menu = Object.values(
      JSON.parse(readFileSync(join(LUCI_APP, 'root/usr/share/luci/menu.d/luci-app-tunguard.json'), 'utf8')),
    ).map((n) => (n as { title: string }).title);
    const acl = Object.values(
      JSON.parse(readFileSync(join(LUCI_APP, 'root/usr/share/rpcd/acl.d/luci-app-tunguard.json'), 'utf8')),
    ).map((g) => (g as { description: string }).description);
    expect(theirs.size).toBeGreaterThan(300);
    expect([...theirs].filter((id) => !ours.has(id))).toEqual([]);
    const extra = [...ours].filter((id) => !theirs.has(id)).sort();
    expect(extra).toEqual([...new Set([...menu, ...acl])].filter((id) => !theirs.has(id)).sort());
    for (const id of ['environment rule', 'threat rule', 'combined rule', 'Upload a program', 'Rules', 'Log'])
      expect(ours.has(id), id).toBe(true);
  });

  it('is a valid catalog for GNU msgfmt', () => {
    const r = spawnSync(tool('msgfmt', 'gettext'), ['-c', '-o', '/dev/null', POT], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
  });

  it("speaks the user's words: rule kinds by name, no figure numbers", () => {
    for (const f of views()) {
      const src = readFileSync(f, 'utf8');
      expect(src, f).not.toMatch(/\bFIG\.?\s*\d|\bfigure\s*\d/i);
    }
    const rules = readFileSync(join(LUCI_APP, 'htdocs/luci-static/resources/view/tunguard/rules.js'), 'utf8');
    expect(rules).toMatch(/environment: _\('environment rule'\)/);
    expect(rules).toMatch(/threat: _\('threat rule'\)/);
    expect(rules).toMatch(/combined: _\('combined rule'\)/);
  });
});
