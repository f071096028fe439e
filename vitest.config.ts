import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // The voice harness and browser tests are CPU-heavy; two cores are shared.
    fileParallelism: false,
  },
});
