import { CACHE_MODES, REDIRECT_MODES, SERIALIZED_ORIGIN } from '../protocol/request-fields';
import {
  MAX_INTEGRITY_CHARS,
  MAX_METHOD_CHARS,
  MAX_ORIGIN_CHARS,
  MAX_REQUEST_BODY_BYTES,
  MAX_URL_CHARS,
} from '../protocol/limits';
import { PRIORITIES } from '../queue/priority-lanes';
import { bytesSchema, errorShapeSchema, headerListSchema } from './common';
import { z } from '../schema/zod-mini';

/**
 * One routed request per runtime Port, from a routed page's content bridge (`peerlane-request`) or
 * Firefox's viewer page (`peerlane-viewer-request`), to the background and back. Body chunks are
 * bytes (structured clone), never base64. Flow control: the background sends at most a window of
 * unconsumed bytes; the requester reports what its reader took with `consumed`.
 */
export { REQUEST_PORT_NAME, VIEWER_PORT_NAME } from './request-port-names';

const int = z.number().check(z.int());
const count = z.number().check(z.int(), z.minimum(0));

export const toBackgroundRequestSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('request'),
    method: z.string().check(z.maxLength(MAX_METHOD_CHARS)),
    url: z.string().check(z.maxLength(MAX_URL_CHARS)),
    headers: headerListSchema,
    priority: z.enum(PRIORITIES),
    /** The whole request body (fetch and XHR bodies of every kind, as bytes), or null. */
    /** Subresource Integrity metadata; absent or empty: none. The background checks it (it has crypto.subtle; a page on http: has not). */
    integrity: z.optional(z.string().check(z.maxLength(MAX_INTEGRITY_CHARS))),
    /** The Origin the page's browser would send (core/http/cors.ts); absent or null: none. */
    origin: z.optional(z.nullable(z.string().check(z.maxLength(MAX_ORIGIN_CHARS), z.regex(SERIALIZED_ORIGIN)))),
    /** The page's redirect mode; absent: follow (the viewer's requests). */
    redirect: z.optional(z.enum(REDIRECT_MODES)),
    /** The page's cache mode; absent: default (the viewer's requests). */
    cache: z.optional(z.enum(CACHE_MODES)),
    body: z.optional(
      z.nullable(
        bytesSchema.check(
          z.refine(
            (bytes) => bytes.byteLength <= MAX_REQUEST_BODY_BYTES,
            `a request body is at most ${MAX_REQUEST_BODY_BYTES} bytes`,
          ),
        ),
      ),
    ),
  }),
  z.object({ type: z.literal('consumed'), bytes: count }),
]);

export const toRequesterSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('head'),
    status: int,
    statusText: z.string().check(z.maxLength(256)),
    headers: headerListSchema,
    /** The final URL after redirects, and whether there were any (Response.url, .redirected). */
    url: z.optional(z.string().check(z.maxLength(MAX_URL_CHARS))),
    redirected: z.optional(z.boolean()),
    opaqueRedirect: z.optional(z.boolean()),
    /** The redirects followed, for the page's CORS check of each (frames.ts responseHeadSchema). */
    redirectHops: z.optional(
      z
        .array(z.object({ url: z.string().check(z.maxLength(MAX_URL_CHARS)), headers: headerListSchema }))
        .check(z.maxLength(20)),
    ),
  }),
  z.object({ type: z.literal('chunk'), data: bytesSchema }),
  z.object({ type: z.literal('end') }),
  z.object({ type: z.literal('error'), error: errorShapeSchema }),
  /** Request body bytes the exit has taken so far: upload progress (XMLHttpRequest's `upload` events). */
  z.object({ type: z.literal('uploaded'), bytes: count }),
]);

export type ToBackgroundRequest = z.infer<typeof toBackgroundRequestSchema>;
export type RequestStart = Extract<ToBackgroundRequest, { type: 'request' }>;
export type ToRequester = z.infer<typeof toRequesterSchema>;
