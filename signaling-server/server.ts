import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { pino, type Logger } from 'pino';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { originAllowed, verifyToken } from './auth';
import { MemoryBus, NODE_ID_LENGTH, nodeOf, type ExitRecord, type NodeEnvelope, type SignalingBus } from './bus';
import { IpLimits, TokenBucket } from './limits';
import { SignalingMetrics } from './metrics';
import { clientMessageSchema, MAX_SIGNALING_MESSAGE_BYTES, type ClientMessage, type ExitSummary, type ServerMessage } from './protocol';
import { RedisBus } from './redis-bus';
import { turnCredentials, type TurnConfig } from './turn';

/**
 * The signaling server: admits connections (caps, rate limits, optional token and Origin checks),
 * registers peers, introduces requesters to the least-loaded, recently refreshed exits, relays
 * SDP/ICE only between introduced pairs, reaps dead connections and drains gracefully. Alone it keeps
 * state in memory; with `redisUrl` several nodes share the exit directory and relay over Redis.
 */
export interface SignalingOptions {
  host: string;
  port: number;
  heartbeatMs: number;
  /** Messages a connection may send per second (token bucket, burst of twice this). */
  messagesPerSecond: number;
  /** Invalid or over-limit messages tolerated before the connection is closed. */
  maxInvalidMessages: number;
  maxConnections: number;
  maxConnectionsPerIp: number;
  connectsPerIpPerSecond: number;
  messagesPerIpPerSecond: number;
  /** HMAC secret for connection tokens (`?token=`); null: no token needed. */
  tokenSecret: string | null;
  /** Allowed `Origin` values (`moz-extension://*` style wildcards); empty: any. */
  allowedOrigins: string[];
  turn: TurnConfig | null;
  /** An exit not refreshed for 2.5× this is no longer introduced. */
  exitRefreshMs: number;
  redisUrl: string | null;
  /** Graceful shutdown: clients are asked to reconnect within this, then the rest are cut after `drainMs`. */
  reconnectWithinMs: number;
  drainMs: number;
  logger: Logger;
}

export const DEFAULT_SIGNALING_OPTIONS: SignalingOptions = {
  host: '127.0.0.1',
  port: 8787,
  heartbeatMs: 15_000,
  messagesPerSecond: 50,
  maxInvalidMessages: 10,
  maxConnections: 50_000,
  maxConnectionsPerIp: 64,
  connectsPerIpPerSecond: 20,
  messagesPerIpPerSecond: 1_000,
  tokenSecret: null,
  allowedOrigins: [],
  turn: null,
  exitRefreshMs: 10_000,
  redisUrl: null,
  reconnectWithinMs: 5_000,
  drainMs: 10_000,
  logger: pino({ level: 'silent' }),
};

interface Peer {
  id: string;
  socket: WebSocket;
  ip: string;
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
  bucket: TokenBucket;
}

export interface SignalingServer {
  url: string;
  port: number;
  nodeId: string;
  metrics: SignalingMetrics;
  peerCount(): number;
  /** Graceful: stop accepting, ask clients to reconnect (elsewhere), wait for them, then stop. */
  close(): Promise<void>;
}

/** Close codes a client can act on. */
export const CloseCode = { TOO_BIG: 1009, POLICY: 1008, GOING_AWAY: 1001 } as const;

/** How often, at most, an exit's load is re-published after introductions change it. */
const LOAD_PUBLISH_MS = 200;

/** After cutting a client off, how long its close handshake may take before the socket is destroyed. */
const CUT_OFF_GRACE_MS = 1000;

const HTTP_REASONS: Record<number, string> = { 401: 'Unauthorized', 403: 'Forbidden', 429: 'Too Many Requests', 503: 'Service Unavailable' };

export async function startSignalingServer(overrides: Partial<SignalingOptions> = {}): Promise<SignalingServer> {
  const options = { ...DEFAULT_SIGNALING_OPTIONS, ...overrides };
  const log = options.logger;
  const nodeId = randomBytes(NODE_ID_LENGTH).toString('base64url').slice(0, NODE_ID_LENGTH);
  const peers = new Map<string, Peer>();
  /** Every exit any node offers, as last published (this node's own included). */
  const directory = new Map<string, ExitRecord>();
  const exitTtlMs = options.exitRefreshMs * 2.5;
  const ipLimits = new IpLimits(options);
  let draining = false;

  const metrics = new SignalingMetrics(() => {
    const counts = { exit: 0, requester: 0, unregistered: 0 };
    for (const peer of peers.values()) counts[!peer.registered ? 'unregistered' : peer.exit ? 'exit' : 'requester'] += 1;
    return counts;
  });
  const bus: SignalingBus = options.redisUrl
    ? new RedisBus(nodeId, options.redisUrl, log, (op, seconds) => metrics.redisSeconds.observe({ op }, seconds))
    : new MemoryBus(nodeId);

  const send = (peer: Peer, message: ServerMessage): void => {
    if (peer.socket.readyState === WebSocket.OPEN) peer.socket.send(JSON.stringify(message));
  };

  // ── the exit directory ──
  const publish = (exit: Peer): void => {
    bus.publishExit({ peerId: exit.id, capacity: exit.capacity, load: exit.load + exit.introducedTo.size, seenAt: Date.now() });
  };
  // Load changes from introductions are published at most every LOAD_PUBLISH_MS per exit: under a
  // burst of introductions, one Redis write instead of one per introduction. Nodes bump their own
  // copy at once, so spreading does not wait for it.
  const loadChanged = new Set<string>();
  let loadTimer: ReturnType<typeof setTimeout> | null = null;
  const publishLoadSoon = (exit: Peer): void => {
    loadChanged.add(exit.id);
    loadTimer ??= setTimeout(() => {
      loadTimer = null;
      for (const peerId of loadChanged) {
        const peer = peers.get(peerId);
        if (peer?.exit) publish(peer);
      }
      loadChanged.clear();
    }, LOAD_PUBLISH_MS);
  };

  /** Least loaded first; among equals, the most recently refreshed; ties shuffled so requesters spread. */
  const chooseExits = (requester: Peer, count: number, exclude: Set<string>): ExitRecord[] => {
    const now = Date.now();
    const fresh = [...directory.values()].filter((record) => record.capacity > 0 && now - record.seenAt <= exitTtlMs && record.peerId !== requester.id && !exclude.has(record.peerId));
    const ranked = fresh.map((record) => ({ record, load: Math.round((record.load / record.capacity) * 100), age: Math.floor((now - record.seenAt) / options.exitRefreshMs), tie: Math.random() }));
    ranked.sort((a, b) => a.load - b.load || a.age - b.age || a.tie - b.tie);
    return ranked.slice(0, count).map((entry) => entry.record);
  };

  const introduce = (requester: Peer, count: number, exclude: Set<string>): ExitSummary[] => {
    const chosen = chooseExits(requester, count, exclude);
    for (const record of chosen) {
      requester.partners.add(record.peerId);
      // Counted at once here, so the next requester spreads, until the exit's node publishes again.
      record.load += 1;
      const local = peers.get(record.peerId);
      if (local) {
        local.partners.add(requester.id);
        local.introducedTo.add(requester.id);
        publishLoadSoon(local);
      }
      // An exit on another node learns of the requester from its first relayed signal (below).
    }
    return chosen.map((record) => ({ peerId: record.peerId, capacity: record.capacity, load: record.load }));
  };

  /** `peerId` left: `partner` (on this node) forgets it and hears so. */
  const forgetPartner = (partner: Peer, peerId: string): void => {
    partner.partners.delete(peerId);
    if (partner.introducedTo.delete(peerId) && partner.exit) publishLoadSoon(partner);
    send(partner, { type: 'peer-gone', peerId });
  };

  const onEnvelope = (envelope: NodeEnvelope): void => {
    switch (envelope.type) {
      case 'signal': {
        // The sender's node checked that its client was introduced to this peer: nodes trust each
        // other. A requester's first signal is how an exit on this node learns of it.
        const target = peers.get(envelope.to);
        if (!target) {
          metrics.rejects.inc({ reason: 'unknown_peer' });
          return;
        }
        if (!target.partners.has(envelope.from)) {
          target.partners.add(envelope.from);
          if (target.exit) {
            target.introducedTo.add(envelope.from);
            publishLoadSoon(target);
          }
        }
        send(target, { type: 'signal', from: envelope.from, data: envelope.data });
        return;
      }
      case 'peer-gone': {
        const partner = peers.get(envelope.to);
        if (partner) forgetPartner(partner, envelope.peerId);
        return;
      }
    }
  };

  // ── messages from clients ──
  const handle = (peer: Peer, message: ClientMessage): void => {
    metrics.messages.inc({ type: message.type });
    switch (message.type) {
      case 'register':
      case 'update': {
        const wasExit = peer.registered && peer.exit;
        peer.registered = true;
        peer.exit = message.exit;
        peer.capacity = message.capacity;
        peer.load = message.load;
        if (peer.exit) publish(peer);
        else if (wasExit) bus.removeExit(peer.id);
        if (message.type === 'register') {
          const iceServers = options.turn ? [turnCredentials(options.turn, peer.id, Date.now() / 1000)] : [];
          send(peer, { type: 'registered', peerId: peer.id, heartbeatMs: options.heartbeatMs, refreshMs: options.exitRefreshMs, iceServers });
        }
        return;
      }
      case 'find-exits': {
        if (!peer.registered) return send(peer, { type: 'error', code: 'not_registered', message: 'register first' });
        const started = performance.now();
        const exits = introduce(peer, message.count, new Set(message.exclude));
        send(peer, { type: 'exits', exits });
        metrics.introductionSeconds.observe((performance.now() - started) / 1000);
        log.info({ peer: peer.id, exits: exits.map((exit) => exit.peerId) }, 'introduced');
        return;
      }
      case 'signal': {
        if (!peer.partners.has(message.to)) return send(peer, { type: 'error', code: 'unknown_peer', message: `no introduced peer ${message.to}` });
        const local = peers.get(message.to);
        if (local) {
          if (local.partners.has(peer.id)) send(local, { type: 'signal', from: peer.id, data: message.data });
          return;
        }
        if (nodeOf(message.to) === nodeId) return send(peer, { type: 'error', code: 'unknown_peer', message: `peer ${message.to} is gone` });
        bus.sendToNode(nodeOf(message.to), { type: 'signal', to: message.to, from: peer.id, data: message.data });
        return;
      }
    }
  };

  /** A bad or over-limit message: named back to the client; enough of them and the client is cut off with the reason. */
  const reject = (peer: Peer, code: string, message: string): void => {
    peer.invalid += 1;
    metrics.rejects.inc({ reason: code });
    log.warn({ peer: peer.id, ip: peer.ip, code, invalid: peer.invalid }, message);
    if (peer.invalid >= options.maxInvalidMessages) {
      // Say why, then stop reading: a flooder's queued megabytes must not cost another parse.
      peer.socket.close(CloseCode.POLICY, code);
      peer.socket.pause();
      setTimeout(() => peer.socket.terminate(), CUT_OFF_GRACE_MS).unref();
      return;
    }
    send(peer, { type: 'error', code, message });
  };

  const onConnection = (socket: WebSocket, ip: string): void => {
    const peer: Peer = {
      id: nodeId + randomBytes(12).toString('base64url'),
      socket,
      ip,
      registered: false,
      exit: false,
      capacity: 0,
      load: 0,
      introducedTo: new Set(),
      partners: new Set(),
      alive: true,
      invalid: 0,
      bucket: new TokenBucket(options.messagesPerSecond, options.messagesPerSecond * 2, Date.now()),
    };
    peers.set(peer.id, peer);
    log.info({ peer: peer.id, ip }, 'connected');
    socket.on('pong', () => {
      peer.alive = true;
    });
    socket.on('message', (raw: RawData, isBinary: boolean) => {
      if (peer.invalid >= options.maxInvalidMessages) return; // closing: spend nothing more on it
      const now = Date.now();
      // Limits first, before any parsing: a flood costs a counter, not a JSON parse.
      if (!peer.bucket.take(now)) return reject(peer, 'rate_limited', `more than ${options.messagesPerSecond} messages per second`);
      if (!ipLimits.message(ip, now)) return reject(peer, 'ip_rate_limited', `more than ${options.messagesPerIpPerSecond} messages per second from this address`);
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
    socket.on('close', (code: number, reason: Buffer) => {
      peers.delete(peer.id);
      ipLimits.release(ip, Date.now());
      if (peer.exit) bus.removeExit(peer.id);
      for (const partnerId of peer.partners) {
        const partner = peers.get(partnerId);
        if (partner) forgetPartner(partner, peer.id);
        else if (nodeOf(partnerId) !== nodeId) bus.sendToNode(nodeOf(partnerId), { type: 'peer-gone', to: partnerId, peerId: peer.id });
      }
      log.info({ peer: peer.id, code, reason: reason.toString() }, 'disconnected');
      if (draining && peers.size === 0) drained?.();
    });
  };

  // ── HTTP: health, readiness, metrics; WebSocket upgrades pass the admission checks first ──
  const http = createServer((request: IncomingMessage, response: ServerResponse) => {
    const path = (request.url ?? '/').split('?')[0];
    if (path === '/healthz') {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ status: 'ok', node: nodeId, peers: peers.size, exits: [...peers.values()].filter((peer) => peer.exit).length }));
      return;
    }
    if (path === '/readyz') {
      void bus.healthy().then((healthy) => {
        const ready = healthy && !draining;
        response.writeHead(ready ? 200 : 503, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ ready, draining, redis: options.redisUrl ? healthy : 'not configured' }));
      });
      return;
    }
    if (path === '/metrics') {
      void metrics.registry.metrics().then((text) => {
        response.writeHead(200, { 'content-type': metrics.registry.contentType });
        response.end(text);
      });
      return;
    }
    response.writeHead(404, { 'content-type': 'text/plain' });
    response.end('not found\n');
  });
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_SIGNALING_MESSAGE_BYTES });

  const refuse = (socket: Duplex, status: number, reason: string): void => {
    metrics.rejects.inc({ reason });
    log.info({ status, reason }, 'connection refused');
    socket.end(`HTTP/1.1 ${status} ${HTTP_REASONS[status] ?? 'Refused'}\r\nconnection: close\r\ncontent-type: text/plain\r\nx-peerlane-reason: ${reason}\r\n\r\n${reason}\n`);
    socket.destroy();
  };

  http.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const ip = request.socket.remoteAddress ?? 'unknown';
    if (draining) return refuse(socket, 503, 'draining');
    if (peers.size >= options.maxConnections) return refuse(socket, 503, 'server_full');
    if (!originAllowed(options.allowedOrigins, request.headers.origin)) return refuse(socket, 403, 'origin_refused');
    if (options.tokenSecret) {
      const token = new URL(request.url ?? '/', 'http://signaling').searchParams.get('token');
      const verdict = verifyToken(options.tokenSecret, token, Date.now() / 1000);
      if (!verdict.ok) return refuse(socket, 401, verdict.reason);
    }
    const admitted = ipLimits.admit(ip, Date.now());
    if (!admitted.ok) return refuse(socket, 429, admitted.reason);
    wss.handleUpgrade(request, socket, head, (ws) => onConnection(ws, ip));
  });

  // Heartbeat: a peer that did not answer the previous ping is gone (laptop lid closed, network lost).
  // The same beat ages out exits whose node stopped refreshing them.
  const heartbeat = setInterval(() => {
    const now = Date.now();
    for (const peer of peers.values()) {
      if (!peer.alive) {
        log.info({ peer: peer.id }, 'reaped');
        peer.socket.terminate();
        continue;
      }
      peer.alive = false;
      peer.socket.ping();
    }
    for (const [peerId, record] of directory) if (now - record.seenAt > exitTtlMs) directory.delete(peerId);
    ipLimits.sweepAll(now);
  }, Math.min(options.heartbeatMs, options.exitRefreshMs));
  heartbeat.unref();

  await bus.start({
    onExit: (peerId, record) => {
      if (record) directory.set(peerId, record);
      else directory.delete(peerId);
    },
    onEnvelope,
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(options.port, options.host, () => resolve());
  });
  const address = http.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  log.info({ host, port: address.port, node: nodeId, redis: Boolean(options.redisUrl) }, 'signaling server listening');

  let drained: (() => void) | null = null;
  return {
    url: `ws://${host}:${address.port}`,
    port: address.port,
    nodeId,
    metrics,
    peerCount: () => peers.size,
    close: async () => {
      if (draining) return;
      draining = true;
      clearInterval(heartbeat);
      if (loadTimer) clearTimeout(loadTimer);
      log.info({ peers: peers.size }, 'draining');
      const allGone = new Promise<void>((resolve) => {
        drained = resolve;
        if (peers.size === 0) resolve();
      });
      for (const peer of peers.values()) send(peer, { type: 'reconnect', reason: 'server shutting down', withinMs: options.reconnectWithinMs });
      const timer = setTimeout(() => drained?.(), options.drainMs);
      await allGone;
      clearTimeout(timer);
      for (const peer of peers.values()) {
        if (peer.exit) bus.removeExit(peer.id);
        peer.socket.terminate();
      }
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      await bus.close();
    },
  };
}
