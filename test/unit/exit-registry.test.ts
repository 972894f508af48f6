import { describe, expect, it } from 'vitest';
import { parseBlock } from '../../extension/core/exit/ip-address';
import { checkDestination, DEFAULT_EXIT_POLICY, isPrivateAddress } from '../../extension/core/exit/policy';
import { STRICTER_THAN_REGISTRY } from '../../extension/core/exit/special-addresses';
import { registryCases, registryVerdict } from '../helpers/registry-cases';

/**
 * The exit policy against its registries, in Node (the same cases run in Chromium and Firefox in
 * test/e2e/exit-registry-engines.spec.ts, whose URL parsers decide what a spelling means there).
 */
const stricter = STRICTER_THAN_REGISTRY.map((entry) => entry.block);
const { cases, rows } = registryCases(stricter);

function parses(url: string): boolean {
  try {
    new URL(url);
    return true;
  } catch {
    return false;
  }
}

describe('exit policy from the IANA registries', () => {
  it('reads both registries whole', () => {
    expect(rows.filter((row) => row.block.family === 4).length).toBeGreaterThanOrEqual(25);
    expect(rows.filter((row) => row.block.family === 6).length).toBeGreaterThanOrEqual(25);
    expect(rows.some((row) => row.block.text === '5f00::/16' && row.globallyReachable === 'False')).toBe(true);
    expect(cases.length).toBeGreaterThan(1500);
  });

  it('each stricter choice is a block the registry calls reachable, with a reason', () => {
    for (const entry of STRICTER_THAN_REGISTRY) {
      const block = parseBlock(entry.block);
      expect(registryVerdict({ family: block.family, value: block.base }, rows, []).reachable, entry.block).toBe(true);
      expect(entry.reason.length).toBeGreaterThan(10);
    }
  });

  it('every generated case gets the registry verdict (unparseable spellings refused)', () => {
    const wrong: string[] = [];
    let unparseable = 0;
    for (const testCase of cases) {
      const verdict = checkDestination(testCase.url, 'GET', DEFAULT_EXIT_POLICY);
      if (!parses(testCase.url)) {
        unparseable += 1;
        if (verdict.allowed) wrong.push(`${testCase.url}: allowed though it does not parse`);
        continue;
      }
      if (verdict.allowed !== testCase.reachable)
        wrong.push(
          `${testCase.url} (${testCase.address}, ${testCase.why}): ${verdict.allowed ? 'allowed' : verdict.error.message}`,
        );
    }
    expect(wrong).toEqual([]);
    // Node rejects the fullwidth spellings; everything else parses.
    expect(unparseable).toBeLessThan(cases.length / 4);
  });

  it('the connected-address check agrees with the registry on every canonical address', () => {
    const wrong = [...new Map(cases.map((testCase) => [testCase.address, testCase])).values()].filter(
      (testCase) => isPrivateAddress(testCase.address) === testCase.reachable,
    );
    expect(wrong.map((testCase) => `${testCase.address}: ${testCase.why}`)).toEqual([]);
  });
});
