// The dependency map of docs/DESIGN.md (§4) holds in the source: `dataplane → (defense, packet, tun,
// state)`, `packet` depends on nothing, the dataplane never imports the API. Type-only imports count
// too: a layout in tun/ that names the proxy's types ties it to defense/ as much as a call does.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '..', '..', 'src');

/** What a layer must not import (the layers beside or above it in the map). */
const FORBIDDEN: Record<string, readonly string[]> = {
  packet: ['*'],
  tun: ['defense', 'dataplane', 'api', 'daemon', 'cli'],
  defense: ['tun', 'dataplane', 'api', 'daemon', 'cli'],
  dataplane: ['api', 'daemon', 'cli'],
};

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => join(e.parentPath, e.name));
}

/** The top-level src/ folders a file imports from (relative specifiers only), besides its own. */
function importedLayers(file: string, text = readFileSync(file, 'utf8')): string[] {
  const own = relative(SRC, file).split('/')[0];
  const layers = new Set<string>();
  for (const m of text.matchAll(/^\s*(?:import|export)\b[^'"]*?\bfrom\s+'(\.[^']+)'/gms)) {
    const layer = relative(SRC, resolve(dirname(file), m[1])).split('/')[0];
    if (layer !== own) layers.add(layer);
  }
  return [...layers];
}

describe('layers (docs/DESIGN.md §4)', () => {
  for (const [layer, forbidden] of Object.entries(FORBIDDEN))
    it(`${layer}/ imports none of ${forbidden.join(', ')}`, () => {
      const bad: string[] = [];
      for (const f of sources(join(SRC, layer)))
        for (const l of importedLayers(f))
          if (forbidden.includes('*') || forbidden.includes(l)) bad.push(`${relative(SRC, f)} → ${l}/`);
      expect(bad).toEqual([]);
    });

  it('sees a type-only import across layers (the check itself can fail)', () => {
    const f = join(SRC, 'tun', 'x.ts');
    expect(importedLayers(f, "import type { ConnTable } from '../defense/conntable.js';\n")).toEqual([
      'defense',
    ]);
    expect(importedLayers(f, "import {\n  a,\n  b,\n} from '../dataplane/stage.js';\n")).toEqual([
      'dataplane',
    ]);
    expect(importedLayers(f, "import { a } from './flow-bypass.js';\n")).toEqual([]);
  });
});
