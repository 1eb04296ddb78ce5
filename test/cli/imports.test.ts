// What the CLI's commands load at run time: the API's answer types come in as types only, so a command
// never loads the API's server, its routes or hono, nor the daemon, the dataplane or the report parsers (a command on the
// router starts fast and small, and the bundle's CLI chunks stay free of them). esbuild follows the
// imports as Node would run them (type-only imports are erased) and lists every module reached.
import { join } from 'node:path';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

const REPO = join(import.meta.dirname, '..', '..');

async function loaded(entry: string): Promise<{ modules: string[]; packages: string[] }> {
  const r = await build({
    entryPoints: [join(REPO, entry)],
    absWorkingDir: REPO,
    bundle: true,
    platform: 'node',
    format: 'esm',
    write: false,
    metafile: true,
    packages: 'external',
    logLevel: 'silent',
  });
  const packages = new Set<string>();
  for (const o of Object.values(r.metafile.outputs))
    for (const i of o.imports) if (i.external && !i.path.startsWith('node:')) packages.add(i.path);
  return { modules: Object.keys(r.metafile.inputs), packages: [...packages] };
}

describe("the CLI's commands at run time", () => {
  it('load none of the API server, its routes, the daemon or the dataplane; hono stays out', async () => {
    const { modules, packages } = await loaded('src/cli/commands.ts');
    // The commands themselves are reached (the graph is the real one, not empty).
    expect(modules).toContain('src/cli/hosts.ts');
    expect(modules).toContain('src/cli/scan.ts');
    const unwanted = modules.filter((m) =>
      /^src\/(api\/(server|app|errors|openapi[\w-]*|answers)\.ts|api\/routes\/|daemon\/|dataplane\/|tun\/|inventory\/import\/(index|nmap|nessus|openvas)\.ts)/.test(
        m,
      ),
    );
    expect(unwanted).toEqual([]);
    expect(packages.filter((p) => /^(@hono\/|hono|lmdb|saxes)/.test(p))).toEqual([]);
  });
});
