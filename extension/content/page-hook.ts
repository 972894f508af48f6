import { MAX_REQUEST_BODY_BYTES } from '../core/protocol/limits';
import type { Priority } from '../core/queue/priority-lanes';
import {
  BRIDGE_READY,
  isHandshake,
  PAGE_HANDSHAKE,
  readBridgeMessage,
  type BridgeToPage,
  type PageToBridge,
} from '../core/channels/page-channel';
import type { CacheMode, RedirectMode } from '../core/protocol/request-fields';
import { hookBeacon, hookEventSource, hookFrames, refuseWebSockets, refuseWorkers } from './page-surfaces';
import { createXMLHttpRequest, type UploadProgress } from './page-xhr';
import { ERROR_HEADER, PEER_HEADER } from '../core/protocol/page-headers';
import {
  checkedOrigin,
  corsCheck,
  exposedResponseHeaders,
  planCors,
  preflightCheck,
  preflightHeaders,
  redirectCorsCheck,
  requestOrigin,
} from '../core/http/cors';

/**
 * MAIN-world hook on routed origins: wraps `window.fetch` and `XMLHttpRequest` so the page's own
 * requests travel through peers. Responses stream (pull-based: the background sends more only as the
 * page reads). Runs at document_start, before page scripts, and talks only over a private MessageChannel.
 */
type Handlers = {
  head(message: Extract<BridgeToPage, { type: 'head' }>): void;
  chunk(data: ArrayBuffer): void;
  end(): void;
  error(error: { category: string; message: string }): void;
  uploaded(bytes: number): void;
};

const nativeFetch = window.fetch.bind(window);
/**
 * The document's origin. Not `location.origin`: an about:blank or srcdoc frame's URL has an opaque
 * origin ("null"), while its document has the page's, which is what the browser's CORS rules use.
 */
const pageOrigin = window.origin;
const pending = new Map<number, Handlers>();
let nextId = 1;
let port: MessagePort | null = null;
let setRouted: (routed: boolean) => void = () => undefined;
/** Known once the bridge said; until then a synchronous decision (a WebSocket, a Worker) takes the page as routed: fail closed. */
let routedNow: boolean | null = null;
const routed = new Promise<boolean>((resolve) => {
  setRouted = (value) => {
    routedNow = value;
    resolve(value);
  };
});
const isRoutedNow = (): boolean => routedNow !== false;
const BRIDGE_TIMEOUT_MS = 5000;
let bridgeTimer: ReturnType<typeof setTimeout> | null = null;

function send(message: PageToBridge, transfer: Transferable[] = []): void {
  port?.postMessage(message, transfer);
}

function onBridgeMessage(from: MessagePort, event: MessageEvent): void {
  const message = readBridgeMessage(event.data);
  if (!message) return;
  if (message.type === 'config') {
    port = from;
    if (bridgeTimer) clearTimeout(bridgeTimer);
    setRouted(message.routed);
    return;
  }
  const handlers = pending.get(message.id);
  if (!handlers) return;
  switch (message.type) {
    case 'head':
      return handlers.head(message);
    case 'chunk':
      return handlers.chunk(message.data);
    case 'end':
      pending.delete(message.id);
      return handlers.end();
    case 'error':
      pending.delete(message.id);
      return handlers.error(message.error);
    case 'uploaded':
      return handlers.uploaded(message.bytes);
  }
}

function hello(): void {
  const channel = new MessageChannel();
  channel.port1.onmessage = (event) => onBridgeMessage(channel.port1, event);
  window.postMessage({ peerlane: PAGE_HANDSHAKE }, '*', [channel.port2]);
}

// The handshake is ours: registered before any page script, these listeners stop its messages there,
// so the page's own `message` listeners never see them (the bridge does the same for the hook's hello).
window.addEventListener('message', (event: MessageEvent) => {
  if (event.source !== window || !isHandshake(event.data, BRIDGE_READY)) return;
  event.stopImmediatePropagation();
  if (!port) hello();
});
hello();

/** The page should never silently go direct on a routed site: without a bridge, requests fail. */
let bridgeMissing = false;
bridgeTimer = setTimeout(() => {
  bridgeMissing = true;
  setRouted(true);
}, BRIDGE_TIMEOUT_MS);

/**
 * A routed request that failed rejects as the browser's own network error does: a TypeError with
 * the engine's exact message, which libraries (ky, axios) recognise and retry. Why it failed,
 * Peerlane's category and reason, is in `cause` (and the console).
 */
const NETWORK_ERROR_MESSAGE = navigator.userAgent.includes('Firefox/')
  ? 'NetworkError when attempting to fetch resource.'
  : 'Failed to fetch';

export interface RoutingFailure {
  category: string;
  message: string;
}

/** The browser's own network error, carrying why (logged too). */
function networkError(cause: RoutingFailure): TypeError {
  console.warn('[peerlane]', cause.message);
  return new TypeError(NETWORK_ERROR_MESSAGE, { cause });
}

function routingError(category: string, detail: string): TypeError {
  return networkError({ category, message: `Peerlane could not route this request (${category}): ${detail}` });
}

/** What the browser itself refuses (its CORS rules, a redirect the request forbade). */
function refusal(category: string, reason: string): TypeError {
  return networkError({ category, message: `refused, as the browser would: ${reason}` });
}

const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The operation was aborted.', 'AbortError');
}

/** A response head as the exit sent it, its body still streaming in. */
interface Exchange {
  head: Extract<BridgeToPage, { type: 'head' }>;
  body: ReadableStream<Uint8Array>;
  /** Stops the body at the exit (the page will never read it). */
  cancel: () => void;
}

/** One request through peers, resolved at its response head; the body streams as the page reads it. */
function exchange(
  request: {
    method: string;
    url: string;
    headers: [string, string][];
    redirect: RedirectMode;
    integrity?: string;
    origin: string | null;
    cache: CacheMode;
  },
  body: ArrayBuffer | null,
  signal: AbortSignal,
  priority: Priority,
  onUpload?: UploadProgress,
): Promise<Exchange> {
  if (signal.aborted) return Promise.reject(abortError(signal));
  const id = nextId++;
  const bodyBytes = body?.byteLength ?? 0;
  return new Promise<Exchange>((resolve, reject) => {
    const buffered: Uint8Array[] = [];
    let ended = false;
    let failure: unknown = null;
    let wake: (() => void) | null = null;
    let headSeen = false;
    const cancel = (): void => {
      send({ type: 'cancel', id });
      pending.delete(id);
    };
    const onAbort = (): void => {
      cancel();
      failure = abortError(signal);
      if (!headSeen) reject(failure);
      wake?.();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    const stream = new ReadableStream<Uint8Array>(
      {
        pull: async (controller) => {
          while (buffered.length === 0 && !ended && !failure) {
            await new Promise<void>((resolveWake) => {
              wake = resolveWake;
            });
            wake = null;
          }
          const chunk = buffered.shift();
          if (chunk) {
            controller.enqueue(chunk);
            send({ type: 'consumed', id, bytes: chunk.byteLength });
          } else if (failure) controller.error(failure);
          else controller.close();
        },
        cancel,
      },
      { highWaterMark: 0 },
    );
    pending.set(id, {
      head: (head) => {
        headSeen = true;
        resolve({ head, body: stream, cancel });
      },
      chunk: (data) => {
        buffered.push(new Uint8Array(data));
        wake?.();
      },
      end: () => {
        ended = true;
        signal.removeEventListener('abort', onAbort);
        wake?.();
      },
      error: (error) => {
        signal.removeEventListener('abort', onAbort);
        failure = routingError(error.category, error.message);
        if (!headSeen) reject(failure);
        wake?.();
      },
      uploaded: (bytes) => onUpload?.(Math.min(bytes, bodyBytes), bodyBytes),
    });
    send(
      {
        type: 'request',
        id,
        method: request.method,
        url: request.url,
        headers: request.headers,
        priority,
        body,
        redirect: request.redirect,
        integrity: request.integrity ?? '',
        origin: request.origin,
        cache: request.cache,
      },
      body ? [body] : [],
    );
  });
}

/** Every body kind (string, URLSearchParams, FormData with files, Blob, buffers, a stream with duplex 'half') is read whole by the Request itself, with the content type it implies. */
async function requestBody(request: Request): Promise<ArrayBuffer | null> {
  // GET and HEAD never carry one. Firefox has no Request.body (undefined, not null): reading it would
  // give an empty body, and the background would then treat the GET as one that may not be hedged,
  // resumed or checked.
  if (request.method === 'GET' || request.method === 'HEAD' || request.body === null) return null;
  let body: ArrayBuffer;
  try {
    body = await request.arrayBuffer();
  } catch (error) {
    throw routingError('bad_message', `the request body could not be read: ${String(error)}`);
  }
  if (body.byteLength > MAX_REQUEST_BODY_BYTES)
    throw routingError(
      'queue_full',
      `a routed request body is at most ${MAX_REQUEST_BODY_BYTES} bytes; this one is ${body.byteLength}`,
    );
  return body;
}

function corsError(reason: string): TypeError {
  return refusal('cors', `CORS: ${reason}`);
}

/**
 * A response with nothing readable, as the browser's: `opaque` (a no-cors answer from another
 * origin) or `opaqueredirect` (a redirect not followed, which keeps the request's URL).
 */
function opaqueResponse(type: 'opaque' | 'opaqueredirect', url = ''): Response {
  const response = Response.error();
  Object.defineProperty(response, 'type', { value: type });
  if (url) Object.defineProperty(response, 'url', { value: url });
  return response;
}

/** Shown on every routed response, cross-origin or not: a deliberate difference (docs/routing.md). */
const ALWAYS_SHOWN = new Set([PEER_HEADER]);

/**
 * A page request through peers, under the browser's CORS rules (core/http/cors.ts): refused where
 * the browser refuses, preflighted where it preflights (through the exit), and its answer shown as
 * much as the browser would show it: whole for the page's own origin, CORS-filtered for another,
 * opaque for no-cors.
 */
async function routeThroughPeers(request: Request, priority: Priority, onUpload?: UploadProgress): Promise<Response> {
  if (bridgeMissing) throw routingError('internal', 'the Peerlane extension bridge is not responding');
  if (request.signal.aborted) throw abortError(request.signal);
  const credentials = request.credentials;
  const headers = [...request.headers];
  const redirectMode = request.redirect;
  const plan = planCors(pageOrigin, {
    method: request.method,
    url: request.url,
    headers,
    mode: request.mode,
    credentials,
  });
  if (plan.kind === 'refused') throw corsError(plan.reason);
  const body = await requestBody(request);
  if (plan.kind === 'cors' && plan.preflight) {
    // A preflight never follows a redirect: answered by one, it fails (not a 2xx), as in the standard.
    const preflight = await exchange(
      {
        method: 'OPTIONS',
        url: request.url,
        headers: preflightHeaders(plan.preflight),
        redirect: 'manual',
        origin: pageOrigin,
        // Preflights have their own cache in the browser; the routed one never keeps them.
        cache: 'no-store',
      },
      null,
      request.signal,
      priority,
    );
    preflight.cancel();
    const denied = preflightCheck(preflight.head.status, preflight.head.headers, pageOrigin, {
      ...plan.preflight,
      credentials,
    });
    if (denied) throw corsError(denied);
  }
  // With `integrity`, the background holds the head until the whole body matched it, as the browser does.
  const origin = requestOrigin(pageOrigin, plan, request.method);
  const {
    head,
    body: stream,
    cancel,
  } = await exchange(
    {
      method: request.method,
      url: request.url,
      headers,
      redirect: redirectMode,
      integrity: request.integrity,
      origin,
      cache: request.cache,
    },
    body,
    request.signal,
    priority,
    onUpload,
  );
  // As the browser reports them: the final URL after the exit's redirects, never its fragment.
  const finalUrl = new URL(head.url ?? request.url);
  finalUrl.hash = '';
  if (head.opaqueRedirect) {
    // The exit did not follow, as asked: `manual` gets the browser's opaque redirect, `error` its network error.
    cancel();
    if (redirectMode === 'error')
      throw refusal('redirect', 'the response was a redirect, and the request said redirect: "error"');
    return opaqueResponse('opaqueredirect', finalUrl.href);
  }
  let type: ResponseType = 'basic';
  let shown: [string, string][] = head.headers;
  if (plan.kind === 'opaque' || (request.mode === 'no-cors' && finalUrl.origin !== pageOrigin)) {
    cancel();
    return opaqueResponse('opaque');
  }
  // An answer Peerlane made itself (a full queue's 503) holds nothing of the origin's: shown whole.
  const peerlaneAnswer = head.headers.some(([name]) => name.toLowerCase() === ERROR_HEADER);
  if (!peerlaneAnswer && (plan.kind === 'cors' || finalUrl.origin !== pageOrigin)) {
    // The URLs that answered with a redirect; an exit that does not list its hops said only whether there were any.
    const redirectUrls = head.redirectHops?.map((hop) => hop.url) ?? (head.redirected ? [request.url] : []);
    const denied =
      request.mode === 'same-origin'
        ? `mode "same-origin" and the response came from ${finalUrl.origin}`
        : (redirectCorsCheck(pageOrigin, head.redirectHops ?? [], finalUrl.href, credentials) ??
          corsCheck(head.headers, checkedOrigin(pageOrigin, redirectUrls, finalUrl.href), credentials));
    if (denied) {
      cancel();
      throw corsError(denied);
    }
    type = 'cors';
    shown = exposedResponseHeaders(head.headers, credentials, ALWAYS_SHOWN);
  }
  const nullBody = request.method === 'HEAD' || NULL_BODY_STATUSES.has(head.status);
  if (nullBody) cancel();
  const response = new Response(nullBody ? null : stream, {
    status: head.status,
    statusText: head.statusText,
    headers: shown,
  });
  Object.defineProperty(response, 'url', { value: finalUrl.href });
  Object.defineProperty(response, 'redirected', { value: head.redirected === true });
  Object.defineProperty(response, 'type', { value: type });
  return response;
}

async function routedFetch(input: RequestInfo | URL, init?: RequestInit, onUpload?: UploadProgress): Promise<Response> {
  let request: Request;
  try {
    request = new Request(input, init);
  } catch {
    // Arguments fetch refuses (only-if-cached across origins, a GET with a body…): the browser's own
    // fetch refuses them the same way before any request is made, with its own words for it.
    return nativeFetch(input, init);
  }
  if (!/^https?:$/.test(new URL(request.url).protocol) || !(await routed)) return nativeFetch(input, init);
  // Fetch Priority hints map onto the queue's lanes: `priority: 'low'` is background work.
  return routeThroughPeers(request, init?.priority === 'low' ? 'background' : 'interactive', onUpload);
}
/** The page's fetch: the routed one, without the upload progress only XMLHttpRequest reports. */
const peerlaneFetch = (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => routedFetch(input, init);
window.fetch = peerlaneFetch;

const PeerlaneXMLHttpRequest = createXMLHttpRequest(routedFetch);
window.XMLHttpRequest = PeerlaneXMLHttpRequest;

// The page's other ways out (page-surfaces.ts): routed through the same fetch, or refused clearly.
hookFrames(peerlaneFetch, PeerlaneXMLHttpRequest);
hookBeacon(peerlaneFetch, isRoutedNow);
hookEventSource(peerlaneFetch, isRoutedNow);
refuseWebSockets(isRoutedNow);
refuseWorkers(isRoutedNow);
