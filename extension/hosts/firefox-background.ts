import { Background } from '../background/background-core';
import { createFirefoxAddressCheck } from '../background/connected-address-firefox';
import { createExitFetcher } from '../background/exit-fetch';
import { registerViewerEntryPoints } from '../background/viewer-entry-points';
import { firefoxViewerPath } from '../core/viewer/viewer-url';
import { TransportHost } from '../transport/transport-host';

/**
 * Firefox host: MV3 Firefox has no background service worker but its background page has
 * RTCPeerConnection, so queue and transport live here together and talk by direct calls.
 */
let background: Background | null = null;
const transport = new TransportHost((message) => background?.onTransportMessage(message));
background = new Background({
  postToTransport: (message) => transport.handle(message),
  exitFetcher: createExitFetcher(createFirefoxAddressCheck()),
});

// The peer viewer: Firefox has no extension service worker, so its viewer is a page (extension/ui/viewer.ts).
registerViewerEntryPoints(firefoxViewerPath);
