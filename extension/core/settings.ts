import { shareWithValues } from '../../protocol/circle-proof';
import { z } from './schema/zod';
import { MB, type ExitCapsOptions } from './exit/caps';
import { resolverUrlProblem } from './exit/name-lookup';
import { allowListProblem, DEFAULT_EXIT_PORTS, DEFAULT_EXIT_RESOLVER, MAX_PRIVATE_ALLOW_BLOCKS } from './exit/policy';
import { ALL_DAY, EVERY_HOUR } from './exit/share-when';
import { MAX_LANES } from './peers/lanes';
import { DEFAULT_STALL_TIMEOUT_MS } from './http/resumable-response';
import { DEFAULT_QUEUE_OPTIONS } from './queue/request-queue';

/**
 * The one settings object, stored in `storage.local` under `settings`. Every context reads it through
 * `parseSettings`, so a damaged or partial stored value falls back to defaults field by field.
 */
export const SETTINGS_STORAGE_KEY = 'settings';

/**
 * Used when the signaling server names no ICE servers of its own: Google's public STUN servers, two
 * of them so a symmetric NAT shows (two servers see two different mapped ports). STUN learns only
 * this browser's public address; it carries no traffic.
 */
export const DEFAULT_STUN_SERVERS = ['stun:stun.l.google.com:19302', 'stun:stun1.l.google.com:19302'] as const;

export const DEFAULT_SETTINGS: Settings = {
  signalingUrl: 'ws://127.0.0.1:8787',
  signalingToken: '',
  relayOnly: false,
  stunServers: [...DEFAULT_STUN_SERVERS],
  lanesPerExit: 8,
  autoLanes: true,
  share: false,
  shareWith: 'everyone',
  preferCircles: true,
  checkExitsPercent: 5,
  cacheMaxMB: 250,
  cacheFreshHours: 24,
  routedOrigins: [],
  privateAllowList: [],
  exitMethods: ['GET', 'HEAD'],
  exitPorts: [...DEFAULT_EXIT_PORTS],
  exitResolver: DEFAULT_EXIT_RESOLVER,
  sharePaused: false,
  exitCaps: { maxResponseMB: 25, maxConcurrent: 6, rateMBps: 2, dailyGB: 1, monthlyGB: 20 },
  shareWhen: { weekHours: [...EVERY_HOUR], pauseOnBattery: true, pauseOnMetered: true, yieldToBrowsing: true },
  queue: {
    maxQueued: DEFAULT_QUEUE_OPTIONS.maxQueued,
    perPeerConcurrency: DEFAULT_QUEUE_OPTIONS.perPeerConcurrency,
    requestTimeoutMs: DEFAULT_QUEUE_OPTIONS.requestTimeoutMs,
    attemptTimeoutMs: DEFAULT_QUEUE_OPTIONS.attemptTimeoutMs,
    maxAttempts: DEFAULT_QUEUE_OPTIONS.maxAttempts,
    retryBaseMs: DEFAULT_QUEUE_OPTIONS.retryBaseMs,
    retryCapMs: DEFAULT_QUEUE_OPTIONS.retryCapMs,
    agingMs: DEFAULT_QUEUE_OPTIONS.agingMs,
    hedging: DEFAULT_QUEUE_OPTIONS.hedging,
    stallTimeoutMs: DEFAULT_STALL_TIMEOUT_MS,
  },
};

/** Methods an exit may be allowed to carry; GET and HEAD unless the sharer opts in to more. */
export const EXIT_METHODS = ['GET', 'HEAD', 'OPTIONS', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

const int = (min: number, max: number, what: string) =>
  z
    .number({ message: `${what} must be a number` })
    .int(`${what} must be a whole number`)
    .min(min, `${what} must be at least ${min}`)
    .max(max, `${what} must be at most ${max}`);

export const queueSettingsSchema = z.object({
  maxQueued: int(1, 10_000, 'queue size'),
  perPeerConcurrency: int(1, 64, 'requests per peer'),
  requestTimeoutMs: int(1_000, 600_000, 'request timeout'),
  attemptTimeoutMs: int(500, 120_000, 'attempt timeout'),
  maxAttempts: int(1, 5, 'attempts'),
  retryBaseMs: int(10, 10_000, 'retry base delay'),
  retryCapMs: int(10, 60_000, 'retry delay cap'),
  agingMs: int(100, 60_000, 'aging time'),
  hedging: z.boolean(),
  stallTimeoutMs: int(1_000, 600_000, 'body stall timeout'),
});
export type QueueSettings = z.infer<typeof queueSettingsSchema>;

const amount = (min: number, max: number, what: string) =>
  z
    .number({ message: `${what} must be a number` })
    .min(min, `${what} must be at least ${min}`)
    .max(max, `${what} must be at most ${max}`);

/** What a sharer lends, in the units people think in; `exitCapsFrom` turns them into bytes. */
export const exitCapsSettingsSchema = z.object({
  maxResponseMB: amount(0.01, 10_000, 'response size cap'),
  maxConcurrent: int(1, 64, 'concurrent requests'),
  rateMBps: amount(0.01, 1_000, 'bandwidth cap'),
  dailyGB: amount(0.001, 10_000, 'daily quota'),
  monthlyGB: amount(0.001, 100_000, 'monthly quota'),
});

/** When the exit serves (core/exit/share-when.ts): hours of the week, and what pauses or slows it. */
export const shareWhenSchema = z.object({
  /** Sunday first; each a 24-bit mask of the hours sharing is on (local time). */
  weekHours: z.array(z.number().int().min(0).max(ALL_DAY)).length(7, 'hours of the week: one entry per day'),
  pauseOnBattery: z.boolean(),
  pauseOnMetered: z.boolean(),
  /** Slow the exit to a quarter of its bandwidth cap while this browser's own tabs use the network. */
  yieldToBrowsing: z.boolean(),
});
export type ExitCapsSettings = z.infer<typeof exitCapsSettingsSchema>;

export function exitCapsFrom(settings: ExitCapsSettings): ExitCapsOptions {
  return {
    maxResponseBytes: Math.round(settings.maxResponseMB * MB),
    maxConcurrent: settings.maxConcurrent,
    bytesPerSecond: Math.round(settings.rateMBps * MB),
    dailyBytes: Math.round(settings.dailyGB * 1000 * MB),
    monthlyBytes: Math.round(settings.monthlyGB * 1000 * MB),
  };
}

const originSchema = z.string().transform((value, ctx) => {
  const origin = normalizeOrigin(value);
  if (origin === null) {
    ctx.addIssue({ code: 'custom', message: `not an http(s) origin: ${value}` });
    return z.NEVER;
  }
  return origin;
});

export const settingsSchema = z.object({
  signalingUrl: z
    .string()
    .refine((value) => /^wss?:\/\/[^/\s]+/.test(value), 'signaling URL must start with ws:// or wss://'),
  /** Given by the signaling operator when their server requires one (HMAC-signed, expiring). */
  signalingToken: z
    .string()
    .max(512)
    .regex(/^[A-Za-z0-9_.-]*$/, 'signaling token: letters, digits, dot, dash and underscore only'),
  /** Connect to peers only through the TURN relay signaling offers: peers never learn this browser's IP. */
  relayOnly: z.boolean(),
  /** STUN servers (`stun:host:port`) for when signaling offers none; empty: none (peers on one network only). */
  stunServers: z
    .array(
      z
        .string()
        .max(256)
        .regex(/^stuns?:[^\s]+$/, 'a STUN server is stun:host:port or stuns:host:port'),
    )
    .max(4, 'at most 4 STUN servers'),
  /**
   * Peer connections to each exit, its frames striped over them (core/peers/lanes.ts): each has its
   * own congestion window, which over a long or lossy path is what limits one connection. 1: none.
   */
  lanesPerExit: int(1, MAX_LANES, 'connections per exit'),
  /** Open `lanesPerExit` only to exits over a long path (core/peers/lanes.ts `automaticLaneCount`), one to a near one. */
  autoLanes: z.boolean(),
  share: z.boolean(),
  /** Whom this exit serves: anyone, only people in its circles, or anyone with its circles' members first. */
  shareWith: z.enum(shareWithValues),
  /** As a requester: exits of this install's circles first, whatever their load. */
  preferCircles: z.boolean(),
  /**
   * As a requester: the share of small public answers (GET, 200, strong ETag) asked again of another
   * exit and compared (core/checks/exit-checks.ts); an exit that altered one is dropped and reported.
   */
  checkExitsPercent: int(0, 100, 'checked answers (percent)'),
  /** As a requester: the routed cache's size (core/http/routed-cache.ts); 0 keeps nothing. */
  cacheMaxMB: int(0, 10_000, 'cache size (MB)'),
  /** However long a site says an answer stays fresh, one an exit supplied is asked for again after this. */
  cacheFreshHours: int(1, 720, 'cache freshness cap (hours)'),
  routedOrigins: z.array(originSchema).max(500),
  /**
   * Tests and development only: private blocks an exit may fetch (`127.0.0.2/32`), each no wider
   * than a /24 or /64. Empty by default; the popup warns while it is not.
   */
  privateAllowList: z
    .array(
      z
        .string()
        .max(64)
        .refine((value) => allowListProblem(value) === null, {
          error: (issue) => allowListProblem(String(issue.input)) ?? 'not an address block',
        }),
    )
    .max(MAX_PRIVATE_ALLOW_BLOCKS, `at most ${MAX_PRIVATE_ALLOW_BLOCKS} private blocks`),
  exitMethods: z.array(z.enum(EXIT_METHODS)).min(1).max(EXIT_METHODS.length),
  exitPorts: z
    .array(int(1, 65_535, 'port'))
    .min(1, 'at least one port')
    .max(64, 'at most 64 ports'),
  /**
   * The DNS-over-HTTPS resolver (RFC 8484) a Chromium exit asks what a name resolves to before it
   * connects (Chromium gives extensions no DNS API); Firefox asks its own resolver.
   */
  exitResolver: z
    .string()
    .max(512)
    .refine((value) => resolverUrlProblem(value) === null, {
      error: (issue) => resolverUrlProblem(String(issue.input)) ?? 'not a resolver URL',
    }),
  /** Sharing stays consented but serves nothing until resumed. */
  sharePaused: z.boolean(),
  exitCaps: exitCapsSettingsSchema,
  shareWhen: shareWhenSchema,
  queue: queueSettingsSchema,
});

export type Settings = z.infer<typeof settingsSchema>;

/** Returns `scheme://host[:port]` for an http(s) URL or origin, or null. */
export function normalizeOrigin(value: string): string | null {
  try {
    const url = new URL(value.trim());
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
    return url.origin;
  } catch {
    return null;
  }
}

/** Tolerant read: each valid stored field is kept, each invalid or missing one takes its default. */
export function parseSettings(stored: unknown): Settings {
  const record = typeof stored === 'object' && stored !== null ? (stored as Record<string, unknown>) : {};
  const result: Settings = structuredClone(DEFAULT_SETTINGS);
  const isRecord = (value: unknown): value is Record<string, unknown> =>
    typeof value === 'object' && value !== null && !Array.isArray(value);
  for (const key of Object.keys(settingsSchema.shape) as (keyof Settings)[]) {
    // A group stored by an older version lacks the fields added since: they take their defaults,
    // and the group keeps the person's own values.
    const fallback: unknown = DEFAULT_SETTINGS[key];
    const stored = record[key];
    const value = isRecord(fallback) && isRecord(stored) ? { ...fallback, ...stored } : stored;
    const parsed = settingsSchema.shape[key].safeParse(value);
    if (parsed.success) (result as Record<keyof Settings, unknown>)[key] = parsed.data;
  }
  result.routedOrigins = [...new Set(result.routedOrigins)];
  // Caps stored before the monthly quota existed keep theirs and get the default monthly one.
  if (!settingsSchema.shape.exitCaps.safeParse(record.exitCaps).success) {
    const caps = exitCapsSettingsSchema.safeParse({
      ...DEFAULT_SETTINGS.exitCaps,
      ...(typeof record.exitCaps === 'object' ? record.exitCaps : {}),
    });
    if (caps.success) result.exitCaps = caps.data;
  }
  return result;
}

/** Strict check for what a person typed in the options page: every problem, with its field. */
export function validateSettings(
  candidate: unknown,
): { ok: true; settings: Settings } | { ok: false; problems: string[] } {
  const parsed = settingsSchema.safeParse(candidate);
  if (parsed.success)
    return { ok: true, settings: { ...parsed.data, routedOrigins: [...new Set(parsed.data.routedOrigins)] } };
  return {
    ok: false,
    problems: parsed.error.issues.map((issue) => `${issue.path.join('.') || 'settings'}: ${issue.message}`),
  };
}
