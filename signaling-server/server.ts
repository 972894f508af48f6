import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import {
  clientMessageSchema,
  MAX_SIGNALING_MESSAGE_BYTES,
  type ClientMessage,
  type ExitSummary,
  type ServerMessage,
} from './protocol';

/**
 * The signaling server: registers peers, introduces requesters to the least-loaded exits, relays
 * SDP/ICE only between introduced pairs, reaps dead connections. In-memory state (one process).
 */
export interface SignalingOptions {
  host: string;
  port: number;
  heartbeatMs: number;
  /** Messages a connection may send per second (token bucket, burst of twice this). */
  messagesPerSecond: number;
  /** Invalid messages tolerated before the connection is closed. */
  maxInvalidMessages: number;
  logger: Logger;
}

export const DEFAULT_SIGNALING_OPTIONS: SignalingOptions = {
  host: '127.0.0.1',
  port: 8787,
  heartbeatMs: 15_000,
  messagesPerSecond: 50,
  maxInvalidMessages: 10,
  logger: pino({ level: 'silent' }),
};

interface Peer {
  id: string;
  socket: WebSocket;
  registered: boolean;
  exit: boolean;
  capacity: number;
  load: number;
  /** Requesters introduced to this exit and still connected: a load estimate the exit has not reported yet. */
  introducedTo: Set<string>;
  /** Peers this one may exchange signals with. */
  partners: Set<string>;
  alive: boolean;
  invalid: number;
  tokens: number;
  tokensAt: number;
}

export interface SignalingServer {
  url: string;
  port: number;
  peerCount(): number;
  close(): Promise<void>;
}

/** Close codes a client can act on. */
export const CloseCode = { TOO_BIG: 1009, POLICY: 1008, GOING_AWAY: 1001 } as const;

export async function startSignalingServer(overrides: Partial<SignalingOptions> = {}): Promise<SignalingServer> {
  const options = { ...DEFAULT_SIGNALING_OPTIONS, ...overrides };
  const log = options.logger;
  const peers = new Map<string, Peer>();

  const http = createServer((request: IncomingMessage, response: ServerResponse) => {
    if (request.url === '/healthz') {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ status: 'ok', peers: peers.size, exits: [...peers.values()].filter((peer) => peer.exit).length }));
      return;
    }
    response.writeHead(404, { 'content-type': 'text/plain' });
    response.end('not found\n');
  });
  const wss = new WebSocketServer({ server: http, maxPayload: MAX_SIGNALING_MESSAGE_BYTES });

  const send = (peer: Peer, message: ServerMessage): void => {
    if (peer.socket.readyState === WebSocket.OPEN) peer.socket.send(JSON.stringify(message));
  };

  const takeToken = (peer: Peer): boolean => {
    const now = Date.now();
    peer.tokens = Math.min(options.messagesPerSecond * 2, peer.tokens + ((now - peer.tokensAt) / 1000) * options.messagesPerSecond);
    peer.tokensAt = now;
    if (peer.tokens < 1) return false;
    peer.tokens -= 1;
    return true;
  };

  const score = (exit: Peer): number => (exit.load + exit.introducedTo.size) / Math.max(1, exit.capacity);

  const introduce = (requester: Peer, count: number, exclude: Set<string>): ExitSummary[] => {
    const candidates = [...peers.values()]
      .filter((peer) => peer.registered && peer.exit && peer.id !== requester.id && !exclude.has(peer.id) && peer.capacity > 0)
      .sort((a, b) => score(a) - score(b))
      .slice(0, count);
    for (const exit of candidates) {
      exit.introducedTo.add(requester.id);
      exit.partners.add(requester.id);
      requester.partners.add(exit.id);
    }
    return candidates.map((exit) => ({ peerId: exit.id, capacity: exit.capacity, load: exit.load + exit.introducedTo.size }));
  };

  const handle = (peer: Peer, message: ClientMessage): void => {
    switch (message.type) {
      case 'register':
      case 'update':
        peer.registered = true;
        peer.exit = message.exit;
        peer.capacity = message.capacity;
        peer.load = message.load;
        if (message.type === 'register') send(peer, { type: 'registered', peerId: peer.id, heartbeatMs: options.heartbeatMs });
        return;
      case 'find-exits': {
        if (!peer.registered) return send(peer, { type: 'error', code: 'not_registered', message: 'register first' });
        const exits = introduce(peer, message.count, new Set(message.exclude));
        log.info({ peer: peer.id, exits: exits.map((exit) => exit.peerId) }, 'introduced');
        return send(peer, { type: 'exits', exits });
      }
      case 'signal': {
        const target = peers.get(message.to);
        if (!target || !peer.partners.has(message.to)) {
          return send(peer, { type: 'error', code: 'unknown_peer', message: `no introduced peer ${message.to}` });
        }
        return send(target, { type: 'signal', from: peer.id, data: message.data });
      }
    }
  };

  const reject = (peer: Peer, code: string, message: string): void => {
    peer.invalid += 1;
    log.warn({ peer: peer.id, code, invalid: peer.invalid }, message);
    send(peer, { type: 'error', code, message });
    if (peer.invalid >= options.maxInvalidMessages) peer.socket.close(CloseCode.POLICY, 'too many invalid messages');
  };

  wss.on('connection', (socket) => {
    const peer: Peer = {
      id: randomBytes(12).toString('base64url'),
      socket,
      registered: false,
      exit: false,
      capacity: 0,
      load: 0,
      introducedTo: new Set(),
      partners: new Set(),
      alive: true,
      invalid: 0,
      tokens: options.messagesPerSecond * 2,
      tokensAt: Date.now(),
    };
    peers.set(peer.id, peer);
    log.info({ peer: peer.id }, 'connected');
    socket.on('pong', () => {
      peer.alive = true;
    });
    socket.on('message', (raw: RawData, isBinary: boolean) => {
      if (!takeToken(peer)) return reject(peer, 'rate_limited', `more than ${options.messagesPerSecond} messages per second`);
      if (isBinary) return reject(peer, 'bad_message', 'binary messages are not part of the protocol');
      let value: unknown;
      try {
        value = JSON.parse(raw.toString());
      } catch {
        return reject(peer, 'bad_message', 'message is not JSON');
      }
      const parsed = clientMessageSchema.safeParse(value);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        return reject(peer, 'bad_message', `invalid message: ${issue ? `${issue.path.join('.')} ${issue.message}` : 'schema'}`);
      }
      handle(peer, parsed.data);
    });
    socket.on('error', (error) => log.warn({ peer: peer.id, err: error.message }, 'socket error'));
    socket.on('close', () => {
      peers.delete(peer.id);
      for (const partnerId of peer.partners) {
        const partner = peers.get(partnerId);
        if (!partner) continue;
        partner.partners.delete(peer.id);
        partner.introducedTo.delete(peer.id);
        send(partner, { type: 'peer-gone', peerId: peer.id });
      }
      log.info({ peer: peer.id }, 'disconnected');
    });
  });

  // Heartbeat: a peer that did not answer the previous ping is gone (laptop lid closed, network lost).
  const heartbeat = setInterval(() => {
    for (const peer of peers.values()) {
      if (!peer.alive) {
        log.info({ peer: peer.id }, 'reaped');
        peer.socket.terminate();
        continue;
      }
      peer.alive = false;
      peer.socket.ping();
    }
  }, options.heartbeatMs);
  heartbeat.unref();

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(options.port, options.host, () => resolve());
  });
  const address = http.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  log.info({ host, port: address.port }, 'signaling server listening');

  return {
    url: `ws://${host}:${address.port}`,
    port: address.port,
    peerCount: () => peers.size,
    close: async () => {
      clearInterval(heartbeat);
      for (const peer of peers.values()) peer.socket.close(CloseCode.GOING_AWAY, 'server shutting down');
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve) => http.close(() => resolve()));
      for (const peer of peers.values()) peer.socket.terminate();
    },
  };
}
