import { z } from '../schema/zod';
import { ERROR_CATEGORIES } from '../errors';

/**
 * The last requests this browser sent (requester) or served (exit), with outcome and timings: a ring
 * of fixed size, persisted in `storage.session` so it survives a service-worker restart.
 */
export const REQUEST_LOG_SIZE = 200;
const URL_CHARS = 160;

export const requestLogEntrySchema = z.object({
  id: z.string().max(64),
  at: z.number(),
  role: z.enum(['requester', 'exit']),
  method: z.string().max(16),
  url: z.string().max(URL_CHARS),
  peer: z.string().max(16).nullable(),
  priority: z.enum(['document', 'interactive', 'background']).nullable(),
  outcome: z.union([z.literal('ok'), z.enum(ERROR_CATEGORIES)]),
  status: z.number().int().nullable(),
  attempts: z.number().int(),
  hedged: z.boolean(),
  hedgeWon: z.boolean().nullable(),
  resumed: z.number().int(),
  queueWaitMs: z.number().nullable(),
  ttfbMs: z.number().nullable(),
  transferMs: z.number().nullable(),
  totalMs: z.number(),
  bytes: z.number(),
  /** Answered by the routed cache: whole (`hit`) or after an exit's 304 (`revalidated`); absent: from an exit. */
  cache: z.enum(['hit', 'revalidated']).optional(),
});
export type RequestLogEntry = z.infer<typeof requestLogEntrySchema>;

/** Host and path only (no query: it often carries tokens), truncated for display. */
export function displayUrl(url: string): string {
  try {
    const parsed = new URL(url);
    const shown = `${parsed.host}${parsed.pathname}`;
    return shown.length > URL_CHARS ? `${shown.slice(0, URL_CHARS - 1)}…` : shown;
  } catch {
    return url.slice(0, URL_CHARS);
  }
}

export class RequestLog {
  private entries: RequestLogEntry[] = [];

  constructor(private readonly capacity = REQUEST_LOG_SIZE) {}

  static restore(stored: unknown, capacity = REQUEST_LOG_SIZE): RequestLog {
    const log = new RequestLog(capacity);
    if (Array.isArray(stored)) {
      for (const item of stored.slice(-capacity * 2)) {
        const parsed = requestLogEntrySchema.safeParse(item);
        if (parsed.success) log.add(parsed.data);
      }
    }
    return log;
  }

  add(entry: RequestLogEntry): void {
    this.entries.push(entry);
    if (this.entries.length > this.capacity) this.entries.splice(0, this.entries.length - this.capacity);
  }

  /** Newest first. */
  latest(count = this.capacity): RequestLogEntry[] {
    return this.entries.slice(-count).reverse();
  }

  get size(): number {
    return this.entries.length;
  }

  toJSON(): RequestLogEntry[] {
    return [...this.entries];
  }
}
