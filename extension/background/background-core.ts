import browser, { type Runtime } from 'webextension-polyfill';
import { systemClock } from '../core/clock';
import { PeerlaneError, toPeerlaneError } from '../core/errors';
import { createExitHandler, isRefusal, type ExitFetcher } from '../core/exit/exit-service';
import { isIdempotentRequest } from '../core/http/range-resume';
import { ResumableResponse, type PeerResponse } from '../core/http/resumable-response';
import {
  bridgeToBackgroundSchema,
  fromTransportSchema,
  parseMessage,
  POPUP_PORT_NAME,
  VIEWER_PORT_NAME,
  REQUEST_PORT_NAME,
  type BackgroundToBridge,
  type BackgroundToPopup,
  type FromTransport,
  type ToTransport,
  type TransportStatus,
} from '../core/messages';
import { PeerSession } from '../core/peers/session';
import { PROTOCOL_VERSION, type RequestHead } from '../core/protocol/frames';
import { RequestQueue, type Priority, type QueueOptions, type RequestRecord } from '../core/queue/request-queue';
import { ExitCaps } from '../core/exit/caps';
import { DEFAULT_SETTINGS, exitCapsFrom, parseSettings, SETTINGS_STORAGE_KEY, type Settings } from '../core/settings';
import { displayUrl, RequestLog, type RequestLogEntry } from '../core/stats/request-log';
import { localDay, Stats } from '../core/stats/stats';
import { Timeline } from '../core/stats/timeline';
import { base64ToBytes, bytesToBase64 } from './base64';
import { syncRoutedScripts } from './routed-scripts';
import { siteAccessFor, type SiteAccess } from '../core/access/site-access';
import { FIREFOX_VIEWER_PAGE } from '../core/viewer/viewer-url';

/**
 * The background of both browsers: settings, queue, peer sessions, stats, content and popup ports.
 * Hosts hand it a link to the transport (offscreen document or in-process) and their exit fetcher.
 */
export interface BackgroundHost {
  postToTransport(message: ToTransport, transfer?: ArrayBuffer[]): void;
  exitFetcher: ExitFetcher;
  /** Chrome: keep the service worker alive while requests are in flight. */
  onBusyChange?(busy: boolean): void;
}

const STATS_STORAGE_KEY = 'stats';
/** Session storage: survives a service-worker restart, not a browser restart. */
const LOG_STORAGE_KEY = 'requestLog';
/** Bytes the page may have received but not yet consumed; bounds memory per routed request. */
const PAGE_WINDOW_BYTES = 1024 * 1024;
/** Bytes batched per Port message: fewer, larger JSON messages move faster (DESIGN.md §8). */
const PAGE_CHUNK_BYTES = 64 * 1024;
const PUSH_INTERVAL_MS = 250;
const PERSIST_INTERVAL_MS = 250;
const PING_INTERVAL_MS = 2_000;
const TIMELINE_SAMPLE_MS = 1_000;
const RECORD_WAIT_MS = 1_000;
/** A peer that has sent nothing for this long while a probe is unanswered is declared dead. */
const PEER_SILENCE_MS = 6_000;
/** Seconds a page is told to wait when the queue is full. */
const RETRY_AFTER_SECONDS = 1;
export const PEER_HEADER = 'x-peerlane-peer';
export const ERROR_HEADER = 'x-peerlane-error';

/** What one queue request carries: the request, and whether its body may be resumed elsewhere. */
interface RoutedTask {
  head: RequestHead;
  priority: Priority;
  resumable: boolean;
}

interface SessionEntry {
  session: PeerSession;
  remoteRole: 'requester' | 'exit';
  inflight: number;
  rttMs: number | null;
  pingSentAt: Map<number, number>;
  /** performance.now() of the last frame received: any frame proves the peer alive. */
  lastHeardAt: number;
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
  record: RequestRecord | null;
  /** Resolves with the queue's record once the request has left the queue. */
  recorded: Promise<void>;
  markRecorded: () => void;
}

export function shortPeerId(peerId: string): string {
  return peerId.slice(0, 8);
}

export function queueOptionsFrom(settings: Settings): Partial<QueueOptions> {
  const { requestTimeoutMs, ...rest } = settings.queue;
  return { ...rest, timeoutMs: requestTimeoutMs };
}

function newCorrelationId(): string {
  return crypto.randomUUID().replace(/-/g, '').slice(0, 12);
}

export class Background {
  settings: Settings = DEFAULT_SETTINGS;
  /** What the browser lets us reach; re-read on every settings change and permission change. */
  private access: SiteAccess = { allSites: false, unroutable: [] };
  private stats = new Stats();
  private log = new RequestLog();
  private readonly timeline = new Timeline();
  /** Shared by every requester's session: the caps are per exit, not per connection. */
  private readonly exitCaps = new ExitCaps(
    systemClock,
    () => exitCapsFrom(this.settings.exitCaps),
    () => this.stats.sharedToday(localDay()),
  );
  private readonly startedAt = Date.now();
  private transportStatus: TransportStatus = { signaling: 'offline', selfId: null, availableExits: 0 };
  private readonly sessions = new Map<string, SessionEntry>();
  private readonly queue: RequestQueue<RoutedTask, ResumableResponse>;
  private readonly pendingLogs = new Map<string, PendingLog>();
  private readonly popups = new Set<Runtime.Port>();
  private persistTimer: ReturnType<typeof setTimeout> | null = null;
  private pushTimer: ReturnType<typeof setTimeout> | null = null;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private pingNonce = 1;
  private exitStreams = 0;
  private busy = false;
  readonly ready: Promise<void>;

  constructor(private readonly host: BackgroundHost) {
    this.queue = new RequestQueue<RoutedTask, ResumableResponse>((task, attempt) => this.execute(task, attempt.peerId, attempt.signal, attempt.correlationId), systemClock);
    this.queue.subscribe((event) => {
      this.stats.onQueueEvent(event);
      if (event.type === 'no_peers') this.host.postToTransport({ type: 'need-exits' });
      if (event.type === 'finished') {
        const pending = this.pendingLogs.get(event.record.correlationId);
        if (pending && !pending.record) {
          pending.record = event.record;
          pending.markRecorded();
        }
      }
      this.changed();
    });
    browser.runtime.onConnect.addListener((port) => this.onConnect(port));
    // Sampled while this background lives (an idle Chrome worker stops, and so does the clock).
    setInterval(() => this.sampleTimeline(), TIMELINE_SAMPLE_MS);
    browser.storage.onChanged.addListener((changes, area) => {
      if (area === 'local' && changes[SETTINGS_STORAGE_KEY]) void this.applySettings(parseSettings(changes[SETTINGS_STORAGE_KEY].newValue));
    });
    // A grant (the popup's button, about:addons, Chrome's site access menu) applies at once, no restart.
    browser.permissions.onAdded.addListener(() => void this.ready.then(() => this.onAccessChanged(true)));
    browser.permissions.onRemoved.addListener(() => void this.ready.then(() => this.onAccessChanged(false)));
    this.ready = this.start();
  }

  private async start(): Promise<void> {
    const [stored, session] = await Promise.all([
      browser.storage.local.get([SETTINGS_STORAGE_KEY, STATS_STORAGE_KEY]),
      // storage.session: Chrome ≥ 102, Firefox ≥ 115; without it the log lives as long as the background.
      (browser.storage.session?.get(LOG_STORAGE_KEY) ?? Promise.resolve({})).catch(() => ({}) as Record<string, unknown>),
    ]);
    this.stats = Stats.restore(stored[STATS_STORAGE_KEY]);
    this.stats.count('backgroundStarts');
    this.log = RequestLog.restore(session[LOG_STORAGE_KEY]);
    await this.applySettings(parseSettings(stored[SETTINGS_STORAGE_KEY]));
  }

  private async applySettings(settings: Settings): Promise<void> {
    const routedChanged = settings.routedOrigins.join('\n') !== this.settings.routedOrigins.join('\n');
    const first = this.settings === DEFAULT_SETTINGS;
    // Settings and the access they need change together: no state is pushed with one but not the other.
    const access = await this.readAccess(settings.routedOrigins);
    this.settings = settings;
    this.access = access;
    this.queue.configure(queueOptionsFrom(settings));
    this.configureTransport();
    if (routedChanged || first) await syncRoutedScripts(settings.routedOrigins).catch((error: unknown) => console.error('[peerlane] content scripts', error));
    this.changed();
  }

  private readAccess(routedOrigins: readonly string[]): Promise<SiteAccess> {
    return siteAccessFor(routedOrigins, (pattern) => browser.permissions.contains({ origins: [pattern] })).catch((error: unknown) => {
      console.error('[peerlane] permissions', error);
      return { allSites: false, unroutable: [...routedOrigins] };
    });
  }

  private async onAccessChanged(added: boolean): Promise<void> {
    this.access = await this.readAccess(this.settings.routedOrigins);
    this.configureTransport();
    // Firefox injects registered scripts only where allowed; registering again after a grant is cheap and sure.
    if (added) await syncRoutedScripts(this.settings.routedOrigins).catch((error: unknown) => console.error('[peerlane] content scripts', error));
    this.changed();
  }

  /** Offering the connection: turned on and allowed to reach sites (an exit fetches anywhere). */
  private get offering(): boolean {
    return this.settings.share && this.access.allSites;
  }

  /** Serving now: offering and not paused. */
  private get sharing(): boolean {
    return this.offering && !this.settings.sharePaused;
  }

  configureTransport(): void {
    this.host.postToTransport({
      type: 'configure',
      config: {
        signalingUrl: this.settings.signalingUrl,
        signalingToken: this.settings.signalingToken,
        relayOnly: this.settings.relayOnly,
        share: this.offering,
        // Paused: still connected, but signaling introduces no new requesters.
        exitCapacity: this.sharing ? this.settings.exitCaps.maxConcurrent : 0,
        wantExits: this.settings.routedOrigins.length > 0,
      },
    });
  }

  // ── queue executor: one attempt on one peer ──
  private async execute(task: RoutedTask, peerId: string, signal: AbortSignal, correlationId: string) {
    const entry = this.sessions.get(peerId);
    if (!entry) throw new PeerlaneError('peer_lost', `peer ${shortPeerId(peerId)} is gone`);
    entry.inflight += 1;
    const stream = await entry.session.open({ ...task.head, correlationId }, signal).catch((error: unknown) => {
      entry.inflight -= 1;
      throw error;
    });
    const response = new ResumableResponse(
      { stream, peerId },
      task.head,
      task.resumable ? (request, resumeNumber) => this.resubmit(request, task.priority, `${correlationId}.r${resumeNumber}`, correlationId, signal) : null,
      signal,
    );
    // A resumable response is done when the page has read it; a plain one when its stream ended.
    const settled = (task.resumable ? response.done : stream.done).finally(() => {
      entry.inflight -= 1;
    });
    return { result: response, settled };
  }

  /** The rest of a body whose exit died, from another exit (see core/http/range-resume.ts). */
  private async resubmit(request: RequestHead, priority: Priority, correlationId: string, resumeOf: string, signal: AbortSignal): Promise<PeerResponse> {
    const pending = this.pendingLogs.get(resumeOf);
    if (pending) pending.resumes += 1;
    const response = await this.queue.submit({ head: request, priority, resumable: false }, { priority, signal, idempotent: true, hedgeable: true, correlationId, resumeOf });
    return { stream: response, peerId: response.peerId };
  }

  // ── transport ──
  onTransportMessage(raw: unknown): void {
    const parsed = parseMessage(fromTransportSchema, raw);
    if (!parsed.ok) {
      console.warn('[peerlane] bad transport message', parsed.error);
      return;
    }
    this.handleTransport(parsed.message);
  }

  private handleTransport(message: FromTransport): void {
    switch (message.type) {
      case 'transport-ready':
        this.configureTransport();
        return;
      case 'status':
        this.transportStatus = message.status;
        this.changed();
        return;
      case 'peer-up':
        this.peerUp(message.peerId, message.remoteRole);
        return;
      case 'peer-down':
        this.peerDown(message.peerId, message.reason);
        return;
      case 'frame': {
        const entry = this.sessions.get(message.peerId);
        if (!entry) return;
        entry.lastHeardAt = performance.now();
        entry.session.receive(new Uint8Array(message.data));
        return;
      }
    }
  }

  private peerUp(peerId: string, remoteRole: 'requester' | 'exit'): void {
    this.sessions.get(peerId)?.session.close(new PeerlaneError('peer_lost', 'peer reconnected'));
    const exitHandler = createExitHandler(
      this.host.exitFetcher,
      () => ({ allowPrivateTargets: this.settings.allowPrivateTargets, allowedMethods: this.settings.exitMethods, allowedPorts: this.settings.exitPorts }),
      {
        bytesSent: (bytes) => this.stats.shared(bytes, localDay()),
        finished: (request, outcome) => {
          const category = outcome.error?.category;
          if (!category) this.stats.count('sharedRequests');
          else if (isRefusal(category)) this.stats.exitRefused(category);
          this.addLog({
            id: request.correlationId ?? '-',
            at: Date.now(),
            role: 'exit',
            method: request.method.slice(0, 16),
            url: displayUrl(request.url),
            peer: shortPeerId(peerId),
            priority: null,
            outcome: category ?? 'ok',
            status: outcome.status,
            attempts: 1,
            hedged: false,
            hedgeWon: null,
            resumed: 0,
            queueWaitMs: null,
            ttfbMs: null,
            transferMs: null,
            totalMs: 0,
            bytes: outcome.bytes,
          });
        },
      },
      this.exitCaps,
      peerId,
    );
    // Callbacks below run only after the session exists, when `entry` is set.
    let entry: SessionEntry | undefined;
    const session = new PeerSession({
      hello: { version: PROTOCOL_VERSION, role: this.offering ? 'exit' : 'requester', capabilities: ['credit'], exitCapacity: this.sharing ? this.settings.exitCaps.maxConcurrent : 0 },
      send: (frame) => {
        const buffer = frame.buffer.byteLength === frame.byteLength ? (frame.buffer as ArrayBuffer) : (frame.slice().buffer as ArrayBuffer);
        this.host.postToTransport({ type: 'frame', peerId, data: buffer }, [buffer]);
      },
      exitHandler: (request, responder, signal) => {
        if (!this.sharing) {
          const reason = !this.settings.share ? 'stopped sharing its connection' : this.access.allSites ? 'paused sharing its connection' : 'is not allowed to reach sites (its browser withdrew access)';
          const error = new PeerlaneError('sharing_off', `this peer ${reason}`);
          this.stats.exitRefused(error.category);
          responder.error(error);
          return;
        }
        this.exitStreams += 1;
        this.changed();
        signal.addEventListener('abort', () => {
          this.exitStreams -= 1;
          this.changed();
        });
        exitHandler(request, responder, signal);
      },
      onProtocolError: (error) => console.warn('[peerlane] protocol', shortPeerId(peerId), error.category, error.message),
      onPong: (nonce) => {
        const sentAt = entry?.pingSentAt.get(nonce);
        entry?.pingSentAt.delete(nonce);
        if (entry && sentAt !== undefined) entry.rttMs = performance.now() - sentAt;
      },
      onHello: (hello) => {
        if (remoteRole === 'exit' && hello.exitCapacity > 0) this.queue.addPeer(peerId, hello.exitCapacity);
      },
    });
    entry = { session, remoteRole, inflight: 0, rttMs: null, pingSentAt: new Map(), lastHeardAt: performance.now() };
    this.sessions.set(peerId, entry);
    if (remoteRole === 'exit') this.queue.addPeer(peerId);
    this.pingPeers();
    this.pingTimer ??= setInterval(() => this.pingPeers(), PING_INTERVAL_MS);
    this.changed();
  }

  /**
   * Probes every peer and drops the silent ones. A browser that crashed or lost its network sends
   * no SCTP abort, and ICE consent takes ~30 s to notice; in-flight requests should not wait that long.
   */
  private pingPeers(): void {
    const now = performance.now();
    for (const [peerId, entry] of [...this.sessions]) {
      const oldestProbe = Math.min(...entry.pingSentAt.values());
      if (now - entry.lastHeardAt > PEER_SILENCE_MS && now - oldestProbe > PEER_SILENCE_MS) {
        const reason = `no answer for ${Math.round((now - entry.lastHeardAt) / 1000)} s`;
        this.host.postToTransport({ type: 'close-peer', peerId, reason });
        this.peerDown(peerId, reason);
        continue;
      }
      const nonce = this.pingNonce++;
      // Unanswered probes do not pile up: the oldest is forgotten past eight (16 s, beyond the silence bound).
      if (entry.pingSentAt.size >= 8) entry.pingSentAt.delete(entry.pingSentAt.keys().next().value!);
      entry.pingSentAt.set(nonce, performance.now());
      entry.session.ping(nonce);
    }
  }

  private peerDown(peerId: string, reason: string): void {
    const entry = this.sessions.get(peerId);
    this.sessions.delete(peerId);
    this.queue.removePeer(peerId);
    entry?.session.close(new PeerlaneError('peer_lost', `peer ${shortPeerId(peerId)} lost: ${reason}`));
    if (this.sessions.size === 0 && this.pingTimer) {
      clearInterval(this.pingTimer);
      this.pingTimer = null;
    }
    this.changed();
  }

  // ── ports ──
  private onConnect(port: Runtime.Port): void {
    if (port.name === REQUEST_PORT_NAME) this.serveRequestPort(port, (senderUrl) => this.settings.routedOrigins.includes(new URL(senderUrl).origin));
    // Firefox's peer viewer page (no extension service worker there): only our own viewer page may ask.
    else if (port.name === VIEWER_PORT_NAME) this.serveRequestPort(port, (senderUrl) => senderUrl.startsWith(browser.runtime.getURL(FIREFOX_VIEWER_PAGE)));
    else if (port.name === POPUP_PORT_NAME) this.servePopupPort(port);
  }

  /** One request per Port, from a routed page's bridge or the viewer page; `allowed` judges the sender's URL. */
  private serveRequestPort(port: Runtime.Port, allowed: (senderUrl: string) => boolean): void {
    const controller = new AbortController();
    let consumedWaiter: (() => void) | null = null;
    let unconsumed = 0;
    let started = false;
    const post = (message: BackgroundToBridge): void => {
      try {
        port.postMessage(message);
      } catch {
        controller.abort(new PeerlaneError('cancelled', 'page went away'));
      }
    };
    port.onDisconnect.addListener(() => {
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
    port.onMessage.addListener((raw: unknown) => {
      const parsed = parseMessage(bridgeToBackgroundSchema, raw);
      if (!parsed.ok) {
        post({ type: 'error', error: { category: 'bad_message', message: parsed.error } });
        return;
      }
      const message = parsed.message;
      if (message.type === 'consumed') {
        unconsumed = Math.max(0, unconsumed - message.bytes);
        consumedWaiter?.();
        return;
      }
      if (started) return;
      started = true;
      void this.ready.then(() => {
        // A restarted worker gets the port before its settings are loaded: check only after.
        const senderUrl = port.sender?.url;
        if (!senderUrl || !allowed(senderUrl)) {
          post({ type: 'error', error: { category: 'bad_message', message: `origin ${senderUrl ? new URL(senderUrl).origin : 'unknown'} is not routed` } });
          return;
        }
        const head: RequestHead = { method: message.method, url: message.url, headers: message.headers };
        void this.route(head, message.priority, controller.signal, {
          post,
          sendChunk: async (bytes) => {
            await waitForPage();
            if (controller.signal.aborted) return false;
            unconsumed += bytes.byteLength;
            post({ type: 'chunk', base64: bytesToBase64(bytes) });
            return true;
          },
        });
      });
    });
  }

  /**
   * One request through the queue as a streaming `Response` (the peer viewer's path): the head
   * resolves it, the body streams with the reader's pace as backpressure, an error before the head
   * rejects with the typed error. `signal` (or cancelling the body) cancels it at the exit.
   */
  fetchThroughPeers(head: RequestHead, priority: Priority, signal: AbortSignal): Promise<Response> {
    return new Promise<Response>((resolve, reject) => {
      const controller = new AbortController();
      signal.addEventListener('abort', () => controller.abort(signal.reason), { once: true });
      let body: ReadableStreamDefaultController<Uint8Array> | null = null;
      let pulled: (() => void) | null = null;
      controller.signal.addEventListener('abort', () => pulled?.(), { once: true });
      let headSent = false;
      const stream = new ReadableStream<Uint8Array>(
        {
          start: (streamController) => {
            body = streamController;
          },
          pull: () => {
            pulled?.();
            pulled = null;
          },
          cancel: () => controller.abort(new PeerlaneError('cancelled', 'the viewer stopped reading')),
        },
        { highWaterMark: 4 },
      );
      const enqueue = (bytes: Uint8Array): void => {
        if (!controller.signal.aborted) body?.enqueue(bytes);
      };
      void this.ready.then(() =>
        this.route(head, priority, controller.signal, {
          post: (message) => {
            if (message.type === 'head') {
              headSent = true;
              const empty = message.status === 204 || message.status === 304 || head.method.toUpperCase() === 'HEAD';
              resolve(new Response(empty ? null : stream, { status: message.status < 200 ? 502 : message.status, statusText: message.statusText, headers: message.headers }));
            } else if (message.type === 'chunk') enqueue(base64ToBytes(message.base64));
            else if (message.type === 'end') body?.close();
            else if (!headSent) reject(new PeerlaneError(message.error.category, message.error.message));
            else body?.error(new PeerlaneError(message.error.category, message.error.message));
          },
          sendChunk: async (bytes) => {
            enqueue(bytes);
            if ((body?.desiredSize ?? 1) <= 0 && !controller.signal.aborted) await new Promise<void>((resume) => (pulled = resume));
            return !controller.signal.aborted;
          },
        }),
      );
    });
  }

  /** One page request from submission to its last byte (or error), logged once at the end. */
  private async route(
    head: RequestHead,
    priority: Priority,
    signal: AbortSignal,
    page: { post(message: BackgroundToBridge): void; sendChunk(bytes: Uint8Array): Promise<boolean> },
  ): Promise<void> {
    const correlationId = newCorrelationId();
    const method = head.method.toUpperCase();
    let markRecorded: () => void = () => undefined;
    const recorded = new Promise<void>((resolve) => {
      markRecorded = resolve;
    });
    const pending: PendingLog = { method, url: displayUrl(head.url), priority, startedAt: performance.now(), status: null, bytes: 0, resumes: 0, record: null, recorded, markRecorded };
    this.pendingLogs.set(correlationId, pending);
    let failure: PeerlaneError | null = null;
    let peer: string | null = null;
    try {
      const idempotent = isIdempotentRequest(head);
      const response = await this.queue.submit(
        { head, priority, resumable: idempotent },
        { priority, signal, idempotent, hedgeable: method === 'GET', correlationId },
      );
      peer = response.peerId;
      pending.status = response.head.status;
      page.post({ type: 'head', status: response.head.status, statusText: response.head.statusText, headers: [...response.head.headers, [PEER_HEADER, shortPeerId(response.peerId)]] });
      const parts: Uint8Array[] = [];
      let partBytes = 0;
      const flush = async (): Promise<boolean> => {
        if (partBytes === 0) return true;
        const joined = new Uint8Array(partBytes);
        let offset = 0;
        for (const part of parts.splice(0)) {
          joined.set(part, offset);
          offset += part.byteLength;
        }
        partBytes = 0;
        return page.sendChunk(joined);
      };
      for (;;) {
        const chunk = await response.read();
        if (chunk === null) break;
        this.stats.count('bytesIn', chunk.byteLength);
        pending.bytes += chunk.byteLength;
        parts.push(chunk);
        partBytes += chunk.byteLength;
        // Batch what is already here, but never hold bytes back waiting for more.
        if ((partBytes >= PAGE_CHUNK_BYTES || response.bufferedChunks === 0) && !(await flush())) return;
      }
      if (!(await flush())) return;
      peer = response.peerId;
      page.post({ type: 'end' });
    } catch (error) {
      failure = toPeerlaneError(error, 'internal');
      if (failure.category === 'queue_full') this.answerQueueFull(page, failure);
      else page.post({ type: 'error', error: failure.toJSON() });
    } finally {
      // The queue settles its record a moment after the last byte; a rejected request has none.
      if (failure?.category !== 'queue_full') await Promise.race([pending.recorded, new Promise((resolve) => setTimeout(resolve, RECORD_WAIT_MS))]);
      this.pendingLogs.delete(correlationId);
      this.logRequest(correlationId, pending, failure, peer);
      this.changed();
    }
  }

  /** Backpressure the page can act on: a 503 with Retry-After, like an overloaded server. */
  private answerQueueFull(page: { post(message: BackgroundToBridge): void }, error: PeerlaneError): void {
    const text = new TextEncoder().encode(`Peerlane: ${error.message}. Retry after ${RETRY_AFTER_SECONDS} s.\n`);
    page.post({
      type: 'head',
      status: 503,
      statusText: 'Service Unavailable',
      headers: [
        ['content-type', 'text/plain; charset=utf-8'],
        ['retry-after', String(RETRY_AFTER_SECONDS)],
        [ERROR_HEADER, 'queue_full'],
      ],
    });
    page.post({ type: 'chunk', base64: bytesToBase64(text) });
    page.post({ type: 'end' });
  }

  private logRequest(id: string, pending: PendingLog, failure: PeerlaneError | null, peer: string | null): void {
    const record = pending.record;
    this.addLog({
      id,
      at: Date.now(),
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
      totalMs: performance.now() - pending.startedAt,
      bytes: pending.bytes,
    });
  }

  private addLog(entry: RequestLogEntry): void {
    this.log.add(entry);
    this.changed();
  }

  private servePopupPort(port: Runtime.Port): void {
    this.popups.add(port);
    port.onDisconnect.addListener(() => this.popups.delete(port));
    this.pushState(port);
  }

  private pushState(port: Runtime.Port): void {
    const message: BackgroundToPopup = { type: 'state', state: this.state() };
    try {
      port.postMessage(message);
    } catch {
      this.popups.delete(port);
    }
  }

  state(): BackgroundToPopup['state'] {
    const balance = new Map(this.queue.peers().map((peer) => [peer.peerId, peer]));
    return {
      stats: this.stats.snapshot({
        queued: this.queue.queued,
        queuedByPriority: this.queue.queuedByPriority(),
        inflight: this.queue.inflight,
        peers: this.queue.peerCount,
      }),
      peers: [...this.sessions].map(([peerId, entry]) => {
        const view = balance.get(peerId);
        return {
          peerId: shortPeerId(peerId),
          remoteRole: entry.remoteRole,
          inflight: entry.inflight,
          rttMs: entry.rttMs,
          ttfbMs: view?.ewmaTtfbMs ?? null,
          successRatio: view?.successRatio ?? null,
          health: view?.health ?? null,
        };
      }),
      transport: this.transportStatus,
      settings: this.settings,
      log: this.log.latest(),
      timeline: this.timeline.toJSON(),
      backgroundStartedAt: this.startedAt,
      access: this.access,
    };
  }

  private sampleTimeline(): void {
    this.timeline.record(Date.now(), {
      queued: this.queue.queued,
      inflight: this.queue.inflight,
      bytesIn: this.stats.counter('bytesIn'),
      bytesShared: this.stats.counter('sharedBytes'),
    });
    if (this.popups.size > 0) this.changed();
  }

  /** Something moved: schedule a popup push (at most 4/s) and a throttled save of counters and log. */
  private changed(): void {
    const busy = this.queue.inflight + this.queue.queued + this.exitStreams > 0;
    if (busy !== this.busy) {
      this.busy = busy;
      this.host.onBusyChange?.(busy);
    }
    if (!this.pushTimer && this.popups.size > 0) {
      this.pushTimer = setTimeout(() => {
        this.pushTimer = null;
        for (const port of this.popups) this.pushState(port);
      }, PUSH_INTERVAL_MS);
    }
    if (!this.persistTimer) {
      this.persistTimer = setTimeout(() => {
        this.persistTimer = null;
        void browser.storage.local.set({ [STATS_STORAGE_KEY]: this.stats.toJSON() });
        void browser.storage.session?.set({ [LOG_STORAGE_KEY]: this.log.toJSON() }).catch(() => undefined);
      }, PERSIST_INTERVAL_MS);
    }
  }
}
