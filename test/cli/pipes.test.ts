// The CLI in pipes and scripts: a reader that goes away (`| head -1`, `| grep -q`, `| true`) ends the
// command quietly; the daemon's output streams closing never stops it; usage errors are one line and a
// hint, in our words, with "did you mean"; --json errors are the API's {error, detail} on stderr.
// Runs the built CLI (bin/tunguard → dist, as the lab does) against a control plane on loopback.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../api/helpers.js';

const REPO = join(import.meta.dirname, '..', '..');
const BIN = join(REPO, 'bin', 'tunguard');
const PIPES = join(REPO, 'dist', 'src', 'cli', 'pipes.js');

let d: TestDaemon;
let conn: string;

beforeAll(async () => {
  d = await startTestDaemon();
  conn = `--api ${d.url} --token-file ${d.cp.summary().tokenFile}`;
});
afterAll(() => d?.close());

/**
 * A bash pipeline (run asynchronously: the API answers from this process); the exit code of each part
 * and what reached stdout and stderr.
 */
async function pipeline(script: string) {
  const p = spawn('bash', ['-c', `${script}; echo "codes \${PIPESTATUS[*]}" >&2`]);
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (b: Buffer) => (stdout += b));
  p.stderr.on('data', (b: Buffer) => (stderr += b));
  await once(p, 'close');
  const codes = /codes ([\d ]+)\n$/.exec(stderr)?.[1].split(' ').map(Number) ?? [];
  return { stdout, stderr: stderr.replace(/codes [\d ]+\n$/, ''), codes };
}

function cli(args: string) {
  return pipeline(`'${process.execPath}' '${BIN}' ${args}`);
}

describe('a reader that goes away', () => {
  it('(control) a Node program that writes twice into a closed pipe dies with an EPIPE stack trace', async () => {
    const js = `setTimeout(()=>{process.stdout.write('a\\n');setTimeout(()=>process.stdout.write('b\\n'),50)},300)`;
    const r = await pipeline(`'${process.execPath}' -e "${js}" | true`);
    expect(r.stderr).toMatch(/EPIPE/);
    expect(r.codes[0]).not.toBe(0);
  });

  it('tunguard exits 0 and prints nothing when the reader is gone (| true, | head -1, | grep -q)', async () => {
    // `tiers` writes twice (the tier line, then the history): the second write meets the closed pipe.
    for (let i = 0; i < 3; i++) {
      const t = await cli(`tiers ${conn} | true`);
      expect(t.stderr).toBe('');
      expect(t.codes).toEqual([0, 0]);
      const h = await cli(`tiers ${conn} | head -1`);
      expect(h.stderr).toBe('');
      expect(h.stdout).toMatch(/^tier now: /);
      expect(h.stdout.split('\n').filter((l) => l).length).toBe(1);
      expect(h.codes).toEqual([0, 0]);
    }
    const s = await cli(`status ${conn} | head -1`);
    expect(s.stderr).toBe('');
    expect(s.stdout).toMatch(/^tunguard 0\.0\.0-test, up /);
    const g = await cli(`status ${conn} | grep -q tier`);
    expect(g.stderr).toBe('');
    expect(g.codes).toEqual([0, 0]);
  });
});

describe('the daemon with its output pipes closed', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tunguard-pipes-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  // What run.ts does: surviveClosedPipe() at start, every log line through writeTo().
  const daemonLike = (survive: boolean) => `
    import { surviveClosedPipe, writeTo } from '${PIPES}';
    import { writeFileSync } from 'node:fs';
    ${survive ? 'surviveClosedPipe();' : ''}
    let n = 0;
    const t = setInterval(() => {
      writeTo(process.stdout, 'tunguard: log line ' + ++n + '\\n');
      writeTo(process.stderr, 'tunguard: on stderr ' + n + '\\n');
      if (n === 5) process.emitWarning('a warning into a closed stderr');
      if (n === 20) { clearInterval(t); writeFileSync('${dir}/alive', String(n)); }
    }, 20);`;

  for (const survive of [true, false]) {
    it(
      survive ? 'keeps running and logging after stdout and stderr close' : '(control) dies without it',
      async () => {
        rmSync(join(dir, 'alive'), { force: true });
        writeFileSync(join(dir, 'd.mjs'), daemonLike(survive));
        const r = await pipeline(`'${process.execPath}' '${dir}/d.mjs' 2>&1 | head -1`);
        expect(r.stdout).toBe('tunguard: log line 1\n');
        if (survive) {
          expect(r.codes[0]).toBe(0);
          expect(readFileSync(join(dir, 'alive'), 'utf8')).toBe('20');
        } else {
          expect(r.codes[0]).not.toBe(0);
          expect(() => readFileSync(join(dir, 'alive'))).toThrow();
        }
      },
    );
  }
});

describe('usage errors', () => {
  const cases: [string, RegExp][] = [
    ['stat', /^tunguard: unknown command 'stat' \(did you mean 'status'\?\)\ntry 'tunguard help'\n$/],
    ['--verison', /^tunguard: unknown option '--verison' \(did you mean '--version'\?\)\n/],
    [
      'status --js',
      /^tunguard status: unknown option '--js' \(did you mean '--json'\?\)\ntry 'tunguard status --help'\n$/,
    ],
    ['tiers --limt 3', /^tunguard tiers: unknown option '--limt' \(did you mean '--limit'\?\)\n/],
    [
      'status --api --timeout 3',
      /^tunguard status: --api needs a value \(got '--timeout'; write --api=--timeout if that is the value\)\n/,
    ],
    ['status --api', /^tunguard status: --api needs a value\ntry 'tunguard status --help'\n$/],
    ['status --json=yes', /^tunguard status: --json takes no value\n/],
    ['status extra', /^tunguard status: unexpected argument 'extra'\n/],
    ['allow lsit', /^tunguard allow: unknown allow subcommand 'lsit' \(did you mean 'list'\?\)\n/],
    ['connections --limit 0', /^tunguard connections: --limit: expected an integer 1\.\.1000, got '0'\n/],
    // The daemon's: one of its logfmt lines (procd hands its stderr to syslog with the rest).
    [
      'run --wna x',
      /^tunguard: level=error event=exit msg="unknown option '--wna' \(did you mean '--wan'\?\)" code=2 error=usage hint="try 'tunguard run --help'"\n$/,
    ],
  ];
  for (const [args, want] of cases)
    it(`tunguard ${args}: one line and a hint, exit 2`, async () => {
      const r = await cli(args);
      expect(r.stderr).toMatch(want);
      expect(r.stderr.split('\n').length).toBeLessThanOrEqual(3);
      expect(r.stderr).not.toMatch(/ambiguous|separator|usage:| {4}at /);
      expect(r.stdout).toBe('');
      expect(r.codes[0]).toBe(2);
    });

  it('--version and version print the package version', async () => {
    const version = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).version;
    for (const a of ['--version', 'version', '-V']) {
      const r = await cli(a);
      expect(r.stdout).toBe(`tunguard ${version}\n`);
      expect(r.codes[0]).toBe(0);
    }
  });
});

describe('--json errors', () => {
  it('are {error, detail} on stderr, nothing on stdout, with the usual exit codes', async () => {
    const usage = await cli('status --js --json');
    expect(JSON.parse(usage.stderr)).toEqual({
      error: 'usage',
      detail: "unknown option '--js' (did you mean '--json'?)",
    });
    expect(usage.codes[0]).toBe(2);
    const down = await cli('status --json --api 127.0.0.1:47 --token-file /dev/null');
    expect(Object.keys(JSON.parse(down.stderr))).toEqual(['error', 'detail']);
    expect(JSON.parse(down.stderr).error).toBe('not_running');
    expect(down.stdout).toBe('');
    expect(down.codes[0]).toBe(3);
    // An API error keeps the API's own code.
    const missing = await cli(`dispatches nope --json ${conn}`);
    expect(missing.stdout).toBe('');
    expect(missing.codes[0]).toBe(1);
    expect(JSON.parse(missing.stderr)).toMatchObject({ error: expect.stringMatching(/^[a-z_]+$/) });
  });

  it('(control) without --json the same errors are text', async () => {
    const r = await cli('status --api 127.0.0.1:47 --token-file /dev/null');
    expect(() => JSON.parse(r.stderr)).toThrow();
    expect(r.stderr).toMatch(/^tunguard status: tunguard is not running/);
  });
});
