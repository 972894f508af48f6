import browser from 'webextension-polyfill';
import { base64ToBytes } from '../background/base64';
import {
  backgroundToBridgeSchema,
  BRIDGE_READY,
  isHandshake,
  PAGE_HANDSHAKE,
  pageToBridgeSchema,
  parseMessage,
  REQUEST_PORT_NAME,
  type BridgeToBackground,
  type BridgeToPage,
} from '../core/messages';
import { isIdempotentRequest } from '../core/http/range-resume';
import { parseSettings, SETTINGS_STORAGE_KEY } from '../core/settings';

/**
 * ISOLATED-world bridge on routed origins: takes requests from the page hook over a private
 * MessageChannel and carries each over its own runtime Port to the background.
 */
let pagePort: MessagePort | null = null;
const requests = new Map<number, ReturnType<typeof browser.runtime.connect>>();

function toPage(message: BridgeToPage, transfer: Transferable[] = []): void {
  pagePort?.postMessage(message, transfer);
}

async function sendConfig(): Promise<void> {
  const stored = await browser.storage.local.get(SETTINGS_STORAGE_KEY);
  const settings = parseSettings(stored[SETTINGS_STORAGE_KEY]);
  toPage({ type: 'config', routed: settings.routedOrigins.includes(location.origin) });
}

function openRequest(id: number, request: BridgeToBackground & { type: 'request' }, reopened = false): void {
  let port: ReturnType<typeof browser.runtime.connect>;
  try {
    port = browser.runtime.connect({ name: REQUEST_PORT_NAME });
  } catch (error) {
    toPage({ type: 'error', id, error: { category: 'background_restarted', message: `Peerlane was reloaded: ${String(error)}` } });
    return;
  }
  requests.set(id, port);
  let finished = false;
  let headSeen = false;
  port.onMessage.addListener((raw: unknown) => {
    const parsed = parseMessage(backgroundToBridgeSchema, raw);
    if (!parsed.ok) {
      toPage({ type: 'error', id, error: { category: 'bad_message', message: parsed.error } });
      return;
    }
    const message = parsed.message;
    switch (message.type) {
      case 'head':
        headSeen = true;
        toPage({ type: 'head', id, status: message.status, statusText: message.statusText, headers: message.headers });
        return;
      case 'chunk': {
        const bytes = base64ToBytes(message.base64);
        toPage({ type: 'chunk', id, data: bytes.buffer }, [bytes.buffer]);
        return;
      }
      case 'end':
      case 'error':
        finished = true;
        requests.delete(id);
        toPage(message.type === 'end' ? { type: 'end', id } : { type: 'error', id, error: message.error });
        port.disconnect();
        return;
    }
  });
  port.onDisconnect.addListener(() => {
    if (finished || requests.get(id) !== port) return;
    requests.delete(id);
    // The service worker was stopped mid-request. Nothing reached the page yet and the request is
    // safe to repeat (the queue's own retry rule): ask the restarted background once more.
    // Otherwise say clearly what happened.
    if (!headSeen && !reopened && isIdempotentRequest(request)) {
      openRequest(id, request, true);
      return;
    }
    toPage({ type: 'error', id, error: { category: 'background_restarted', message: 'the Peerlane background stopped during the request' } });
  });
  port.postMessage(request);
}

function onPageMessage(event: MessageEvent): void {
  const parsed = parseMessage(pageToBridgeSchema, event.data);
  if (!parsed.ok) return;
  const message = parsed.message;
  switch (message.type) {
    case 'request':
      openRequest(message.id, { type: 'request', method: message.method, url: message.url, headers: message.headers, priority: message.priority });
      return;
    case 'consumed':
      requests.get(message.id)?.postMessage({ type: 'consumed', bytes: message.bytes } satisfies BridgeToBackground);
      return;
    case 'cancel':
      requests.get(message.id)?.disconnect();
      requests.delete(message.id);
      return;
  }
}

window.addEventListener('message', (event: MessageEvent) => {
  if (event.source !== window || pagePort) return;
  if (!isHandshake(event.data, PAGE_HANDSHAKE)) return;
  const port = event.ports[0];
  if (!port) return;
  pagePort = port;
  port.onmessage = onPageMessage;
  void sendConfig();
});

browser.storage.onChanged.addListener((changes, area) => {
  if (area === 'local' && changes[SETTINGS_STORAGE_KEY]) void sendConfig();
});

// In case the page hook ran first and its hello was posted before we listened.
window.postMessage({ peerlane: BRIDGE_READY }, location.origin === 'null' ? '*' : location.origin);
