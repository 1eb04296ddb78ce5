import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Lab suites share one kernel (namespaces, TUN): never run two files at once.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // A test that asserts nothing passes whatever the code does: fail it instead.
    expect: { requireAssertions: true },
  },
});
