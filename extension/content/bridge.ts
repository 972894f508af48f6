import {
  BRIDGE_READY,
  isHandshake,
  PAGE_HANDSHAKE,
  readBridgeMessage,
  readPageMessage,
  type BridgeToPage,
} from '../core/channels/page-channel';
import type { RequestStart, ToBackgroundRequest } from '../core/channels/request-channel';
import { REQUEST_PORT_NAME } from '../core/channels/request-port-names';
import { isBytes, withOwnBuffer } from '../core/bytes';
import { isIdempotentRequest } from '../core/http/range-resume';

/**
 * The extension API without webextension-polyfill: injected into every routed page, the bridge stays
 * small, and what it uses is promise-based in both browsers (`browser` in Firefox; `chrome` in
 * Chrome ≥ 148, the manifest's minimum).
 */
const ext: typeof chrome = (globalThis as unknown as { browser?: typeof chrome }).browser ?? chrome;
type RuntimePort = chrome.runtime.Port;

/** The settings' storage key (core/settings.ts); read here without the settings schema, which the bridge does not carry. */
const SETTINGS_STORAGE_KEY = 'settings';

/**
 * ISOLATED-world bridge on routed origins: takes requests from the page hook over a private
 * MessageChannel and carries each over its own runtime Port to the background. It relays between two
 * checked ends and carries no schema library (why: `page-channel.ts`): what the page sends is read by
 * `readPageMessage` and forwarded as read; what the background answers is posted to the page in the
 * page channel's shape, and the hook's own reader (`readBridgeMessage`) checks every message once,
 * before the page sees anything; the background validates every request again where it enters.
 */
let pagePort: MessagePort | null = null;
const requests = new Map<number, RuntimePort>();

function toPage(message: BridgeToPage, transfer: Transferable[] = []): void {
  pagePort?.postMessage(message, transfer);
}

/**
 * Routed only if the stored list names this document's exact origin (`window.origin`: an about:blank
 * frame's `location.origin` is "null", and it would have gone direct); anything damaged reads as not routed.
 */
async function sendConfig(): Promise<void> {
  const stored = (await ext.storage.local.get(SETTINGS_STORAGE_KEY))[SETTINGS_STORAGE_KEY] as
    { routedOrigins?: unknown } | undefined;
  const origins = stored?.routedOrigins;
  toPage({ type: 'config', routed: Array.isArray(origins) && origins.includes(window.origin) });
}

function openRequest(id: number, request: RequestStart, reopened = false): void {
  let port: RuntimePort;
  try {
    port = ext.runtime.connect({ name: REQUEST_PORT_NAME });
  } catch (error) {
    toPage({
      type: 'error',
      id,
      error: { category: 'background_restarted', message: `Peerlane was reloaded: ${String(error)}` },
    });
    return;
  }
  requests.set(id, port);
  let finished = false;
  let headSeen = false;
  port.onMessage.addListener((raw: unknown) => {
    const message = pageMessageFrom(id, raw);
    if (!message) {
      toPage({
        type: 'error',
        id,
        error: { category: 'bad_message', message: 'the background sent a reply the page channel does not carry' },
      });
      return;
    }
    switch (message.type) {
      case 'head':
        headSeen = true;
        toPage(message);
        return;
      case 'chunk':
        toPage(message, [message.data]);
        return;
      case 'uploaded':
        toPage(message);
        return;
      case 'end':
      case 'error':
        finished = true;
        requests.delete(id);
        toPage(message);
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
    if (
      !headSeen &&
      !reopened &&
      isIdempotentRequest({ method: request.method, url: request.url, headers: request.headers })
    ) {
      openRequest(id, request, true);
      return;
    }
    toPage({
      type: 'error',
      id,
      error: { category: 'background_restarted', message: 'the Peerlane background stopped during the request' },
    });
  });
  port.postMessage(request);
}

/** A background reply (`ToRequester`) as the page message it becomes, with only its known fields; null if it is not one. */
function pageMessageFrom(id: number, raw: unknown): BridgeToPage | null {
  if (typeof raw !== 'object' || raw === null) return null;
  const reply = raw as Record<string, unknown>;
  switch (reply.type) {
    case 'head':
      // As the background sent it (typed there); the hook's reader is the one check before the page.
      return { ...(reply as Omit<Extract<BridgeToPage, { type: 'head' }>, 'id'>), type: 'head', id };
    case 'chunk':
      // A structured clone: its buffer is this chunk's own, so it moves to the page without a copy.
      return isBytes(reply.data) ? { type: 'chunk', id, data: withOwnBuffer(reply.data).buffer } : null;
    case 'end':
      return { type: 'end', id };
    case 'uploaded':
      return readBridgeMessage({ type: 'uploaded', id, bytes: reply.bytes });
    case 'error': {
      const error = reply.error as { category?: unknown; message?: unknown } | null;
      return readBridgeMessage({ type: 'error', id, error: { category: error?.category, message: error?.message } });
    }
    default:
      return null;
  }
}

function onPageMessage(event: MessageEvent): void {
  const message = readPageMessage(event.data);
  if (!message) return;
  switch (message.type) {
    case 'request': {
      // Forwarded as read: only the body changes form (the Port carries bytes).
      const { id, type, body, ...fields } = message;
      openRequest(id, { type, ...fields, body: body ? new Uint8Array(body) : null });
      return;
    }
    case 'consumed':
      requests.get(message.id)?.postMessage({ type: 'consumed', bytes: message.bytes } satisfies ToBackgroundRequest);
      return;
    case 'cancel':
      requests.get(message.id)?.disconnect();
      requests.delete(message.id);
      return;
  }
}

window.addEventListener('message', (event: MessageEvent) => {
  if (event.source !== window || !isHandshake(event.data, PAGE_HANDSHAKE)) return;
  // Ours, and no page listener's to see (page-hook.ts stops the bridge's hello the same way).
  event.stopImmediatePropagation();
  if (pagePort) return;
  const port = event.ports[0];
  if (!port) return;
  pagePort = port;
  port.onmessage = onPageMessage;
  void sendConfig();
});

ext.storage.onChanged.addListener((changes, area) => {
  if (area === 'local' && changes[SETTINGS_STORAGE_KEY]) void sendConfig();
});

// In case the page hook ran first and its hello was posted before we listened.
// The document's origin, not location's: an about:blank frame's location says "null", its document has the page's.
window.postMessage({ peerlane: BRIDGE_READY }, window.origin === 'null' ? '*' : window.origin);
