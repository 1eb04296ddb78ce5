// The text of the list commands (format.ts' tableOr): a table under its heading, or one line saying the
// list is empty. Against a real daemon on loopback (test/api/helpers.ts) with the CLI in this process.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../api/helpers.js';
import { runCli } from './run-cli.js';

let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon({ remediation: true });
});
afterAll(async () => {
  await d?.close();
});

describe('list commands as text', () => {
  it('an empty list is one line; a list is a table with its heading', async () => {
    expect(await runCli(d, 'rules', [])).toMatchObject({ code: 0, stdout: 'no rules\n' });
    expect(await runCli(d, 'dispatches', [])).toMatchObject({ code: 0, stdout: 'no dispatches\n' });
    // The test config allows 192.0.2.10/32 in its main section.
    const allow = await runCli(d, 'allow', ['list']);
    expect(allow.code, allow.stderr).toBe(0);
    expect(allow.stdout).toMatch(/^PREFIX +SECTION +COMMENT\n192\.0\.2\.10\/32 +main/);
    expect((await runCli(d, 'allow', ['del', '192.0.2.10'])).code).toBe(0);
    expect(await runCli(d, 'allow', ['list'])).toMatchObject({ code: 0, stdout: 'the allowlist is empty\n' });
  });
});
