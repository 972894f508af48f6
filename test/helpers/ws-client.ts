import { textOf } from '../../signaling-server/peer';
import { WebSocket, type ClientOptions } from 'ws';
import { serverMessageSchema, type ClientMessage, type ServerMessage } from '../../protocol/signaling-messages';
import { startSignalingServer, type SignalingOptions, type SignalingServer } from '../../signaling-server/server';
import { SigningIdentity } from './signing-identity';

/** A real ws client that collects server messages and lets a test await the next one of a type. */
export class TestClient {
  readonly socket: WebSocket;
  private readonly inbox: ServerMessage[] = [];
  private waiters: (() => void)[] = [];
  closed: Promise<{ code: number; reason: string }>;
  readonly host: string;

  /** `identity`: reuse one to reconnect as the same peer; a new one by default. */
  constructor(
    url: string,
    options: ClientOptions = {},
    readonly identity = new SigningIdentity(),
  ) {
    this.host = new URL(url).host;
    this.socket = new WebSocket(url, options);
    this.socket.on('message', (raw) => {
      this.inbox.push(serverMessageSchema.parse(JSON.parse(textOf(raw))));
      for (const waiter of this.waiters.splice(0)) waiter();
    });
    this.closed = new Promise((resolve) =>
      this.socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
  }

  opened(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.socket.readyState === WebSocket.OPEN) return resolve();
      this.socket.once('open', () => resolve());
      this.socket.once('error', reject);
    });
  }

  send(message: ClientMessage | Record<string, unknown>): void {
    this.socket.send(JSON.stringify(message));
  }

  /** Resolves with the first (oldest) unread message of `type`, waiting up to `timeoutMs`. */
  async next<T extends ServerMessage['type']>(type: T, timeoutMs = 5000): Promise<Extract<ServerMessage, { type: T }>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.inbox.findIndex((message) => message.type === type);
      if (index >= 0) return this.inbox.splice(index, 1)[0] as Extract<ServerMessage, { type: T }>;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${type} message within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async register(exit: boolean, capacity = 6, load = 0, nat = 'unknown'): Promise<string> {
    return (await this.registration(exit, capacity, load, nat)).peerId;
  }

  /** Answers the server's challenge with a signed `register`; resolves with `registered`. */
  async registration(
    exit: boolean,
    capacity = 6,
    load = 0,
    nat = 'unknown',
  ): Promise<Extract<ServerMessage, { type: 'registered' }>> {
    const { nonce } = await this.next('challenge');
    this.socket.send(this.identity.register(this.host, nonce, { exit, capacity, load, nat }));
    return this.next('registered');
  }

  close(): void {
    this.socket.close();
  }
}

/** Opens a connection and reports `open`, or the HTTP status and reason the server refused it with. */
export function connectOutcome(url: string, options: ClientOptions = {}): Promise<string> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url, options);
    socket.once('open', () => {
      resolve('open');
      socket.terminate();
    });
    socket.once('unexpected-response', (_request, response) => {
      resolve(`${response.statusCode} ${String(response.headers['x-peerlane-reason'])}`);
      socket.terminate();
    });
    socket.once('error', (error) => resolve(`error ${error.message}`));
  });
}

/**
 * Servers and clients a test file makes, closed after each test: `server()` starts a real signaling
 * server on a loopback port with the file's defaults, `client()` connects a TestClient to it.
 */
export function signalingFixture(defaults: Partial<SignalingOptions>): {
  server: (options?: Partial<SignalingOptions>) => Promise<SignalingServer>;
  client: (url: string, options?: ClientOptions, identity?: SigningIdentity) => TestClient;
  cleanup: () => Promise<void>;
} {
  const servers: SignalingServer[] = [];
  const clients: TestClient[] = [];
  return {
    async server(options = {}) {
      const started = await startSignalingServer({ port: 0, ...defaults, ...options });
      servers.push(started);
      return started;
    },
    client(url, options = {}, identity) {
      const created = new TestClient(url, options, identity);
      clients.push(created);
      return created;
    },
    async cleanup() {
      for (const created of clients.splice(0)) created.socket.terminate();
      for (const started of servers.splice(0)) await started.close();
    },
  };
}
