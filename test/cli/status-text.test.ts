// `tunguard status` as text: the SYN police's table line (installed, gone and why, or none), from the
// daemon's /status police object. Against a real control plane on loopback (test/api/helpers.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PoliceStatus } from '../../src/api/deps.js';
import { startTestDaemon, type TestDaemon } from '../api/helpers.js';
import { runCli } from './run-cli.js';

let d: TestDaemon;
let police: PoliceStatus | undefined = { installed: true, lost: 0, rebuilt: 0 };
beforeAll(async () => {
  d = await startTestDaemon({ police: () => police });
});
afterAll(async () => {
  await d?.close();
});

const policeLine = async () => {
  const r = await runCli(d, 'status', []);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.split('\n').filter((l) => l.startsWith('police '));
};

describe('tunguard status: the SYN police', () => {
  it('says installed, with its losses once it had some; no warning then', async () => {
    expect(await policeLine()).toEqual(['police      installed']);
    police = { installed: true, lost: 2, rebuilt: 2 };
    expect(await policeLine()).toEqual(['police      installed (lost 2 times, rebuilt 2 times)']);
  });

  it('warns while the table is gone, with the reason', async () => {
    police = { installed: false, lost: 1, rebuilt: 0, reason: 'nft exited (SIGKILL)' };
    const [line] = await policeLine();
    expect(line).toMatch(
      /^police {6}WARNING: the SYN police's nft table is gone \(lost 1 time, rebuilt 0 times\): nft exited \(SIGKILL\); /,
    );
    const json = await runCli(d, 'status', ['--json']);
    expect(JSON.parse(json.stdout).police).toEqual(police);
  });

  it('says none when the daemon runs without one', async () => {
    police = undefined;
    expect(await policeLine()).toEqual(['police      none (no nft, or nothing needs it)']);
  });
});
