import type { ToBackgroundRequest, ToRequester } from '../../core/channels/request-channel';
import { PeerlaneError } from '../../core/errors';
import type { TypedPort } from '../channels/typed-port';
import { withIntegrity, type IntegrityAlgorithm, SUBTLE_NAMES } from '../../core/http/integrity';
import type { Requester, ResponseSink } from './requester';
import { cachePartition } from '../../core/http/routed-cache';

/** Base64 digest with the background's crypto.subtle (an extension context is a secure one; a page on http: has none). */
async function subtleDigest(algorithm: IntegrityAlgorithm, bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest(SUBTLE_NAMES[algorithm], bytes as Uint8Array<ArrayBuffer>));
  let binary = '';
  for (const byte of digest) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** Bytes the page may have received but not yet consumed; bounds memory per routed request. */
const PAGE_WINDOW_BYTES = 1024 * 1024;

/**
 * One routed request per Port (a routed page's bridge, or Firefox's viewer page; the channel table
 * already admitted the sender): its first message starts the request, `consumed` opens the window,
 * a disconnect cancels it at the exit.
 */
export function serveRequestPort(requester: Requester, port: TypedPort<ToBackgroundRequest, ToRequester>): void {
  const controller = new AbortController();
  let consumedWaiter: (() => void) | null = null;
  let unconsumed = 0;
  let started = false;
  const post = (message: ToRequester): void => {
    if (!port.post(message)) controller.abort(new PeerlaneError('cancelled', 'page went away'));
  };
  port.onDisconnect(() => {
    controller.abort(new PeerlaneError('cancelled', 'page closed the request'));
    consumedWaiter?.();
  });
  const waitForPage = async (): Promise<void> => {
    while (unconsumed >= PAGE_WINDOW_BYTES && !controller.signal.aborted) {
      await new Promise<void>((resolve) => {
        consumedWaiter = resolve;
      });
      consumedWaiter = null;
    }
  };
  port.onMessage((message) => {
    if (message.type === 'consumed') {
      unconsumed = Math.max(0, unconsumed - message.bytes);
      consumedWaiter?.();
      return;
    }
    if (started) return;
    started = true;
    const sink: ResponseSink = {
      head: (head) =>
        post({
          type: 'head',
          status: head.status,
          statusText: head.statusText,
          headers: head.headers,
          url: head.url,
          redirected: head.redirected,
          opaqueRedirect: head.opaqueRedirect,
          redirectHops: head.redirectHops,
        }),
      chunk: async (bytes) => {
        await waitForPage();
        if (controller.signal.aborted) return false;
        unconsumed += bytes.byteLength;
        post({ type: 'chunk', data: bytes });
        return true;
      },
      end: () => post({ type: 'end' }),
      error: (error) => post({ type: 'error', error: error.toJSON() }),
      uploaded: (bytes) => post({ type: 'uploaded', bytes }),
    };
    const head = {
      method: message.method,
      url: message.url,
      headers: message.headers,
      ...(message.redirect && message.redirect !== 'follow' ? { redirect: message.redirect } : {}),
      // A serialised origin (the request channel's schema checked it); the exit sets it as the Origin header.
      ...(message.origin ? { origin: message.origin } : {}),
    };
    void requester.route(
      head,
      message.priority,
      controller.signal,
      // A GET or HEAD has no body, whatever a page (or a browser's Request) handed over.
      /^(GET|HEAD)$/i.test(message.method) ? null : (message.body ?? null),
      message.integrity ? withIntegrity(sink, message.integrity, subtleDigest) : sink,
      // Cached under the tab's top-level site (the sender's own page when the browser does not say).
      {
        partition: cachePartition(port.sender.topLevelUrl ?? port.sender.url.href, port.sender.container),
        mode: message.cache ?? 'default',
      },
    );
  });
}
