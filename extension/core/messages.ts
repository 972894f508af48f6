import { z } from 'zod';
import { ERROR_CATEGORIES } from './errors';
import { PRIORITIES } from './queue/priority-lanes';
import { settingsSchema } from './settings';
import { REQUEST_LOG_SIZE, requestLogEntrySchema } from './stats/request-log';
import { TIMELINE_SECONDS } from './stats/timeline';

/**
 * Every cross-context message, one discriminated union per channel, validated where it enters
 * (`parse*` below). A message that does not parse is a `bad_message` error with a name, never a
 * silently ignored `undefined`.
 */
const headerList = z.array(z.tuple([z.string().max(256), z.string().max(8192)])).max(200);
const errorShape = z.object({ category: z.enum(ERROR_CATEGORIES), message: z.string().max(2048) });
const arrayBuffer = z.custom<ArrayBuffer>((value) => value instanceof ArrayBuffer, 'expected an ArrayBuffer');

// ── Page (MAIN world) ⇄ content bridge (ISOLATED world), over a private MessageChannel ──
export const pageToBridgeSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('request'), id: z.number().int(), method: z.string().max(16), url: z.string().max(8192), headers: headerList, priority: z.enum(PRIORITIES) }),
  /** The page's stream consumed this many bytes: the background may send more. */
  z.object({ type: z.literal('consumed'), id: z.number().int(), bytes: z.number().int().min(0) }),
  z.object({ type: z.literal('cancel'), id: z.number().int() }),
]);
export const bridgeToPageSchema = z.discriminatedUnion('type', [
  /** Whether this exact origin is routed (match patterns cannot tell ports apart in Firefox). */
  z.object({ type: z.literal('config'), routed: z.boolean() }),
  z.object({ type: z.literal('head'), id: z.number().int(), status: z.number().int(), statusText: z.string(), headers: headerList }),
  z.object({ type: z.literal('chunk'), id: z.number().int(), data: arrayBuffer }),
  z.object({ type: z.literal('end'), id: z.number().int() }),
  z.object({ type: z.literal('error'), id: z.number().int(), error: errorShape }),
]);

// ── Content bridge ⇄ background, one runtime Port per request (`peerlane-request`); JSON only ──
export const bridgeToBackgroundSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('request'), method: z.string().max(16), url: z.string().max(8192), headers: headerList, priority: z.enum(PRIORITIES) }),
  z.object({ type: z.literal('consumed'), bytes: z.number().int().min(0) }),
]);
export const backgroundToBridgeSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('head'), status: z.number().int(), statusText: z.string(), headers: headerList }),
  /** Ports JSON-encode (a Uint8Array would arrive as {"0":…}): body bytes travel as base64. */
  z.object({ type: z.literal('chunk'), base64: z.string() }),
  z.object({ type: z.literal('end') }),
  z.object({ type: z.literal('error'), error: errorShape }),
]);

// ── Background ⇄ transport host (Chrome: SW ⇄ offscreen by postMessage with transfer; Firefox: in-process) ──
export const transportConfigSchema = z.object({
  signalingUrl: z.string(),
  signalingToken: z.string(),
  relayOnly: z.boolean(),
  share: z.boolean(),
  exitCapacity: z.number().int().min(0),
  wantExits: z.boolean(),
});
export const toTransportSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('configure'), config: transportConfigSchema }),
  z.object({ type: z.literal('need-exits') }),
  z.object({ type: z.literal('frame'), peerId: z.string(), data: arrayBuffer }),
  z.object({ type: z.literal('close-peer'), peerId: z.string(), reason: z.string() }),
]);
export const transportStatusSchema = z.object({
  signaling: z.enum(['offline', 'connecting', 'connected']),
  selfId: z.string().nullable(),
  availableExits: z.number().int(),
});
export const fromTransportSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('transport-ready') }),
  z.object({ type: z.literal('peer-up'), peerId: z.string(), remoteRole: z.enum(['requester', 'exit']) }),
  z.object({ type: z.literal('peer-down'), peerId: z.string(), reason: z.string() }),
  z.object({ type: z.literal('frame'), peerId: z.string(), data: arrayBuffer }),
  z.object({ type: z.literal('status'), status: transportStatusSchema }),
]);

// ── Popup ⇄ background (`peerlane-popup` Port): state is pushed, never polled ──
const percentiles = z.object({ p50: z.number().nullable(), p95: z.number().nullable(), p99: z.number().nullable() });
const counter = z.number().min(0);
export const peerViewSchema = z.object({
  peerId: z.string(),
  remoteRole: z.enum(['requester', 'exit']),
  inflight: z.number().int(),
  rttMs: z.number().nullable(),
  ttfbMs: z.number().nullable(),
  successRatio: z.number().nullable(),
  health: z.enum(['healthy', 'warming', 'ejected']).nullable(),
});
export const statsSnapshotSchema = z.object({
  queued: counter,
  queuedByPriority: z.object({ document: counter, interactive: counter, background: counter, retry: counter }),
  inflight: counter,
  peers: counter,
  completed: counter,
  failed: counter,
  rejected: counter,
  retries: counter,
  hedgesWon: counter,
  hedgesLost: counter,
  resumes: counter,
  ejections: counter,
  bytesIn: counter,
  sharedRequests: counter,
  sharedBytes: counter,
  backgroundStarts: counter,
  sharedBytesToday: counter,
  sharedDay: z.string().max(10),
  failedByCategory: z.record(z.string(), z.number()),
  refusedByCategory: z.record(z.string(), z.number()),
  latencyMs: percentiles,
  queueWaitMs: percentiles,
  ttfbMs: percentiles,
  transferMs: percentiles,
});
export const popupStateSchema = z.object({
  stats: statsSnapshotSchema,
  peers: z.array(peerViewSchema),
  transport: transportStatusSchema,
  settings: settingsSchema,
  /** Newest first, up to REQUEST_LOG_SIZE. */
  log: z.array(requestLogEntrySchema).max(REQUEST_LOG_SIZE),
  /** When this background instance started (epoch ms): a service-worker restart shows here. */
  backgroundStartedAt: z.number(),
  /** What the browser lets the extension reach now (a person can withdraw it at any time). */
  access: z.object({ allSites: z.boolean(), unroutable: z.array(z.string()).max(1000) }),
  /** The last minute, a sample per second, oldest first. */
  timeline: z
    .array(z.object({ at: z.number(), queued: counter, inflight: counter, bytesInPerSec: counter, bytesSharedPerSec: counter }))
    .max(TIMELINE_SECONDS),
});
export const backgroundToPopupSchema = z.discriminatedUnion('type', [z.object({ type: z.literal('state'), state: popupStateSchema })]);

export type PageToBridge = z.infer<typeof pageToBridgeSchema>;
export type BridgeToPage = z.infer<typeof bridgeToPageSchema>;
export type BridgeToBackground = z.infer<typeof bridgeToBackgroundSchema>;
export type BackgroundToBridge = z.infer<typeof backgroundToBridgeSchema>;
export type TransportConfig = z.infer<typeof transportConfigSchema>;
export type ToTransport = z.infer<typeof toTransportSchema>;
export type FromTransport = z.infer<typeof fromTransportSchema>;
export type TransportStatus = z.infer<typeof transportStatusSchema>;
export type PopupState = z.infer<typeof popupStateSchema>;
export type BackgroundToPopup = z.infer<typeof backgroundToPopupSchema>;

/** window.postMessage marker of the one-time MessageChannel handshake between page hook and bridge. */
export const PAGE_HANDSHAKE = 'peerlane-page-hook-hello';
export const BRIDGE_READY = 'peerlane-bridge-ready';
/** True for a window message carrying one of the handshake markers above. */
export function isHandshake(data: unknown, marker: typeof PAGE_HANDSHAKE | typeof BRIDGE_READY): boolean {
  return typeof data === 'object' && data !== null && (data as { peerlane?: unknown }).peerlane === marker;
}
export const REQUEST_PORT_NAME = 'peerlane-request';
export const POPUP_PORT_NAME = 'peerlane-popup';
/** Firefox's viewer page asks the background for one request per Port, with the bridge's messages. */
export const VIEWER_PORT_NAME = 'peerlane-viewer-request';

/** Parses or returns a typed error; callers count it and drop the message, never crash. */
export function parseMessage<T>(schema: z.ZodType<T>, value: unknown): { ok: true; message: T } | { ok: false; error: string } {
  const parsed = schema.safeParse(value);
  if (parsed.success) return { ok: true, message: parsed.data };
  const issue = parsed.error.issues[0];
  return { ok: false, error: issue ? `${issue.path.join('.') || 'message'}: ${issue.message}` : 'invalid message' };
}
