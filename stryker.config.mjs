// Mutation testing of the pure core, where the product's correctness lives (`npm run test:mutation`,
// docs/testing.md). Incremental: a rerun tests only mutants whose code or tests changed.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutation.config.ts' },
  checkers: ['typescript'],
  tsconfigFile: 'tsconfig.json',
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  mutate: [
    'extension/core/queue/**/*.ts',
    'extension/core/protocol/**/*.ts',
    'extension/core/exit/**/*.ts',
    'extension/core/peers/lanes.ts',
    'extension/core/peers/outbox.ts',
    'extension/core/http/**/*.ts',
  ],
  coverageAnalysis: 'perTest',
  incremental: true,
  incrementalFile: 'reports/mutation/stryker-incremental.json',
  reporters: ['progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  thresholds: { high: 80, low: 60, break: null },
  concurrency: 2,
  cleanTempDir: 'always',
};
