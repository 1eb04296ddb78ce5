// Every bench answers --help (what it measures, how long, its options) and exits at once, and a
// mistyped option is one line and exit 2: both exit before any run starts.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const REPO = join(import.meta.dirname, '..', '..');
const BENCHES = readdirSync(join(REPO, 'bench'))
  .filter((f) => f.endsWith('.ts') && f !== 'args.ts' && f !== 'prog-cost.ts') // helpers, not benches
  .map((f) => f.slice(0, -3));

async function run(args: string[]) {
  const p = spawn(process.execPath, args, { cwd: REPO });
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (b: Buffer) => (stdout += b));
  p.stderr.on('data', (b: Buffer) => (stderr += b));
  const t = setTimeout(() => p.kill('SIGKILL'), 15_000);
  const [code] = await once(p, 'close');
  clearTimeout(t);
  return { code: code as number | null, stdout, stderr };
}

describe('bench/*: --help and bad options', () => {
  it('finds the benches', () => {
    expect(BENCHES).toEqual(expect.arrayContaining(['forward', 'synflood', 'api', 'synpath']));
    expect(BENCHES.length).toBeGreaterThanOrEqual(7);
  });

  for (const b of BENCHES) {
    it(`${b}: --help prints its usage; --bogus is a usage error; before any run`, async () => {
      const h = await run([`dist/bench/${b}.js`, '--help']);
      expect(h.stderr).toBe('');
      expect(h.code).toBe(0);
      expect(h.stdout).toMatch(new RegExp(`^usage: node dist/bench/${b}\\.js`));
      expect(h.stdout.split('\n').length).toBeGreaterThan(3); // says what it measures
      const bad = await run([`dist/bench/${b}.js`, '--bogus']);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toBe(
        `dist/bench/${b}.js: unknown option '--bogus'\ntry 'dist/bench/${b}.js --help'\n`,
      );
      expect(bad.stdout).toBe('');
    });
  }
});
