import { resolve } from 'node:path';
import { build, type Rollup } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STRICTER_THAN_REGISTRY } from '../../extension/core/exit/special-addresses';
import { launchWithExtension, type ExtensionBrowser } from '../helpers/chromium';
import { launchFirefoxPeer, type FirefoxPeer } from '../helpers/firefox';
import { registryCases, type RegistryCase } from '../helpers/registry-cases';
import { closeAll } from '../helpers/close-all';

/**
 * The registry cases (test/helpers/registry-cases.ts) judged by the exit policy inside each engine,
 * in the extension's own background context, where the URL parser is the engine's: Chromium takes
 * spellings (fullwidth digits) that Node refuses. A spelling the engine cannot parse must be refused;
 * any other must get the registry's verdict.
 */
const { cases } = registryCases(STRICTER_THAN_REGISTRY.map((entry) => entry.block));
let policyScript = '';

interface EngineResult {
  url: string;
  parses: boolean;
  allowed: boolean;
  message: string;
}

/** Runs in the engine: needs `globalThis.peerlanePolicy` (the IIFE below). */
function judgeAll(urls: string[]): EngineResult[] {
  const policy = (globalThis as unknown as { peerlanePolicy: typeof import('../../extension/core/exit/policy') })
    .peerlanePolicy;
  return urls.map((url) => {
    let parses = true;
    try {
      new URL(url);
    } catch {
      parses = false;
    }
    const verdict = policy.checkDestination(url, 'GET', policy.DEFAULT_EXIT_POLICY);
    return { url, parses, allowed: verdict.allowed, message: verdict.allowed ? '' : verdict.error.message };
  });
}

function mismatches(results: EngineResult[], expected: RegistryCase[]): string[] {
  return results.flatMap((result, index) => {
    const testCase = expected[index]!;
    if (!result.parses) return result.allowed ? [`${result.url}: allowed though the engine cannot parse it`] : [];
    return result.allowed === testCase.reachable
      ? []
      : [`${result.url} (${testCase.address}, ${testCase.why}): ${result.allowed ? 'allowed' : result.message}`];
  });
}

beforeAll(async () => {
  const output = (await build({
    configFile: false,
    logLevel: 'silent',
    build: {
      write: false,
      minify: false,
      lib: {
        entry: resolve('extension/core/exit/policy.ts'),
        formats: ['iife'],
        name: 'peerlanePolicy',
        fileName: () => 'policy.js',
      },
    },
  })) as Rollup.RollupOutput | Rollup.RollupOutput[];
  const first = Array.isArray(output) ? output[0]! : output;
  policyScript = first.output.find((chunk): chunk is Rollup.OutputChunk => chunk.type === 'chunk')!.code;
  // An IIFE's `var peerlanePolicy` is global in a classic script; pin it on globalThis for evaluate().
  policyScript += '\nglobalThis.peerlanePolicy = peerlanePolicy;';
}, 60_000);

describe('the exit policy inside Chromium (its service worker)', () => {
  let chromium: ExtensionBrowser;
  beforeAll(async () => {
    chromium = await launchWithExtension([]);
  }, 60_000);
  afterAll(async () => {
    await closeAll(chromium);
  });

  it('gives every registry case the registry verdict', async () => {
    await chromium.worker.evaluate(policyScript);
    const results = await chromium.worker.evaluate(
      judgeAll,
      cases.map((testCase) => testCase.url),
    );
    expect(mismatches(results, cases)).toEqual([]);
    // Chromium parses the fullwidth spellings Node refuses: they were judged, not just refused.
    const fullwidth = results.filter((result) => /[\uff10-\uff19]/.test(result.url));
    expect(fullwidth.filter((result) => result.parses).length).toBeGreaterThan(0);
    console.info(
      `Chromium: ${results.length} cases, ${results.filter((result) => result.parses).length} parse, ${results.filter((result) => result.allowed).length} allowed`,
    );
  }, 60_000);
});

describe('the exit policy inside Firefox (an extension page of its background)', () => {
  let firefox: FirefoxPeer;
  beforeAll(async () => {
    firefox = await launchFirefoxPeer([]);
  }, 60_000);
  afterAll(async () => {
    await closeAll(firefox);
  });

  it('gives every registry case the registry verdict', async () => {
    await firefox.control.evaluate(policyScript);
    const results: EngineResult[] = await firefox.control.evaluate(
      judgeAll,
      cases.map((testCase) => testCase.url),
    );
    expect(results).toHaveLength(cases.length);
    expect(mismatches(results, cases)).toEqual([]);
    console.info(
      `Firefox: ${results.length} cases, ${results.filter((result) => result.parses).length} parse, ${results.filter((result) => result.allowed).length} allowed`,
    );
  }, 60_000);
});
