/// <reference lib="webworker" />
import { Background } from '../background/background-core';
import { createChromeAddressCheck } from '../background/connected-address-chrome';
import { createExitFetcher } from '../background/exit-fetch';
import { servePeerViewer } from '../background/peer-viewer-chrome';
import { registerViewerEntryPoints } from '../background/viewer-entry-points';
import { viewerPath } from '../core/viewer/viewer-url';
import type { ToTransport } from '../core/messages';

/**
 * Chrome host: the service worker owns the queue, sessions and exit fetches; the offscreen document
 * owns the RTCPeerConnections (a service worker has none). They talk by postMessage with transferable
 * ArrayBuffers: runtime.sendMessage would JSON-encode the frames (DESIGN.md §2).
 */
declare const self: ServiceWorkerGlobalScope;

const OFFSCREEN_PATH = 'extension/hosts/chrome-offscreen.html';
const KEEPALIVE_MS = 20_000;

let offscreenClient: Client | null = null;
const pending: { message: ToTransport; transfer: ArrayBuffer[] }[] = [];

async function findOffscreen(): Promise<Client | null> {
  const clients = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  return clients.find((client) => client.url.endsWith(OFFSCREEN_PATH)) ?? null;
}

let creating: Promise<void> | null = null;
async function ensureOffscreen(): Promise<void> {
  const existing = await chrome.runtime.getContexts({ contextTypes: [chrome.runtime.ContextType.OFFSCREEN_DOCUMENT] });
  if (existing.length > 0) return;
  creating ??= chrome.offscreen
    .createDocument({ url: OFFSCREEN_PATH, reasons: [chrome.offscreen.Reason.WEB_RTC], justification: 'Peer-to-peer data channels carry routed requests.' })
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
function postToTransport(message: ToTransport, transfer: ArrayBuffer[] = []): void {
  if (offscreenClient && pending.length === 0) {
    offscreenClient.postMessage(message, transfer);
    return;
  }
  pending.push({ message, transfer });
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

let keepalive: ReturnType<typeof setInterval> | null = null;
const background = new Background({
  postToTransport,
  exitFetcher: createExitFetcher(createChromeAddressCheck()),
  // An extension API call resets the idle timer (Chrome ≥ 110): stay up while requests are in flight.
  onBusyChange: (busy) => {
    if (busy && !keepalive) keepalive = setInterval(() => void chrome.runtime.getPlatformInfo(), KEEPALIVE_MS);
    if (!busy && keepalive) {
      clearInterval(keepalive);
      keepalive = null;
    }
  },
});

// Only the offscreen document speaks the transport channel; other extension pages are ignored here.
self.addEventListener('message', (event: ExtendableMessageEvent) => {
  const source = event.source;
  if (!source || !('url' in source) || !source.url.endsWith(OFFSCREEN_PATH)) return;
  if (offscreenClient?.id !== (source as Client).id) {
    offscreenClient = source as Client;
    flushPending();
  }
  background.onTransportMessage(event.data);
});

// The peer viewer: this worker answers every request of a viewer page (DESIGN.md §3).
servePeerViewer(self, background);
registerViewerEntryPoints(viewerPath);

chrome.runtime.onStartup.addListener(() => void ensureOffscreen());
chrome.runtime.onInstalled.addListener(() => void ensureOffscreen());
void ensureOffscreen();
