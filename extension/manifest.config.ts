import { defineManifest } from '@crxjs/vite-plugin';
import packageJson from '../package.json' with { type: 'json' };

export type TargetBrowser = 'chrome' | 'firefox';

/** One manifest source, two browsers: Chrome gets a service worker + offscreen; Firefox a background page. */
export function manifestFor(browser: TargetBrowser) {
  const common = {
    manifest_version: 3 as const,
    name: '__MSG_extensionName__',
    description: '__MSG_extensionDescription__',
    default_locale: 'en',
    version: packageJson.version,
    action: { default_title: 'Peerlane', default_popup: 'extension/ui/popup.html' },
    options_ui: { page: 'extension/ui/options.html', open_in_tab: true },
    host_permissions: ['<all_urls>'],
  };
  if (browser === 'chrome') {
    return defineManifest({
      ...common,
      // declarativeNetRequestWithHostAccess: the exit sets the page's Origin on its own fetch (forbidden-headers.ts); no install warning.
      permissions: [
        'storage',
        'scripting',
        'offscreen',
        'webRequest',
        'tabs',
        'contextMenus',
        'declarativeNetRequestWithHostAccess',
      ],
      background: { service_worker: 'extension/hosts/chrome-service-worker.ts', type: 'module' },
      // The peer viewer: `p2p example.com` in the address bar.
      omnibox: { keyword: 'p2p' },
      // Extension messages as structured clones (Chrome ≥ 148): body bytes cross Ports as bytes, not
      // base64 (ARCHITECTURE.md, "Moving bytes"). Firefox always structured-clones and has no such key.
      message_serialization: 'structured_clone',
      minimum_chrome_version: '148',
    } as unknown as Parameters<typeof defineManifest>[0]);
  }
  return defineManifest({
    ...common,
    // declarativeNetRequestWithHostAccess: the exit sets the page's Origin on its own fetch (forbidden-headers.ts).
    permissions: [
      'storage',
      'scripting',
      'webRequest',
      'tabs',
      'dns',
      'contextMenus',
      'declarativeNetRequestWithHostAccess',
    ],
    omnibox: { keyword: 'p2p' },
    background: { scripts: ['extension/hosts/firefox-background.ts'], type: 'module' },
    browser_specific_settings: {
      gecko: {
        id: 'peerlane@peerlane.dev',
        // 140 (ESR): the first to read data_collection_permissions.
        strict_min_version: '140.0',
        // Routed requests carry the sites you visit and their content to other people's browsers.
        data_collection_permissions: { required: ['websiteActivity', 'websiteContent'] },
      },
      gecko_android: { strict_min_version: '142.0' },
    },
    // Firefox's default MV3 CSP adds upgrade-insecure-requests, which blocked ws:// signaling (ARCHITECTURE.md, "Measured facts").
    content_security_policy: { extension_pages: "script-src 'self'" },
  } as unknown as Parameters<typeof defineManifest>[0]);
}
