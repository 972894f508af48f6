import { MAX_CIRCLES_PER_PEER } from '../../../protocol/circle-proof';
import { MAX_FLAGGED_EXITS } from '../checks/exit-checks';
import { pauseReasons } from '../exit/share-when';
import { settingsSchema } from '../settings';
import { REQUEST_LOG_SIZE, requestLogEntrySchema } from '../stats/request-log';
import { TIMELINE_SECONDS } from '../stats/timeline';
import { candidatePairSchema, transportStatusSchema } from './transport-channel';
import { z } from '../schema/zod';

/**
 * The popup's channel (`peerlane-popup` Port): state is pushed, never polled. It carries every
 * setting, the signaling token included, so only our own popup and options pages are admitted
 * (see `channel-table.ts`).
 */
export const POPUP_PORT_NAME = 'peerlane-popup';

const percentiles = z.object({ p50: z.number().nullable(), p95: z.number().nullable(), p99: z.number().nullable() });
const counter = z.number().min(0);
export const peerViewSchema = z.object({
  peerId: z.string(),
  remoteRole: z.enum(['requester', 'exit']),
  path: z.enum(['direct', 'relayed', 'unknown']),
  pair: candidatePairSchema,
  lanes: z.number().int().min(1),
  laneRecovery: z.object({ asked: counter, resent: counter, duplicates: counter }),
  inflight: z.number().int(),
  rttMs: z.number().nullable(),
  ttfbMs: z.number().nullable(),
  successRatio: z.number().nullable(),
  health: z.enum(['healthy', 'warming', 'ejected', 'paused']).nullable(),
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
  /** Ports disconnected at connect: a context that may not use the channel it asked for. */
  portsRefused: counter,
  /** Ports disconnected for a message that did not parse. */
  portsInvalid: counter,
  /** Answers compared with a second exit's; those that agreed, decided nothing, or caught an exit altering them. */
  exitChecks: counter,
  exitChecksAgreed: counter,
  exitChecksInconclusive: counter,
  /** Checks whose second answer was a hedge's that lost the race (read to the end instead of cancelled). */
  exitChecksFromHedges: counter,
  exitsFlagged: counter,
  /** The routed cache: answers from it, answers a 304 confirmed, requests it could not answer; body bytes it served. */
  cacheHits: counter,
  cacheRevalidated: counter,
  cacheMisses: counter,
  cacheBytes: counter,
  sharedBytesToday: counter,
  sharedDay: z.string().max(10),
  sharedBytesThisMonth: counter,
  sharedMonth: z.string().max(7),
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
  /** Whether the exit serves now: why it is paused (null: it serves), whether it backs off for the sharer's browsing, and what the device says. */
  sharingNow: z.object({
    pause: z.enum(pauseReasons).nullable(),
    backingOff: z.boolean(),
    device: z.object({ onBattery: z.boolean().nullable(), metered: z.boolean().nullable() }),
  }),
  /** The circles this install is in, and what signaling made of each. */
  circles: z
    .array(
      z.object({
        circle: z.string(),
        name: z.string(),
        owner: z.boolean(),
        status: z.enum(['verified', 'pending', 'revoked', 'refused']),
      }),
    )
    .max(MAX_CIRCLES_PER_PEER),
  /** Exits this install caught altering an answer (core/checks/exit-checks.ts), newest first; never used again. */
  flaggedExits: z.array(z.object({ peerId: z.string(), at: z.number(), url: z.string() })).max(MAX_FLAGGED_EXITS),
  /** The last minute, a sample per second, oldest first. */
  timeline: z
    .array(
      z.object({
        at: z.number(),
        queued: counter,
        inflight: counter,
        bytesInPerSec: counter,
        bytesSharedPerSec: counter,
      }),
    )
    .max(TIMELINE_SECONDS),
});
export const toPopupSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('state'), state: popupStateSchema }),
]);
/** The popup sends nothing; any message on this channel is invalid. */
export const fromPopupSchema = z.never();

export type PeerView = z.infer<typeof peerViewSchema>;
export type PopupState = z.infer<typeof popupStateSchema>;
export type ToPopup = z.infer<typeof toPopupSchema>;
