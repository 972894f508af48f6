import browser from 'webextension-polyfill';
import { systemClock } from '../../core/clock';
import type { BackgroundPlatform, PlatformPort } from './platform';
import { syncRoutedScripts } from './routed-scripts';
import { IndexedDbCacheStore } from './indexeddb-cache-store';

/** The background's platform in a real browser: webextension-polyfill, nothing else. */
export function webExtensionPlatform(): BackgroundPlatform {
  const session = browser.storage.session;
  return {
    clock: systemClock,
    now: () => Date.now(),
    cacheStore: new IndexedDbCacheStore(),
    every: (ms, callback) => {
      const timer = setInterval(callback, ms);
      return { cancel: () => clearInterval(timer) };
    },
    local: { get: (keys) => browser.storage.local.get([...keys]), set: (items) => browser.storage.local.set(items) },
    // storage.session: Chrome ≥ 102, Firefox ≥ 115, older than the manifest's minimum versions.
    session: { get: (keys) => session.get([...keys]), set: (items) => session.set(items) },
    onLocalChanged: (listener) =>
      browser.storage.onChanged.addListener((changes, area) => {
        if (area !== 'local') return;
        for (const [key, change] of Object.entries(changes)) listener(key, change.newValue);
      }),
    hasOrigin: (pattern) => browser.permissions.contains({ origins: [pattern] }),
    onPermissionsChanged: (listener) => {
      browser.permissions.onAdded.addListener(() => listener(true));
      browser.permissions.onRemoved.addListener(() => listener(false));
    },
    onConnect: (listener) =>
      browser.runtime.onConnect.addListener((port) => {
        const sender = port.sender;
        const platformPort: PlatformPort = {
          name: port.name,
          sender: {
            url: sender?.url,
            origin: (sender as { origin?: string } | undefined)?.origin,
            tabId: sender?.tab?.id,
            frameId: sender?.frameId,
            topLevelUrl: sender?.tab?.url,
            container: (sender?.tab as { cookieStoreId?: string } | undefined)?.cookieStoreId,
          },
          postMessage: (message) => port.postMessage(message),
          disconnect: () => port.disconnect(),
          onMessage: (handler) => port.onMessage.addListener((message: unknown) => handler(message)),
          onDisconnect: (handler) => port.onDisconnect.addListener(() => handler()),
        };
        listener(platformPort);
      }),
    // Seen only where the extension may reach sites, which sharing requires. Tab -1 is the
    // extension's own fetches (what the exit serves): not the person's browsing.
    onOwnBrowsing: (listener) =>
      browser.webRequest.onBeforeRequest.addListener(
        (details) => {
          if (details.tabId >= 0) listener();
        },
        { urls: ['http://*/*', 'https://*/*'] },
      ),
    extensionOrigin: browser.runtime.getURL('').replace(/\/$/, ''),
    syncRoutedScripts,
    log: console,
  };
}
