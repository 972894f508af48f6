import { defineConfig } from 'vitest/config';

/**
 * The unit tests Stryker runs against each mutant of the pure core (`npm run test:mutation`): those
 * that import the mutated folders, nothing that starts servers or reads the build. The property
 * tests run fewer cases per mutant (PEERLANE_PROPERTY_RUNS); a mutant they catch is caught early.
 */
export default defineConfig({
  test: {
    include: [
      'test/unit/codec.test.ts',
      'test/unit/composed-background.test.ts',
      'test/unit/cors.test.ts',
      'test/unit/exit-caps.test.ts',
      'test/unit/exit-checks.test.ts',
      'test/unit/exit-policy.test.ts',
      'test/unit/exit-preflight.test.ts',
      'test/unit/exit-registry.test.ts',
      'test/unit/integrity.test.ts',
      'test/unit/lanes.test.ts',
      'test/unit/name-lookup.test.ts',
      'test/unit/outbox.test.ts',
      'test/unit/page-channel.test.ts',
      'test/unit/peer-session.test.ts',
      'test/unit/redirect-method.test.ts',
      'test/unit/request-queue.property.test.ts',
      'test/unit/request-queue.test.ts',
      'test/unit/routed-request.test.ts',
      'test/unit/share-when.test.ts',
      'test/unit/stats-settings.test.ts',
      'test/unit/protocol-edges.test.ts',
      'test/unit/queue-parts.test.ts',
      'test/unit/range-resume.test.ts',
      'test/unit/resumable-response.test.ts',
    ],
    environment: 'node',
    testTimeout: 20_000,
    env: { PEERLANE_PROPERTY_RUNS: '25' },
  },
});
