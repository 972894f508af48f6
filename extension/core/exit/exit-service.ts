import { PeerlaneError, toPeerlaneError } from '../errors';
import type { RequestHead, ResponseHead } from '../protocol/frames';
import type { RoutedRequest } from '../protocol/routed-request';
import type { RedirectMode } from '../protocol/request-fields';
import type { ExitHandler } from '../peers/session';
import type { ExitCaps } from './caps';
import { checkDestination, DEFAULT_EXIT_POLICY, type ExitPolicyOptions } from './policy';

/**
 * The exit's request handler: policy first, then the host's fetcher (which owns the browser-specific
 * connected-IP check), then the body streamed back under the stream's credit.
 */
/** What the exit's fetch is given: a routed request (core/protocol/routed-request.ts) as judged by the policy. */
export interface ExitFetchRequest extends Pick<
  RoutedRequest<Uint8Array<ArrayBuffer>>,
  'url' | 'method' | 'headers' | 'body'
> {
  /** Follow redirects (judging every hop), or answer the first as an opaque redirect. */
  redirect: RedirectMode;
  /**
   * Headers fetch() forbids, as the page's browser would send them: `origin` (the page's, or null:
   * none) and a preflight's `access-control-request-*`. A host sets them where it can (Chrome).
   */
  forbiddenHeaders: [string, string | null][];
}

export interface ExitFetchResponse {
  head: ResponseHead;
  body: AsyncIterable<Uint8Array> | null;
}

/** Host-provided: fetch without credentials, reject with `destination_refused` if the connected IP is private. */
export type ExitFetcher = (
  request: ExitFetchRequest,
  signal: AbortSignal,
  policy: ExitPolicyOptions,
) => Promise<ExitFetchResponse>;

export interface ExitOutcome {
  status: number | null;
  bytes: number;
  /** Null when the whole body was sent. */
  error: PeerlaneError | null;
}

export interface ExitEvents {
  bytesSent(bytes: number): void;
  /** Once per request, served, refused or failed. */
  finished(request: RequestHead, outcome: ExitOutcome): void;
}

/**
 * Request headers an exit forwards; everything else (cookies, auth, proxy-*, host) is dropped. A
 * preflight's Access-Control-Request-* are read for the verdict (`preflightedMethod`) but cannot be
 * forwarded: fetch() forbids them, as it forbids Origin (measured: the origin saw a bare OPTIONS).
 */
const FORWARDED_REQUEST_HEADERS = new Set([
  'accept',
  'accept-language',
  'cache-control',
  'content-type',
  'idempotency-key',
  'if-match',
  'if-modified-since',
  'if-none-match',
  'if-range',
  'range',
]);

/** Response headers never sent back to the requester. */
const DROPPED_RESPONSE_HEADERS = new Set(['set-cookie', 'set-cookie2']);

export function forwardableRequestHeaders(headers: readonly (readonly [string, string])[]): [string, string][] {
  return headers
    .filter(([name]) => FORWARDED_REQUEST_HEADERS.has(name.toLowerCase()))
    .map(([name, value]) => [name, value]);
}

export function forwardableResponseHeaders(headers: readonly (readonly [string, string])[]): [string, string][] {
  return headers
    .filter(([name]) => !DROPPED_RESPONSE_HEADERS.has(name.toLowerCase()))
    .map(([name, value]) => [name, value]);
}

/**
 * A CORS preflight (OPTIONS naming the method to come, no body: no side effects by the protocol) is
 * judged as the method it asks about: an exit that carries GET lets a GET with a custom header be
 * preflighted, and one that does not carry PUT refuses PUT at its preflight, before the page sends
 * any of the PUT's body.
 */
function preflightedMethod(request: RequestHead): string | null {
  if (request.method.toUpperCase() !== 'OPTIONS') return null;
  const asked = request.headers.find(([name]) => name.toLowerCase() === 'access-control-request-method')?.[1];
  return asked ? asked.toUpperCase() : null;
}

/** The method an exit judges a request by: a bodiless preflight as the method it asks about, anything else as itself. */
export function judgedMethod(request: RequestHead, bodyBytes: number): string {
  return (bodyBytes === 0 ? preflightedMethod(request) : null) ?? request.method.toUpperCase();
}

/** The page's Origin (or none), and a preflight's own headers, for the host to set (ExitFetchRequest.forbiddenHeaders). */
function forbiddenHeadersOf(request: RequestHead): [string, string | null][] {
  const headers: [string, string | null][] = [['origin', request.origin ?? null]];
  if (request.method.toUpperCase() === 'OPTIONS') {
    for (const [name, value] of request.headers) {
      const lower = name.toLowerCase();
      if (lower === 'access-control-request-method' || lower === 'access-control-request-headers')
        headers.push([lower, value]);
    }
  }
  return headers;
}

/** `requester` names the peer this handler serves, for the caps' fair shares. */
export function createExitHandler(
  fetcher: ExitFetcher,
  policy: () => ExitPolicyOptions,
  events: ExitEvents,
  caps?: ExitCaps,
  requester = 'requester',
): ExitHandler {
  return (request: RequestHead, responder, signal, body = null) => {
    const refuse = (error: PeerlaneError): void => {
      events.finished(request, { status: null, bytes: 0, error });
      responder.error(error);
    };
    const options = { ...DEFAULT_EXIT_POLICY, ...policy() };
    const verdict = checkDestination(request.url, judgedMethod(request, body?.byteLength ?? 0), options);
    if (!verdict.allowed) return refuse(verdict.error);
    const capped = caps?.admit(requester) ?? null;
    if (capped) return refuse(capped);
    void (async () => {
      let sent = 0;
      let status: number | null = null;
      try {
        const response = await fetcher(
          {
            url: verdict.url.href,
            method: request.method.toUpperCase(),
            headers: forwardableRequestHeaders(request.headers),
            body,
            redirect: request.redirect ?? 'follow',
            forbiddenHeaders: forbiddenHeadersOf(request),
          },
          signal,
          options,
        );
        const declared = response.head.headers.find(([name]) => name.toLowerCase() === 'content-length')?.[1];
        const tooLarge = caps?.checkDeclaredLength(
          declared !== undefined && /^\d+$/.test(declared) ? Number(declared) : null,
        );
        if (tooLarge) throw tooLarge;
        status = response.head.status;
        responder.head({ ...response.head, headers: forwardableResponseHeaders(response.head.headers) });
        if (response.body) {
          for await (const chunk of response.body) {
            await caps?.beforeSend(requester, sent, chunk.byteLength, signal);
            await responder.write(chunk);
            sent += chunk.byteLength;
            events.bytesSent(chunk.byteLength);
          }
        }
        // A body aborted under it may simply end (the host's reader stops): the stream did not finish.
        signal.throwIfAborted();
        responder.end();
        events.finished(request, { status, bytes: sent, error: null });
      } catch (error) {
        const typed = signal.aborted
          ? toPeerlaneError(signal.reason, 'cancelled')
          : toPeerlaneError(error, 'exit_fetch_failed');
        events.finished(request, { status, bytes: sent, error: typed });
        responder.error(typed);
      } finally {
        caps?.release(requester);
      }
    })();
  };
}
