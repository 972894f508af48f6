import type { Priority } from '../queue/priority-lanes';
import type { CacheMode, RedirectMode } from './request-fields';

/**
 * A routed request, defined once. Every shape it takes on its way derives from this:
 * - the page hook → bridge message (`page-channel.ts` `PageToBridge`, body an ArrayBuffer moved to the bridge);
 * - the bridge → background Port message (`request-channel.ts`, whose schema is checked against this
 *   type in test/unit/routed-request.test.ts; body as bytes);
 * - the head that goes over the wire to the exit (`frames.ts` `RequestHead`: `WireRequestHead`);
 * - what the exit's fetch is given (`exit-service.ts` `ExitFetchRequest`).
 * A type only: the content scripts carry no schema library.
 */
export interface RoutedRequest<Body> {
  method: string;
  url: string;
  headers: [string, string][];
  priority: Priority;
  /** The whole request body, or null. */
  body: Body | null;
  /** The page's redirect mode (absent: follow, as for the viewer's requests). */
  redirect?: RedirectMode;
  /** Subresource Integrity metadata; empty or absent: none. */
  integrity?: string;
  /** The Origin the page's browser would send (core/http/cors.ts `requestOrigin`); null or absent: none. */
  origin?: string | null;
  /** The page's cache mode (absent: default); the requester's routed cache follows it. */
  cache?: CacheMode;
}

/**
 * What of a routed request crosses to the exit in its REQUEST_HEAD: the fields the destination
 * needs, with the correlation id both logs show. Priority and integrity stay with the requester;
 * the body follows in BODY frames.
 */
export type WireRequestHead = Pick<RoutedRequest<never>, 'method' | 'url' | 'headers' | 'redirect'> & {
  origin?: string;
  correlationId?: string;
};
