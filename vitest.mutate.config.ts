// The tests Stryker runs against mutants of src/defense, src/packet and src/agent/protocol.ts (npm run
// mutate): the unit tests that reach them. Not the lab or API suites (root, namespaces, minutes per run),
// and not the tests that measure allocation or heap growth (instrumented code allocates by design) nor the
// million-iteration statistical and fuzz runs (each would run for every mutant it reaches; the unit tests
// of the same code stay in).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      'test/packet/**/*.test.ts',
      'test/defense/**/*.test.ts',
      'test/unit/**/*.test.ts',
      'test/agent/protocol.test.ts',
      'test/remediation/agent-client.test.ts',
    ],
    testNamePattern:
      /^(?!.*(without allocating|heap flat|fixed size under a million|1 M random|random guesses)).*$/,
    expect: { requireAssertions: true },
    testTimeout: 60_000,
  },
});
