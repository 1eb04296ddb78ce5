// The README and docs/ link only to files inside the repository (a fresh clone has no ../shared), and
// the README states the per-source rate limits the defaults really have.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../../src/config/index.js';

const REPO = resolve(import.meta.dirname, '..', '..');
const DOCS = ['README.md', ...readdirSync(join(REPO, 'docs')).map((f) => join('docs', f))];

describe('documentation', () => {
  it('has a docs/ folder with the design, operations and contributing pages', () => {
    expect(DOCS).toEqual(
      expect.arrayContaining(['docs/DESIGN.md', 'docs/operations.md', 'docs/contributing.md']),
    );
  });

  for (const doc of DOCS)
    it(`${doc}: every relative link is a file in the repository`, () => {
      const text = readFileSync(join(REPO, doc), 'utf8');
      const links = [...text.matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)]
        .map((m) => m[1])
        .filter((l) => !/^[a-z]+:/.test(l));
      // A page without relative links passes too: what is checked is that none is broken.
      const broken = links.filter((l) => {
        const target = resolve(dirname(join(REPO, doc)), l);
        return relative(REPO, target).startsWith('..') || !existsSync(target);
      });
      expect(broken, `${doc}: links that leave the repository or name no file`).toEqual([]);
    });

  it('(control) a link outside the repository is caught', () => {
    const target = resolve(REPO, '../shared/DESIGN.md');
    expect(relative(REPO, target).startsWith('..')).toBe(true);
  });

  it('the README gives the rate limits as the defaults have them', () => {
    const r = defaultConfig().ratelimit;
    const readme = readFileSync(join(REPO, 'README.md'), 'utf8').replace(/\s+/g, ' ');
    expect(readme).toContain(`ICMP ${r.icmp.rate}/s and UDP ${r.udp.rate}/s for the whole router`);
    expect(readme).toContain(
      `per source ICMP ${r.icmp.perSourceRate}/s and UDP ${r.udp.perSourceRate}/s (burst ${r.icmp.perSourceBurst}/${r.udp.perSourceBurst})`,
    );
  });
});
