import { defineConfig } from 'vitest/config';

// `npm run test:e2e`: tests that need system software installed by `npm run e2e:setup` (a real LiveKit server,
// Chromium, a Letta server with PostgreSQL). `npm test` never runs these.
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.test.ts'],
    testTimeout: 180_000,
    hookTimeout: 180_000,
    // Real servers, a browser and voice calls on two shared cores: one file at a time.
    fileParallelism: false,
  },
});
