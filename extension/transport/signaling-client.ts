import { serverMessageSchema, type ClientMessage, type ServerMessage } from '../../protocol/signaling-messages';
import type { TransportStatus } from '../core/channels/transport-channel';

/**
 * WebSocket client for the signaling server: validates every server message, reconnects with
 * exponential backoff and full jitter, and re-registers after each reconnect. A draining server's
 * `reconnect` notice is honoured with a jittered delay (behind a load balancer, the next connection
 * lands on another node). Data channels do not depend on it once connected. A token, if any, travels
 * as the `token` query parameter (browsers cannot set headers on a WebSocket).
 */
export interface SignalingClientEvents {
  onOpen(): void;
  onMessage(message: ServerMessage): void;
  onStatus(status: TransportStatus['signaling']): void;
  onInvalid(reason: string): void;
}

const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 30_000;

export class SignalingClient {
  private socket: WebSocket | null = null;
  private url: string | null = null;
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly events: SignalingClientEvents) {}

  /** Connects to `url` (with `token` if not empty), or does nothing if already connected there. */
  connect(url: string, token = ''): void {
    const target = token ? withToken(url, token) : url;
    if (this.url === target && (this.socket || this.retryTimer)) return;
    this.disconnect();
    this.url = target;
    this.open();
  }

  /** The server is going away: leave now and come back within `withinMs`, jittered so a node's clients do not stampede. */
  reconnectWithin(withinMs: number): void {
    const socket = this.socket;
    this.socket = null;
    socket?.close(1000, 'server asked to reconnect');
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.attempt = 0;
    this.events.onStatus('connecting');
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.open();
    }, Math.random() * withinMs);
  }

  disconnect(): void {
    this.url = null;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const socket = this.socket;
    this.socket = null;
    socket?.close(1000, 'client stopped');
    this.events.onStatus('offline');
  }

  send(message: ClientMessage): boolean {
    if (this.socket?.readyState !== WebSocket.OPEN) return false;
    this.socket.send(JSON.stringify(message));
    return true;
  }

  get connected(): boolean {
    return this.socket?.readyState === WebSocket.OPEN;
  }

  private open(): void {
    const url = this.url;
    if (!url) return;
    this.events.onStatus('connecting');
    let socket: WebSocket;
    try {
      socket = new WebSocket(url);
    } catch (error) {
      this.events.onInvalid(`cannot open ${url}: ${String(error)}`);
      this.scheduleRetry();
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      this.attempt = 0;
      this.events.onStatus('connected');
      this.events.onOpen();
    };
    socket.onmessage = (event: MessageEvent) => {
      let value: unknown;
      try {
        value = JSON.parse(String(event.data));
      } catch {
        this.events.onInvalid('signaling message is not JSON');
        return;
      }
      const parsed = serverMessageSchema.safeParse(value);
      if (!parsed.success) {
        this.events.onInvalid(`invalid signaling message: ${parsed.error.issues[0]?.message ?? 'schema'}`);
        return;
      }
      this.events.onMessage(parsed.data);
    };
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.events.onStatus('connecting');
      this.scheduleRetry();
    };
  }

  private scheduleRetry(): void {
    if (!this.url) return;
    const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** this.attempt);
    this.attempt += 1;
    const delay = Math.random() * ceiling; // full jitter: a restarted server is not stampeded
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.open();
    }, delay);
  }
}

function withToken(url: string, token: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set('token', token);
  return parsed.href;
}
