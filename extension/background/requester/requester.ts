import { newCorrelationId } from '../../core/correlation-id';
import { joinBytes, spansBuffer } from '../../core/bytes';
import type { Clock } from '../../core/clock';
import { errorTraits, PeerlaneError, toPeerlaneError } from '../../core/errors';
import { MAX_CHECKED_BYTES } from '../../core/checks/exit-checks';
import { judgedMethod } from '../../core/exit/exit-service';
import { isIdempotentRequest } from '../../core/http/range-resume';
import { DEFAULT_STALL_TIMEOUT_MS, ResumableResponse, type PeerResponse } from '../../core/http/resumable-response';
import {
  MAX_CACHED_BODY_BYTES,
  type CacheDecision,
  type CacheEntry,
  type CachedRequest,
  type RoutedCache,
} from '../../core/http/routed-cache';
import type { CacheMode } from '../../core/protocol/request-fields';
import { ERROR_HEADER, isPeerlaneHeader, PEER_HEADER } from '../../core/protocol/page-headers';
import type { Hello, RequestHead, ResponseHead } from '../../core/protocol/frames';
import type { PeerSession, ResponseStream } from '../../core/peers/session';
import {
  isLostRace,
  lostRace,
  RequestQueue,
  type Priority,
  type QueueEvent,
  type RequestRecord,
} from '../../core/queue/request-queue';
import { displayUrl } from '../../core/stats/request-log';
import { shortPeerId, type PeerRegistry } from '../peers/peer-registry';
import type { Telemetry } from '../telemetry/telemetry';
import type { ExitChecks } from './exit-checks';

/**
 * The requester side: every routed request, from whichever entry point, goes through `route()`:
 * into the queue, onto an exit's session, its response streamed to a `ResponseSink` (a request
 * Port, or the viewer's Response), logged once at its end. Entry points only adapt their sink.
 */
export interface ResponseSink {
  head(head: ResponseHead): void;
  /** Resolves false once the consumer went away: the request is then abandoned. */
  chunk(bytes: Uint8Array): Promise<boolean>;
  end(): void;
  error(error: PeerlaneError): void;
  /** Upload progress (request body bytes the exit has), for sinks that show it. */
  uploaded?(bytes: number): void;
}

/** Bytes batched per message to the page: fewer, larger messages move faster (ARCHITECTURE.md, "Moving bytes"). */
const PAGE_CHUNK_BYTES = 64 * 1024;
/** The queue settles its record a moment after the last byte; wait this long for it before logging. */
const RECORD_WAIT_MS = 1_000;

/** What one queue request carries: the request, and whether its body may be resumed elsewhere. */
interface RoutedTask {
  head: RequestHead;
  priority: Priority;
  resumable: boolean;
  body: Uint8Array | null;
  /** Drawn for an exit check (exit-checks.ts): a hedge that loses the race is then kept as the second answer. */
  checkDrawn: boolean;
  /** Upload progress: request body bytes the exit has so far (each attempt starts again from 0). */
  onUploaded?: (bytes: number) => void;
}

/** An answer's body kept for a check (up to MAX_CHECKED_BYTES; `bytes` counts all of it). */
interface KeptBody {
  parts: Uint8Array[];
  bytes: number;
}

/** Facts the log needs that the queue does not know. */
interface PendingLog {
  method: string;
  url: string;
  priority: Priority;
  startedAt: number;
  status: number | null;
  bytes: number;
  resumes: number;
  cache?: 'hit' | 'revalidated';
  record: RequestRecord | null;
  recorded: () => void;
  whenRecorded: Promise<void>;
}

/**
 * How long an attempt waits for a just-opened session's HELLO before it goes on without it: a peer of
 * an older build never answers a HELLO, so a session rebuilt on this side would wait in vain.
 */
const HELLO_WAIT_MS = 2_000;

/** The peer's HELLO, waited for a moment on a new session; null without one (nothing known of what it carries). */
async function helloOf(session: PeerSession, signal: AbortSignal): Promise<Hello | null> {
  if (session.remoteHello) return session.remoteHello;
  try {
    return await session.whenHello(AbortSignal.any([signal, AbortSignal.timeout(HELLO_WAIT_MS)]));
  } catch (error) {
    if (signal.aborted) throw error;
    return null;
  }
}

export class Requester {
  readonly queue: RequestQueue<RoutedTask, ResumableResponse>;
  /** A body read that waits this long for a byte fails its exit (and resumes elsewhere when it can). */
  bodyStallMs = DEFAULT_STALL_TIMEOUT_MS;
  private readonly pendingLogs = new Map<string, PendingLog>();

  constructor(
    private readonly deps: {
      clock: Clock;
      now(): number;
      peers: PeerRegistry;
      telemetry: Telemetry;
      checks?: ExitChecks;
      /** The routed cache; absent: every request goes to an exit. */
      cache?: RoutedCache;
    },
  ) {
    this.queue = new RequestQueue<RoutedTask, ResumableResponse>(
      (task, attempt) => this.execute(task, attempt.peerId, attempt.signal, attempt.correlationId),
      deps.clock,
    );
    this.queue.subscribe((event) => this.onQueueEvent(event));
  }

  private onQueueEvent(event: QueueEvent): void {
    if (event.type !== 'finished') return;
    const pending = this.pendingLogs.get(event.record.correlationId);
    if (pending && !pending.record) {
      pending.record = event.record;
      pending.recorded();
    }
  }

  /** One attempt on one peer. */
  private async execute(task: RoutedTask, peerId: string, signal: AbortSignal, correlationId: string) {
    const peer = this.deps.peers.get(peerId);
    if (!peer) throw new PeerlaneError('peer_lost', `peer ${shortPeerId(peerId)} is gone`);
    // The exit said which methods it carries: one it refuses fails here, before any byte leaves (and another exit may carry it).
    const method = judgedMethod(task.head, task.body?.byteLength ?? 0);
    const carried = (await helloOf(peer.session, signal))?.methods;
    if (carried && !carried.includes(method)) {
      throw new PeerlaneError(
        'method_refused',
        `method ${method} is not carried by exit ${shortPeerId(peerId)} (only ${carried.join(', ')}); nothing was sent`,
        { unsent: true },
      );
    }
    const opened = this.open(peer.session, task, peerId, signal, correlationId);
    const stream = await opened.stream;
    if (opened.keptForCheck()) throw lostRace();
    const response = new ResumableResponse(
      { stream, peerId },
      task.head,
      task.resumable
        ? (request, resumeNumber) =>
            this.resubmit(request, task.priority, `${correlationId}.r${resumeNumber}`, correlationId, signal)
        : null,
      signal,
      { ms: this.bodyStallMs, clock: this.deps.clock },
    );
    // A resumable response is done when the page has read it; a plain one when its stream ended.
    return { result: response, settled: task.resumable ? response.done : stream.done };
  }

  /**
   * Opens the attempt's stream. A request drawn for a check opens on its own signal: when the queue
   * cancels it for losing a hedge race, its answer goes to the check instead (read to the end,
   * bounded) and any other cancellation passes through.
   */
  private open(
    session: PeerSession,
    task: RoutedTask,
    peerId: string,
    signal: AbortSignal,
    correlationId: string,
  ): { stream: Promise<ResponseStream>; keptForCheck(): boolean } {
    const checks = this.deps.checks;
    const request = { ...task.head, correlationId };
    if (!task.checkDrawn || !checks || signal.aborted)
      return {
        stream: session.open(request, signal, task.body, { onUploaded: task.onUploaded }),
        keptForCheck: () => false,
      };
    const own = new AbortController();
    let kept = false;
    const stream = session.open(request, own.signal, task.body, { onUploaded: task.onUploaded });
    signal.addEventListener(
      'abort',
      () => {
        if (!isLostRace(signal.reason)) return own.abort(signal.reason);
        kept = true;
        checks.keepDuplicate(correlationId, peerId, task.head, stream, () => own.abort(signal.reason));
      },
      { once: true },
    );
    return { stream, keptForCheck: () => kept };
  }

  /** The rest of a body whose exit died, from another exit (see core/http/range-resume.ts). */
  private async resubmit(
    request: RequestHead,
    priority: Priority,
    correlationId: string,
    resumeOf: string,
    signal: AbortSignal,
  ): Promise<PeerResponse> {
    const pending = this.pendingLogs.get(resumeOf);
    if (pending) pending.resumes += 1;
    const response = await this.queue.submit(
      { head: request, priority, resumable: false, body: null, checkDrawn: false },
      { priority, signal, idempotent: true, hedgeable: true, correlationId, resumeOf },
    );
    return { stream: response, peerId: response.peerId };
  }

  /**
   * One request from submission to its last byte (or error), logged once at the end. `cacheAs`: the
   * partition and the page's cache mode, for the routed cache (absent: not cached, as the viewer's).
   */
  async route(
    head: RequestHead,
    priority: Priority,
    signal: AbortSignal,
    body: Uint8Array | null,
    sink: ResponseSink,
    cacheAs?: { partition: string; mode: CacheMode },
  ): Promise<void> {
    const correlationId = newCorrelationId();
    const method = head.method.toUpperCase();
    let recorded: () => void = () => undefined;
    const whenRecorded = new Promise<void>((resolve) => {
      recorded = resolve;
    });
    const pending: PendingLog = {
      method,
      url: displayUrl(head.url),
      priority,
      startedAt: this.deps.clock.now(),
      status: null,
      bytes: 0,
      resumes: 0,
      record: null,
      recorded,
      whenRecorded,
    };
    this.pendingLogs.set(correlationId, pending);
    let failure: PeerlaneError | null = null;
    let peer: string | null = null;
    let submitted = false;
    const cache = this.deps.cache;
    const cacheRequest: CachedRequest | null =
      cache && cacheAs && body === null
        ? { method, url: head.url, headers: head.headers, mode: cacheAs.mode, partition: cacheAs.partition }
        : null;
    try {
      const decision: CacheDecision =
        cache && cacheRequest
          ? await cache.decide(cacheRequest).catch((): CacheDecision => ({ kind: 'bypass' }))
          : { kind: 'bypass' };
      if (decision.kind === 'unavailable')
        throw new PeerlaneError(
          'not_cached',
          'the request asked only for the cache (only-if-cached), which has nothing for it',
        );
      if (decision.kind === 'hit') {
        pending.cache = 'hit';
        peer = decision.entry.exit;
        await this.answerFromCache(decision.entry, decision.headers, pending, sink);
        return;
      }
      if (decision.kind !== 'bypass') this.deps.telemetry.count('cacheMisses');
      const idempotent = isIdempotentRequest(head);
      const checkDrawn = method === 'GET' && body === null && (this.deps.checks?.draw() ?? false);
      submitted = true;
      const asked =
        decision.kind === 'revalidate' ? { ...head, headers: [...head.headers, ...decision.conditional] } : head;
      const response = await this.queue.submit(
        {
          head: asked,
          priority,
          resumable: idempotent && body === null,
          body,
          checkDrawn,
          onUploaded: sink.uploaded?.bind(sink),
        },
        {
          priority,
          signal,
          idempotent,
          hedgeable: method === 'GET' && body === null,
          correlationId,
          sizeBytes: body?.byteLength ?? 0,
        },
      );
      peer = response.peerId;
      pending.status = response.head.status;
      if (decision.kind === 'revalidate' && response.head.status === 304 && cache && cacheRequest) {
        // The exit's 304 confirms what is stored: the page gets the stored answer, as from the browser's cache.
        // A 304 has no body: its end settles the attempt as answered.
        while ((await response.read()) !== null);
        const refreshed = await cache.revalidated(cacheRequest, decision.entry, response.head, response.peerId);
        if (refreshed) {
          pending.cache = 'revalidated';
          await this.answerFromCache(refreshed.entry, refreshed.headers, pending, sink);
          return;
        }
        // A 304 for something else than what is stored (its validators changed): ask again, whole.
        await this.route(head, priority, signal, body, sink, { partition: cacheRequest.partition, mode: 'reload' });
        return;
      }
      // Peerlane's own headers are Peerlane's: an origin's (or exit's) look-alikes are dropped, so
      // ERROR_HEADER marks only answers Peerlane made itself (the page hook shows those whole).
      const originHeaders = response.head.headers.filter(([name]) => !isPeerlaneHeader(name));
      sink.head({ ...response.head, headers: [...originHeaders, [PEER_HEADER, shortPeerId(response.peerId)]] });
      // Kept for the cache while it streams to the page. A resumed body came from two exits: the first is remembered.
      const forCache: KeptBody | null =
        cache && cacheRequest && cache.storable(cacheRequest, { ...response.head, headers: originHeaders })
          ? { parts: [], bytes: 0 }
          : null;
      // Now and then a small public answer is kept and compared with another exit's (exit-checks.ts).
      const kept: KeptBody | null =
        checkDrawn && this.deps.checks?.checkable(head, response.head, response.peerId)
          ? { parts: [], bytes: 0 }
          : null;
      if (!(await this.stream(response, pending, sink, kept, forCache))) return;
      peer = response.peerId;
      sink.end();
      // Only an answer one exit gave whole (a resumed one came from two) is checked; one drawn for a
      // check is cached once the check ended and did not catch its exit altering it, and the next
      // lookup of it waits for that (core/http/routed-cache.ts `put`).
      const checking =
        kept && pending.resumes === 0
          ? this.deps.checks?.check(head, response.head, response.peerId, kept.parts, kept.bytes, correlationId)
          : undefined;
      // A drawn answer whose check did not run (resumed) is not kept: nothing said it was not altered.
      if (forCache && cache && cacheRequest && forCache.bytes <= MAX_CACHED_BODY_BYTES && (checking || !kept))
        void cache
          .put(
            cacheRequest,
            { ...response.head, headers: originHeaders },
            joinBytes(forCache.parts, forCache.bytes),
            response.peerId,
            checking,
          )
          .catch(() => undefined);
    } catch (error) {
      failure = toPeerlaneError(error, 'internal');
      answerFailure(sink, failure);
    } finally {
      // A request the queue rejected at admission (or never saw: the cache answered) has no record to wait for.
      if (submitted && failure?.category !== 'queue_full')
        await Promise.race([
          pending.whenRecorded,
          new Promise((resolve) => this.deps.clock.setTimeout(() => resolve(undefined), RECORD_WAIT_MS)),
        ]);
      this.pendingLogs.delete(correlationId);
      this.log(correlationId, pending, failure, peer);
    }
  }

  /** Body to the sink, batching what has already arrived but never holding bytes back for more. */
  private async stream(
    response: ResumableResponse,
    pending: PendingLog,
    sink: ResponseSink,
    kept: KeptBody | null,
    forCache: KeptBody | null,
  ): Promise<boolean> {
    const parts: Uint8Array[] = [];
    let partBytes = 0;
    const flush = async (): Promise<boolean> => {
      if (partBytes === 0) return true;
      // One part goes as it is; several are joined into one fresh buffer (a structured clone of a
      // view would copy its whole underlying buffer).
      const joined = parts.length === 1 && spansBuffer(parts[0]!) ? parts[0] : joinBytes(parts, partBytes);
      parts.length = 0;
      partBytes = 0;
      return sink.chunk(joined);
    };
    for (;;) {
      const chunk = await response.read();
      if (chunk === null) break;
      this.deps.telemetry.received(chunk.byteLength);
      pending.bytes += chunk.byteLength;
      // A copy: the page's consumer owns the chunk it is given.
      if (kept && kept.bytes + chunk.byteLength <= MAX_CHECKED_BYTES) kept.parts.push(chunk.slice());
      if (kept) kept.bytes += chunk.byteLength;
      // Not copied: a chunk is a view of its own frame's buffer, which nothing reuses or changes.
      if (forCache && forCache.bytes + chunk.byteLength <= MAX_CACHED_BODY_BYTES) forCache.parts.push(chunk);
      if (forCache) forCache.bytes += chunk.byteLength;
      parts.push(chunk);
      partBytes += chunk.byteLength;
      if ((partBytes >= PAGE_CHUNK_BYTES || response.bufferedChunks === 0) && !(await flush())) return false;
    }
    return flush();
  }

  /** A stored answer to the sink, in page-sized chunks. */
  private async answerFromCache(
    entry: CacheEntry,
    headers: [string, string][],
    pending: PendingLog,
    sink: ResponseSink,
  ): Promise<void> {
    const { telemetry } = this.deps;
    telemetry.count(pending.cache === 'revalidated' ? 'cacheRevalidated' : 'cacheHits');
    pending.status = entry.status;
    const shown = headers.filter(([name]) => !isPeerlaneHeader(name));
    sink.head({
      status: entry.status,
      statusText: entry.statusText,
      headers: [...shown, [PEER_HEADER, shortPeerId(entry.exit)]],
      url: entry.url,
    });
    for (let offset = 0; offset < entry.body.byteLength; offset += PAGE_CHUNK_BYTES) {
      const part = entry.body.slice(offset, offset + PAGE_CHUNK_BYTES);
      if (!(await sink.chunk(part))) return;
      pending.bytes += part.byteLength;
      telemetry.count('cacheBytes', part.byteLength);
    }
    sink.end();
  }

  private log(id: string, pending: PendingLog, failure: PeerlaneError | null, peer: string | null): void {
    const record = pending.record;
    this.deps.telemetry.logRequest({
      id,
      at: this.deps.now(),
      role: 'requester',
      method: pending.method.slice(0, 16),
      url: pending.url,
      peer: peer ? shortPeerId(peer) : record?.peerId ? shortPeerId(record.peerId) : null,
      priority: pending.priority,
      outcome: failure ? failure.category : 'ok',
      status: pending.status,
      attempts: record?.attempts ?? 0,
      hedged: record?.hedged ?? false,
      hedgeWon: record?.hedgeWon ?? null,
      resumed: pending.resumes,
      queueWaitMs: record?.queueWaitMs ?? null,
      ttfbMs: record?.ttfbMs ?? null,
      transferMs: record?.transferMs ?? null,
      totalMs: this.deps.clock.now() - pending.startedAt,
      bytes: pending.bytes,
      ...(pending.cache ? { cache: pending.cache } : {}),
    });
  }
}

/**
 * A failure as the error table says the page sees it: most as a network error, some (a full queue)
 * as an HTTP answer the page can act on, like an overloaded server's 503 with Retry-After.
 */
export function answerFailure(sink: ResponseSink, error: PeerlaneError): void {
  const page = errorTraits(error.category).page;
  if (page === 'network-error') {
    sink.error(error);
    return;
  }
  const retry = page.retryAfterSeconds;
  const headers: [string, string][] = [
    ['content-type', 'text/plain; charset=utf-8'],
    [ERROR_HEADER, error.category],
  ];
  if (retry !== undefined) headers.splice(1, 0, ['retry-after', String(retry)]);
  sink.head({ status: page.status, statusText: page.statusText, headers });
  void sink
    .chunk(
      new TextEncoder().encode(`Peerlane: ${error.message}.${retry !== undefined ? ` Retry after ${retry} s.` : ''}\n`),
    )
    .then(() => sink.end());
}
