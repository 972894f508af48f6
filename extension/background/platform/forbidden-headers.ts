import type { ForbiddenHeaders } from './exit-fetch';

/**
 * The request headers fetch() forbids an extension to set (`Origin`, a preflight's
 * `Access-Control-Request-*`), set on the exit's own request by a declarativeNetRequest session rule
 * that names that one URL and method, for as long as the fetch takes to its response head.
 * Measured with a probe extension: a session rule's modifyHeaders reaches the extension's own fetch
 * in Chromium 156 (service worker) and Firefox 153 (background page); without one a Chromium POST,
 * PUT or OPTIONS carries `Origin: chrome-extension://<id>`, which names Peerlane to the destination;
 * `null` removes it. Two requests for the same URL and method wait for each other (one rule can
 * name only one Origin). A URL a urlFilter cannot say exactly goes without.
 */

/** The part of `declarativeNetRequest` used here: the same in both browsers (promises). */
export interface SessionRules {
  getSessionRules(): Promise<{ id: number }[]>;
  updateSessionRules(options: { removeRuleIds?: number[]; addRules?: object[] }): Promise<void>;
}
const DNR_METHODS = new Set(['connect', 'delete', 'get', 'head', 'options', 'patch', 'post', 'put']);
/** Our rules' ids: above anything a static ruleset would use, below 2^31. */
const FIRST_RULE_ID = 1_000_000;

export function createForbiddenHeaders(rules: SessionRules): ForbiddenHeaders {
  let nextId = FIRST_RULE_ID;
  const holding = new Map<string, Promise<void>>();
  // Session rules outlive a stopped worker: a restarted one starts by clearing what it left.
  const cleared = rules
    .getSessionRules()
    .then((existing) => rules.updateSessionRules({ removeRuleIds: existing.map((rule) => rule.id).filter((id) => id >= FIRST_RULE_ID) }))
    .catch(() => undefined);
  return async (url, method, headers, run) => {
    const dnrMethod = method.toLowerCase();
    if (headers.length === 0 || /[*^|]/.test(url) || !DNR_METHODS.has(dnrMethod)) return run();
    await cleared;
    const key = `${dnrMethod} ${url}`;
    for (let waiting = holding.get(key); waiting; waiting = holding.get(key)) await waiting;
    let release: () => void = () => undefined;
    holding.set(key, new Promise<void>((resolve) => (release = resolve)));
    const id = nextId;
    nextId = nextId >= 2 ** 31 - 2 ? FIRST_RULE_ID : nextId + 1;
    try {
      await rules.updateSessionRules({
        removeRuleIds: [id],
        addRules: [
          {
            id,
            priority: 1,
            action: { type: 'modifyHeaders', requestHeaders: headers.map(([header, value]) => (value === null ? { header, operation: 'remove' } : { header, operation: 'set', value })) },
            condition: { urlFilter: `|${url}|`, tabIds: [-1], requestMethods: [dnrMethod] },
          },
        ],
      });
      return await run();
    } finally {
      holding.delete(key);
      release();
      void rules.updateSessionRules({ removeRuleIds: [id] }).catch(() => undefined);
    }
  };
}
