import { describe, expect, it } from 'vitest';
import { judgeSender, type SenderFacts } from '../../extension/core/channels/channel-table';

/** Who may open a routed request: our content script, in a tab, on a document whose origin is routed. */
const context = {
  extensionOrigin: 'chrome-extension://abc',
  isRouted: (origin: string) => origin === 'http://app.example:8080',
};
const rule = { kind: 'routed-content-script' } as const;
const admits = (sender: SenderFacts) => judgeSender(rule, sender, context) !== null;

describe('the request channel admits routed content scripts only', () => {
  it('a page of the routed origin, in a tab', () => {
    expect(admits({ url: 'http://app.example:8080/page', tabId: 3, frameId: 0 })).toBe(true);
    expect(admits({ url: 'http://app.example:8080/page' })).toBe(false);
    expect(admits({ url: 'http://app.example:9090/page', tabId: 3 })).toBe(false);
    expect(admits({ url: 'chrome-extension://abc/extension/ui/popup.html', tabId: 3 })).toBe(false);
  });

  it('a frame the page made (about:blank, srcdoc) by the origin its document inherits, never by its URL', () => {
    expect(admits({ url: 'about:blank', origin: 'http://app.example:8080', tabId: 3, frameId: 7 })).toBe(true);
    expect(admits({ url: 'about:srcdoc', origin: 'http://app.example:8080', tabId: 3, frameId: 7 })).toBe(true);
    expect(admits({ url: 'about:blank', tabId: 3, frameId: 7 })).toBe(false);
    expect(admits({ url: 'about:blank', origin: 'null', tabId: 3, frameId: 7 })).toBe(false);
    expect(admits({ url: 'about:blank', origin: 'http://elsewhere.example', tabId: 3, frameId: 7 })).toBe(false);
    // Only those two inherit: another about: page or a data: URL is not the page's.
    expect(admits({ url: 'about:config', origin: 'http://app.example:8080', tabId: 3 })).toBe(false);
    expect(admits({ url: 'data:text/html,x', origin: 'http://app.example:8080', tabId: 3 })).toBe(false);
  });
});
