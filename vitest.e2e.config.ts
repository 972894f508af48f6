import { defineConfig } from 'vitest/config';

/** Real browsers, real servers, loopback only: one file at a time, generous but bounded timeouts. */
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.spec.ts'],
    environment: 'node',
    fileParallelism: false,
    testTimeout: 90_000,
    hookTimeout: 90_000,
  },
});
