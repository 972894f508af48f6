import { createBackground, type Background } from '../background/background';
import { createFirefoxAddressCheck } from '../background/platform/connected-address-firefox';
import { createExitFetcher } from '../background/platform/exit-fetch';
import { createForbiddenHeaders, type SessionRules } from '../background/platform/forbidden-headers';
import { webExtensionPlatform } from '../background/platform/webextension-platform';
import { registerViewerEntryPoints } from '../background/viewer/viewer-entry-points';
import { firefoxViewerPath } from '../core/viewer/viewer-url';
import { TransportHost } from '../transport/transport-host';

/**
 * Firefox host: MV3 Firefox has no background service worker but its background page has
 * RTCPeerConnection, so background and transport live here together and call each other directly:
 * no serialisation, no parse, no copy (nothing crosses a context boundary).
 */
let background: Background | null = null;
const transport = new TransportHost((message) => background?.fromTransport(message));
background = createBackground(webExtensionPlatform(), {
  transport: { send: (message) => transport.handle(message) },
  exitFetcher: createExitFetcher(
    createFirefoxAddressCheck(),
    createForbiddenHeaders(
      (globalThis as unknown as { browser: { declarativeNetRequest: SessionRules } }).browser.declarativeNetRequest,
    ),
  ),
});

// The peer viewer: Firefox has no extension service worker, so its viewer is a page (extension/ui/viewer.ts).
registerViewerEntryPoints(firefoxViewerPath);
