// The linter for the code and the tests. Type-checked rules from typescript-eslint (floating and
// misused promises, awaits of non-promises, conditions that cannot change) and vitest's rules that
// keep a test honest (it asserts, unconditionally, under a real title). Formatting is Prettier's.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import vitest from '@vitest/eslint-plugin';
import globals from 'globals';

export default tseslint.config(
  {
    ignores: [
      'dist/',
      'node_modules/',
      'artifacts/',
      'test/artifacts/',
      'bench/results/',
      'bench/profile/',
      'reports/',
      '.stryker-tmp/',
      'eslint.config.js',
      'stryker.config.mjs',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
      globals: { ...globals.browser, ...globals.node },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-unnecessary-condition': 'error',
      // Off: an async method that implements a Promise-returning contract (the bus, the fake platform,
      // an executor) says so by being async; returning Promise.resolve(...) instead would say less.
      // The mistakes this rule hunts (a forgotten await) are no-floating-promises' and await-thenable's.
      '@typescript-eslint/require-await': 'off',
      // An abort rejects with signal.reason, whatever the caller put there: that is the platform's contract.
      '@typescript-eslint/prefer-promise-reject-errors': [
        'error',
        { allowThrowingUnknown: true, allowThrowingAny: true },
      ],
      // A record whose callbacks refer to it is declared first and assigned once below (peer-registry).
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
    },
  },
  {
    files: ['test/**/*.ts'],
    plugins: { vitest },
    rules: {
      ...vitest.configs.recommended.rules,
      'vitest/expect-expect': ['error', { assertFunctionNames: ['expect', 'expect*', 'assert*'] }],
      'vitest/no-conditional-expect': 'error',
      'vitest/no-conditional-in-test': 'error',
      'vitest/valid-title': 'error',
      'vitest/no-disabled-tests': 'error',
      'vitest/no-standalone-expect': 'error',
      // vitest types its asymmetric matchers (expect.stringMatching, expect.any) as any; placing one in
      // an expected object is the matcher's purpose, not an unsafe assignment.
      '@typescript-eslint/no-unsafe-assignment': 'off',
      // expect(value, 'what went wrong') is vitest's own message argument.
      'vitest/valid-expect': ['error', { maxArgs: 2 }],
    },
  },
);
