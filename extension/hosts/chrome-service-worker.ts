/// <reference lib="webworker" />
import { createBackground } from '../background/background';
import { createChromeAddressCheck } from '../background/platform/connected-address-chrome';
import { createExitFetcher } from '../background/platform/exit-fetch';
import { createForbiddenHeaders } from '../background/platform/forbidden-headers';
import { webExtensionPlatform } from '../background/platform/webextension-platform';
import { servePeerViewer } from '../background/viewer/peer-viewer-chrome';
import { registerViewerEntryPoints } from '../background/viewer/viewer-entry-points';
import { CHANNELS, judgeSender, OFFSCREEN_PAGE } from '../core/channels/channel-table';
import { parseMessage } from '../core/channels/parse';
import { forTransfer, type ToTransport } from '../core/channels/transport-channel';
import { viewerPath } from '../core/viewer/viewer-url';

/**
 * Chrome host: the service worker owns the background (queue, sessions, exit fetches); the offscreen
 * document owns the RTCPeerConnections (a service worker has none). They talk by postMessage with the
 * frames' buffers transferred (ARCHITECTURE.md, "Contexts").
 */
declare const self: ServiceWorkerGlobalScope;

const KEEPALIVE_MS = 20_000;

let offscreenClient: Client | null = null;
const pending: ReturnType<typeof forTransfer<ToTransport>>[] = [];

async function findOffscreen(): Promise<Client | null> {
  const clients = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  return clients.find((client) => client.url.endsWith(OFFSCREEN_PAGE)) ?? null;
}

let creating: Promise<void> | null = null;
async function ensureOffscreen(): Promise<void> {
  const existing = await chrome.runtime.getContexts({ contextTypes: [chrome.runtime.ContextType.OFFSCREEN_DOCUMENT] });
  if (existing.length > 0) return;
  creating ??= chrome.offscreen
    .createDocument({
      url: OFFSCREEN_PAGE,
      reasons: [chrome.offscreen.Reason.WEB_RTC],
      justification: 'Peer-to-peer data channels carry routed requests.',
    })
    .finally(() => {
      creating = null;
    });
  await creating;
}

function flushPending(): void {
  while (offscreenClient && pending.length > 0) {
    const next = pending.shift()!;
    offscreenClient.postMessage(next.message, next.transfer);
  }
}

let locating = false;
function sendToTransport(message: ToTransport): void {
  const outgoing = forTransfer(message);
  if (offscreenClient && pending.length === 0) {
    offscreenClient.postMessage(outgoing.message, outgoing.transfer);
    return;
  }
  pending.push(outgoing);
  if (locating) return;
  locating = true;
  void ensureOffscreen()
    .then(findOffscreen)
    .then((client) => {
      offscreenClient = client;
      flushPending();
    })
    .finally(() => {
      locating = false;
    });
}

const platform = webExtensionPlatform();
let keepalive: ReturnType<typeof setInterval> | null = null;
const background = createBackground(platform, {
  transport: { send: sendToTransport },
  exitFetcher: createExitFetcher(createChromeAddressCheck(), createForbiddenHeaders(chrome.declarativeNetRequest)),
  // An extension API call resets the idle timer (Chrome ≥ 110): stay up while requests are in flight.
  onBusyChange: (busy) => {
    if (busy && !keepalive) keepalive = setInterval(() => void chrome.runtime.getPlatformInfo(), KEEPALIVE_MS);
    if (!busy && keepalive) {
      clearInterval(keepalive);
      keepalive = null;
    }
  },
});

// Only the offscreen document speaks the transport channel (the channel table's rule); others are ignored.
self.addEventListener('message', (event: ExtendableMessageEvent) => {
  const source = event.source;
  if (!source || !('url' in source)) return;
  // Judged once per client (a URL parse), not on every frame that client sends.
  if (offscreenClient?.id !== source.id) {
    if (
      !judgeSender(
        CHANNELS.transport.admits,
        { url: source.url },
        { extensionOrigin: platform.extensionOrigin, isRouted: () => false },
      )
    )
      return;
    offscreenClient = source;
    flushPending();
  }
  const parsed = parseMessage(CHANNELS.transport.inbound, event.data);
  if (!parsed.ok) {
    console.warn('[peerlane] bad transport message', parsed.error);
    return;
  }
  background.fromTransport(parsed.message);
});

// The peer viewer: this worker answers every request of a viewer page (ARCHITECTURE.md, "The peer viewer").
servePeerViewer(self, background);
registerViewerEntryPoints(viewerPath);

chrome.runtime.onStartup.addListener(() => void ensureOffscreen());
chrome.runtime.onInstalled.addListener(() => void ensureOffscreen());
void ensureOffscreen();
