import { describe, expect, it } from 'vitest';
import { createForbiddenHeaders, type SessionRules } from '../../extension/background/platform/forbidden-headers';

/**
 * The declarativeNetRequest rules the exit sets forbidden headers with (Origin, and Host when it
 * dials a plain-HTTP request by address). The rule store is a stand-in that records what was asked
 * of it; what the browser does with a rule is measured in the e2e tests.
 */
function ruleStore() {
  const live = new Map<number, object>();
  const rules: SessionRules = {
    getSessionRules: async () => [...live.keys()].map((id) => ({ id })),
    updateSessionRules: async ({ removeRuleIds = [], addRules = [] }) => {
      for (const id of removeRuleIds) live.delete(id);
      for (const rule of addRules as { id: number }[]) live.set(rule.id, rule);
    },
  };
  return { rules, live };
}

/** A run the test ends by hand, recording how many rules were live while it ran. */
function heldRun(live: Map<number, object>) {
  let finish: () => void = () => undefined;
  const seen: number[] = [];
  const done = new Promise<void>((resolve) => (finish = resolve));
  return {
    run: async () => {
      seen.push(live.size);
      await done;
      return 'ok';
    },
    finish,
    seen,
  };
}

describe('forbidden headers by session rule', () => {
  it('requests for one URL wanting the same headers share one rule at once; the rule goes with the last of them', async () => {
    const { rules, live } = ruleStore();
    const set = createForbiddenHeaders(rules);
    const url = 'http://93.184.216.34/a';
    const first = heldRun(live);
    const second = heldRun(live);
    const a = set(url, 'GET', [['host', 'example.com']], first.run);
    const b = set(url, 'GET', [['host', 'example.com']], second.run);
    await expect.poll(() => first.seen.length + second.seen.length).toBe(2);
    expect([...first.seen, ...second.seen]).toEqual([1, 1]);
    first.finish();
    await a;
    expect(live.size).toBe(1);
    second.finish();
    await b;
    await expect.poll(() => live.size).toBe(0);
  });

  it('a request wanting other headers for the same URL waits until the first is done', async () => {
    const { rules, live } = ruleStore();
    const set = createForbiddenHeaders(rules);
    const url = 'http://93.184.216.34/a';
    const first = heldRun(live);
    const other = heldRun(live);
    const a = set(url, 'POST', [['origin', 'https://one.example']], first.run);
    const b = set(url, 'POST', [['origin', 'https://two.example']], other.run);
    await expect.poll(() => first.seen.length).toBe(1);
    await Promise.resolve();
    expect(other.seen).toEqual([]);
    first.finish();
    await a;
    await expect.poll(() => other.seen.length).toBe(1);
    other.finish();
    await b;
  });

  it('a URL a urlFilter cannot say exactly gets an anchored regexFilter', async () => {
    const { rules, live } = ruleStore();
    const set = createForbiddenHeaders(rules);
    const conditions: object[] = [];
    await set('http://93.184.216.34/a*b?x=|', 'GET', [['host', 'example.com']], async () =>
      conditions.push(...[...live.values()].map((rule) => (rule as { condition: object }).condition)),
    );
    expect(conditions).toEqual([
      { regexFilter: '^http://93\\.184\\.216\\.34/a\\*b\\?x=\\|$', tabIds: [-1], requestMethods: ['get'] },
    ]);
  });
});
