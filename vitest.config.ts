import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Each suite starts its own Redis and servers; two workers match the two cores CI has.
    pool: 'forks',
    maxWorkers: 2,
  },
});
