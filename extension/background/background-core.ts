import browser, { type Runtime } from 'webextension-polyfill';
import { systemClock } from '../core/clock';
import { PeerlaneError, toPeerlaneError } from '../core/errors';
import { createExitHandler, type ExitFetcher } from '../core/exit/exit-service';
import {
  bridgeToBackgroundSchema,
  fromTransportSchema,
  parseMessage,
  POPUP_PORT_NAME,
  REQUEST_PORT_NAME,
  type BackgroundToBridge,
  type BackgroundToPopup,
  type FromTransport,
  type ToTransport,
  type TransportStatus,
} from '../core/messages';
import { PeerSession, type ResponseStream } from '../core/peers/session';
import { PROTOCOL_VERSION, type RequestHead } from '../core/protocol/frames';
import { RequestQueue } from '../core/queue/request-queue';
import { DEFAULT_SETTINGS, parseSettings, SETTINGS_STORAGE_KEY, type Settings } from '../core/settings';
import { Stats } from '../core/stats/stats';
import { bytesToBase64 } from './base64';
import { syncRoutedScripts } from './routed-scripts';

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
const EXIT_CAPACITY = 6;
/** Bytes the page may have received but not yet consumed; bounds memory per routed request. */
const PAGE_WINDOW_BYTES = 1024 * 1024;
/** Bytes batched per Port message: fewer, larger JSON messages move faster (DESIGN.md §8). */
const PAGE_CHUNK_BYTES = 64 * 1024;
const PUSH_INTERVAL_MS = 250;
export const PEER_HEADER = 'x-peerlane-peer';

interface Routed {
  stream: ResponseStream;
  peerId: string;
}

export function shortPeerId(peerId: string): string {
  return peerId.slice(0, 8);
}

export class Background {
  settings: Settings = DEFAULT_SETTINGS;
  private stats = new Stats();
  private transportStatus: TransportStatus = { signaling: 'offline', selfId: null, availableExits: 0 };
  private readonly sessions = new Map<string, { session: PeerSession; remoteRole: 'requester' | 'exit'; inflight: number }>();
  private readonly queue: RequestQueue<RequestHead, Routed>;
  private readonly popups = new Set<Runtime.Port>();
  private persistTimer: ReturnType<typeof setTimeout> | null = null;
  private exitStreams = 0;
  private busy = false;
  readonly ready: Promise<void>;

  constructor(private readonly host: BackgroundHost) {
    this.queue = new RequestQueue<RequestHead, Routed>(
      async (head, peerId, signal) => {
        const entry = this.sessions.get(peerId);
        if (!entry) throw new PeerlaneError('peer_lost', `peer ${shortPeerId(peerId)} is gone`);
        entry.inflight += 1;
        const stream = await entry.session.open(head, signal).catch((error: unknown) => {
          entry.inflight -= 1;
          throw error;
        });
        const settled = stream.done.finally(() => {
          entry.inflight -= 1;
        });
        return { result: { stream, peerId }, settled };
      },
      systemClock,
    );
    this.queue.subscribe((event) => {
      if (event.type === 'completed') this.stats.requestCompleted(event.totalMs);
      if (event.type === 'failed') this.stats.requestFailed(event.category);
      if (event.type === 'no_peers') this.host.postToTransport({ type: 'need-exits' });
      this.changed();
    });
    browser.runtime.onConnect.addListener((port) => this.onConnect(port));
    browser.storage.onChanged.addListener((changes, area) => {
      if (area === 'local' && changes[SETTINGS_STORAGE_KEY]) void this.applySettings(parseSettings(changes[SETTINGS_STORAGE_KEY].newValue));
    });
    this.ready = this.start();
  }

  private async start(): Promise<void> {
    const stored = await browser.storage.local.get([SETTINGS_STORAGE_KEY, STATS_STORAGE_KEY]);
    this.stats = Stats.restore(stored[STATS_STORAGE_KEY]);
    await this.applySettings(parseSettings(stored[SETTINGS_STORAGE_KEY]));
  }

  private async applySettings(settings: Settings): Promise<void> {
    const routedChanged = settings.routedOrigins.join('\n') !== this.settings.routedOrigins.join('\n');
    const first = this.settings === DEFAULT_SETTINGS;
    this.settings = settings;
    this.configureTransport();
    if (routedChanged || first) await syncRoutedScripts(settings.routedOrigins).catch((error: unknown) => console.error('[peerlane] content scripts', error));
    this.changed();
  }

  configureTransport(): void {
    this.host.postToTransport({
      type: 'configure',
      config: {
        signalingUrl: this.settings.signalingUrl,
        share: this.settings.share,
        exitCapacity: this.settings.share ? EXIT_CAPACITY : 0,
        wantExits: this.settings.routedOrigins.length > 0,
      },
    });
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
      case 'frame':
        this.sessions.get(message.peerId)?.session.receive(new Uint8Array(message.data));
        return;
    }
  }

  private peerUp(peerId: string, remoteRole: 'requester' | 'exit'): void {
    this.sessions.get(peerId)?.session.close(new PeerlaneError('peer_lost', 'peer reconnected'));
    const exitHandler = createExitHandler(
      this.host.exitFetcher,
      () => ({ allowPrivateTargets: this.settings.allowPrivateTargets, allowedMethods: ['GET', 'HEAD'] }),
      {
        served: () => this.stats.exitServed(),
        bytesSent: (bytes) => this.stats.exitBytesSent(bytes),
        refused: (error) => this.stats.exitRefused(error.category),
      },
    );
    const session = new PeerSession({
      hello: { version: PROTOCOL_VERSION, role: this.settings.share ? 'exit' : 'requester', capabilities: ['credit'], exitCapacity: this.settings.share ? EXIT_CAPACITY : 0 },
      send: (frame) => {
        const buffer = frame.buffer.byteLength === frame.byteLength ? (frame.buffer as ArrayBuffer) : (frame.slice().buffer as ArrayBuffer);
        this.host.postToTransport({ type: 'frame', peerId, data: buffer }, [buffer]);
      },
      exitHandler: (request, responder, signal) => {
        if (!this.settings.share) {
          responder.error(new PeerlaneError('sharing_off', 'this peer stopped sharing its connection'));
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
    });
    this.sessions.set(peerId, { session, remoteRole, inflight: 0 });
    if (remoteRole === 'exit') this.queue.addPeer(peerId);
    this.changed();
  }

  private peerDown(peerId: string, reason: string): void {
    const entry = this.sessions.get(peerId);
    this.sessions.delete(peerId);
    this.queue.removePeer(peerId);
    entry?.session.close(new PeerlaneError('peer_lost', `peer ${shortPeerId(peerId)} lost: ${reason}`));
    this.changed();
  }

  // ── ports ──
  private onConnect(port: Runtime.Port): void {
    if (port.name === REQUEST_PORT_NAME) this.serveRequestPort(port);
    else if (port.name === POPUP_PORT_NAME) this.servePopupPort(port);
  }

  private serveRequestPort(port: Runtime.Port): void {
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
      const senderOrigin = port.sender?.url ? new URL(port.sender.url).origin : null;
      if (!senderOrigin || !this.settings.routedOrigins.includes(senderOrigin)) {
        post({ type: 'error', error: { category: 'bad_message', message: `origin ${senderOrigin ?? 'unknown'} is not routed` } });
        return;
      }
      void (async () => {
        try {
          const routed = await this.queue.submit({ method: message.method, url: message.url, headers: message.headers }, controller.signal);
          const { stream, peerId } = routed;
          post({ type: 'head', status: stream.head.status, statusText: stream.head.statusText, headers: [...stream.head.headers, [PEER_HEADER, shortPeerId(peerId)]] });
          const pending: Uint8Array[] = [];
          let pendingBytes = 0;
          const flush = (): void => {
            if (pendingBytes === 0) return;
            const joined = new Uint8Array(pendingBytes);
            let offset = 0;
            for (const part of pending.splice(0)) {
              joined.set(part, offset);
              offset += part.byteLength;
            }
            unconsumed += pendingBytes;
            pendingBytes = 0;
            post({ type: 'chunk', base64: bytesToBase64(joined) });
          };
          for (;;) {
            while (unconsumed >= PAGE_WINDOW_BYTES && !controller.signal.aborted) {
              await new Promise<void>((resolve) => {
                consumedWaiter = resolve;
              });
              consumedWaiter = null;
            }
            if (controller.signal.aborted) return;
            const chunk = await stream.read();
            if (chunk === null) break;
            this.stats.bytesReceived(chunk.byteLength);
            pending.push(chunk);
            pendingBytes += chunk.byteLength;
            // Batch what is already here, but never hold bytes back waiting for more.
            if (pendingBytes >= PAGE_CHUNK_BYTES || stream.bufferedChunks === 0) flush();
          }
          flush();
          post({ type: 'end' });
        } catch (error) {
          const typed = toPeerlaneError(error, 'internal');
          post({ type: 'error', error: typed.toJSON() });
        } finally {
          this.changed();
        }
      })();
    });
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
    return {
      stats: this.stats.snapshot({ queued: this.queue.queued, inflight: this.queue.inflight, peers: this.queue.peerCount }),
      peers: [...this.sessions].map(([peerId, entry]) => ({ peerId: shortPeerId(peerId), remoteRole: entry.remoteRole, inflight: entry.inflight })),
      transport: this.transportStatus,
      settings: this.settings,
    };
  }

  private pushTimer: ReturnType<typeof setTimeout> | null = null;

  /** Something moved: schedule a popup push (at most 4/s) and a debounced save of the counters. */
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
      }, 1000);
    }
  }
}
