import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

/**
 * The Firefox build passes addons-linter (web-ext lint) with no error, and every warning left is
 * one docs/using.md (Package it) explains: a new kind of warning fails here until it is fixed or explained.
 */
const EXPLAINED_WARNINGS = new Set([
  // zod and the Node polyfills simple-peer needs contain `new Function`/`eval`; zod is told not to
  // use it (jitless) and the extension CSP forbids it anyway. docs/using.md, Package it.
  'DANGEROUS_EVAL',
]);

describe('Firefox package', () => {
  it('web-ext lint: 0 errors, only explained warnings', () => {
    expect(existsSync('dist/firefox/manifest.json'), 'run npm run build first (npm test does)').toBe(true);
    let output: string;
    try {
      output = execFileSync('node_modules/.bin/web-ext', ['lint', '--source-dir', 'dist/firefox', '--output', 'json'], {
        encoding: 'utf8',
      });
    } catch (error) {
      // web-ext exits non-zero when it finds errors; the JSON report is still on stdout.
      output = (error as { stdout?: string }).stdout ?? '';
    }
    const report = JSON.parse(output) as {
      errors: { code: string; message: string }[];
      warnings: { code: string; file: string }[];
    };
    expect(report.errors.map((error) => `${error.code}: ${error.message}`)).toEqual([]);
    expect(
      report.warnings
        .filter((warning) => !EXPLAINED_WARNINGS.has(warning.code))
        .map((warning) => `${warning.code} in ${warning.file}`),
    ).toEqual([]);
  }, 60_000);
});
