import type { ForbiddenHeaders } from './exit-fetch';

/**
 * The request headers fetch() forbids an extension to set (`Origin`, a preflight's
 * `Access-Control-Request-*`), set on the exit's own request by a declarativeNetRequest session rule
 * that names that one URL and method, for as long as the fetch takes to its response head.
 * Measured with a probe extension: a session rule's modifyHeaders reaches the extension's own fetch
 * in Chromium 156 (service worker) and Firefox 153 (background page); without one a Chromium POST,
 * PUT or OPTIONS carries `Origin: chrome-extension://<id>`, which names Peerlane to the destination;
 * `null` removes it. The exit also sets `Host` this way when it dials a plain-HTTP request to the
 * address it checked (core/exit/name-lookup.ts): measured, a session rule's `Host` reaches the
 * server in Chromium 156. Two requests for the same URL and method that want different headers
 * wait for each other (one rule can name only one Origin).
 */

/** The part of `declarativeNetRequest` used here: the same in both browsers (promises). */
export interface SessionRules {
  getSessionRules(): Promise<{ id: number }[]>;
  updateSessionRules(options: { removeRuleIds?: number[]; addRules?: object[] }): Promise<void>;
}
const DNR_METHODS = new Set(['connect', 'delete', 'get', 'head', 'options', 'patch', 'post', 'put']);
/** Our rules' ids: above anything a static ruleset would use, below 2^31. */
const FIRST_RULE_ID = 1_000_000;

/** A rule condition naming exactly `url`: a urlFilter, or an anchored regex where a urlFilter cannot say it (`*`, `^`, `|`). */
function exactly(url: string): { urlFilter: string } | { regexFilter: string } {
  if (!/[*^|]/.test(url)) return { urlFilter: `|${url}|` };
  return { regexFilter: `^${url.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')}$` };
}

interface HeldRule {
  /** The headers it sets: a request wanting the same ones shares the rule. */
  headers: string;
  users: number;
  installed: Promise<void>;
  released: Promise<void>;
  release(): void;
}

export function createForbiddenHeaders(rules: SessionRules): ForbiddenHeaders {
  let nextId = FIRST_RULE_ID;
  const holding = new Map<string, HeldRule>();
  // Session rules outlive a stopped worker: a restarted one starts by clearing what it left.
  const cleared = rules
    .getSessionRules()
    .then((existing) =>
      rules.updateSessionRules({ removeRuleIds: existing.map((rule) => rule.id).filter((id) => id >= FIRST_RULE_ID) }),
    )
    .catch(() => undefined);

  const install = (url: string, dnrMethod: string, headers: [string, string | null][], wanted: string): HeldRule => {
    const id = nextId;
    nextId = nextId >= 2 ** 31 - 2 ? FIRST_RULE_ID : nextId + 1;
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    const installed = rules.updateSessionRules({
      removeRuleIds: [id],
      addRules: [
        {
          id,
          priority: 1,
          action: {
            type: 'modifyHeaders',
            requestHeaders: headers.map(([header, value]) =>
              value === null ? { header, operation: 'remove' } : { header, operation: 'set', value },
            ),
          },
          condition: { ...exactly(url), tabIds: [-1], requestMethods: [dnrMethod] },
        },
      ],
    });
    return {
      headers: wanted,
      users: 0,
      installed,
      released,
      release: () => {
        release();
        void rules.updateSessionRules({ removeRuleIds: [id] }).catch(() => undefined);
      },
    };
  };

  return async (url, method, headers, run) => {
    const dnrMethod = method.toLowerCase();
    if (headers.length === 0 || !DNR_METHODS.has(dnrMethod)) return run();
    await cleared;
    const key = `${dnrMethod} ${url}`;
    const wanted = JSON.stringify(headers);
    // Requests for one URL and method that want the same headers share one rule (a page's parallel
    // GETs of one plain-HTTP URL all set the same Host); one wanting others waits until it is gone.
    let held = holding.get(key);
    while (held && held.headers !== wanted) {
      await held.released;
      held = holding.get(key);
    }
    if (!held) {
      held = install(url, dnrMethod, headers, wanted);
      holding.set(key, held);
    }
    const rule = held;
    rule.users += 1;
    try {
      await rule.installed;
      return await run();
    } finally {
      rule.users -= 1;
      if (rule.users === 0) {
        holding.delete(key);
        rule.release();
      }
    }
  };
}
