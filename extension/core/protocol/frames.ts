import { z } from '../schema/zod';
import { ERROR_CATEGORIES } from '../errors';
import { REDIRECT_MODES, SERIALIZED_ORIGIN } from './request-fields';
import {
  MAX_HEADERS,
  MAX_HEADER_NAME_CHARS,
  MAX_HEADER_VALUE_CHARS,
  MAX_METHOD_CHARS,
  MAX_ORIGIN_CHARS,
  MAX_URL_CHARS,
} from './limits';

/**
 * Wire frames on a peer data channel. One data-channel message carries exactly one frame (SCTP keeps
 * message boundaries), so the decoder never reassembles. Frames are at most 64 KiB: below Chromium's
 * 256 KiB max-message-size (Firefox ≥ 140 takes more), and in `npm run bench` 64 KiB messages moved
 * Chromium → Firefox, the slowest direction, 15–29 % faster than 16 KiB in each of three runs. Streams still
 * interleave frame by frame.
 *
 * Header (12 bytes, big endian): version u8 · type u8 · flags u16 · stream id u32 · payload length u32.
 */
export const PROTOCOL_VERSION = 1;

export const HEADER_BYTES = 12;
export const MAX_FRAME_BYTES = 64 * 1024;
export const MAX_PAYLOAD_BYTES = MAX_FRAME_BYTES - HEADER_BYTES;

export const FrameType = {
  HELLO: 1,
  REQUEST_HEAD: 2,
  BODY: 3,
  END: 4,
  RESPONSE_HEAD: 5,
  CANCEL: 6,
  ERROR: 7,
  CREDIT: 8,
  PING: 9,
  PONG: 10,
} as const;
export type FrameTypeName = keyof typeof FrameType;

/** Flag on REQUEST_HEAD: no BODY frames follow (GET/HEAD). */
export const FLAG_END_STREAM = 0x1;
/**
 * Flag on BODY and END: the body of a request the receiver serves (requester → exit), not of a
 * response it asked for. Both peers number their own streams from 1, so the direction tells them apart.
 * On CREDIT (exit → requester): credit for that request body, not for a response.
 */
export const FLAG_REQUEST_BODY = 0x2;
/** Flag on HELLO: an answer to the peer's HELLO, not a new session's; it is not answered again. */
export const FLAG_HELLO_REPLY = 0x4;
/**
 * Flag on HELLO, always with FLAG_HELLO_REPLY: what this peer carries changed (its capacity, methods,
 * a pause) and the session goes on. The reply flag makes a peer that predates updates take it as a
 * reply: it records the HELLO and neither answers nor drops its streams.
 */
export const FLAG_HELLO_UPDATE = 0x8;

const headerListSchema = z
  .array(z.tuple([z.string().max(MAX_HEADER_NAME_CHARS), z.string().max(MAX_HEADER_VALUE_CHARS)]))
  .max(MAX_HEADERS);

export const helloSchema = z.object({
  version: z.number().int(),
  role: z.enum(['requester', 'exit']),
  capabilities: z.array(z.string().max(64)).max(32),
  exitCapacity: z.number().int().min(0).max(10_000),
  /** The methods this exit carries (its policy when the session began); absent: not said (older peers). */
  methods: z.array(z.string().max(MAX_METHOD_CHARS)).max(16).optional(),
});
/** HELLO capability: this peer grants CREDIT for the request bodies it receives, so they travel under a window like responses. */
export const REQUEST_BODY_CREDIT = 'request-body-credit';
export const requestHeadSchema = z.object({
  method: z.string().min(1).max(MAX_METHOD_CHARS),
  url: z.string().min(1).max(MAX_URL_CHARS),
  headers: headerListSchema,
  /** Shown in both browsers' request logs; never forwarded to the destination. */
  correlationId: z.string().max(64).optional(),
  /** The Origin the page's browser would send (core/http/cors.ts `requestOrigin`); absent: none. */
  origin: z.string().max(MAX_ORIGIN_CHARS).regex(SERIALIZED_ORIGIN).optional(),
  /** The page's redirect mode (absent: follow). Not following, the exit answers the first redirect as `opaqueRedirect`. */
  redirect: z.enum(REDIRECT_MODES).optional(),
});
export const responseHeadSchema = z.object({
  status: z.number().int().min(100).max(599),
  statusText: z.string().max(256),
  headers: headerListSchema,
  /** The URL the response came from, after the redirects the exit followed; absent: the request's. */
  url: z.string().max(MAX_URL_CHARS).optional(),
  /** Whether the exit followed at least one redirect (the page's `Response.redirected`). */
  redirected: z.boolean().optional(),
  /**
   * A redirect the exit did not follow (the request's mode was manual or error). Its fetch sees an
   * opaque redirect, as the page's would: the status is then a nominal 302 and there are no headers.
   */
  opaqueRedirect: z.boolean().optional(),
  /**
   * The redirects the exit followed, in order: the URL that answered each and its
   * Access-Control-Allow-* headers, which the page's CORS check needs (core/http/cors.ts redirectCorsCheck).
   */
  redirectHops: z
    .array(z.object({ url: z.string().max(MAX_URL_CHARS), headers: headerListSchema.max(4) }))
    .max(20)
    .optional(),
});
export type RedirectHop = NonNullable<z.infer<typeof responseHeadSchema>['redirectHops']>[number];
export const errorPayloadSchema = z.object({
  category: z.enum(ERROR_CATEGORIES),
  message: z.string().max(2048),
});

export type Hello = z.infer<typeof helloSchema>;
export type RequestHead = z.infer<typeof requestHeadSchema>;
export type ResponseHead = z.infer<typeof responseHeadSchema>;
export type ErrorPayload = z.infer<typeof errorPayloadSchema>;

interface FrameBase {
  streamId: number;
  flags: number;
}
export type Frame =
  | (FrameBase & { type: 'HELLO'; hello: Hello })
  | (FrameBase & { type: 'REQUEST_HEAD'; head: RequestHead })
  | (FrameBase & { type: 'BODY'; data: Uint8Array })
  | (FrameBase & { type: 'END' })
  | (FrameBase & { type: 'RESPONSE_HEAD'; head: ResponseHead })
  | (FrameBase & { type: 'CANCEL' })
  | (FrameBase & { type: 'ERROR'; error: ErrorPayload })
  | (FrameBase & { type: 'CREDIT'; bytes: number })
  | (FrameBase & { type: 'PING'; nonce: number })
  | (FrameBase & { type: 'PONG'; nonce: number });
