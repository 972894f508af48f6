import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { clientMessageSchema, MAX_SIGNALING_MESSAGE_BYTES } from '../protocol/signaling-messages';
import { AdmissionControl } from './admission';
import { MemoryBus, NODE_ID_LENGTH, type SignalingBus } from './bus';
import { CircleBook } from './circles';
import { ExitDirectory } from './directory';
import { IpLimits, TokenBucket } from './limits';
import { createMessageHandlers } from './message-handlers';
import { ReturningPeers } from './returning-peers';
import { SignalingMetrics } from './metrics';
import { CloseCode, DEFAULT_SIGNALING_OPTIONS, type SignalingOptions } from './options';
import { Pairings } from './pairings';
import { sendTo as send, textOf, type Peer } from './peer';
import { Relay } from './relay';

export { CloseCode, DEFAULT_SIGNALING_OPTIONS, type SignalingOptions } from './options';

/**
 * The signaling server: admits connections (`admission.ts`), registers peers under their stable ids
 * (a signed nonce proves the key the id derives from, `identity.ts`), introduces requesters
 * to exits (`directory.ts`), relays SDP/ICE only between introduced pairs (`relay.ts`), reaps dead
 * connections and drains gracefully. Alone it keeps state in memory; with `redis` several nodes
 * share the exit directory and relay over Redis (`bus.ts`, `redis-bus.ts`). Each client message has
 * one handler (`message-handlers.ts`); circles decide which pairings may stay (`pairings.ts`); what an
 * operator sets is `options.ts`. This file composes them and owns the sockets: per-client limits,
 * parsing, heartbeats, HTTP endpoints, shutdown.
 */
export interface SignalingServer {
  url: string;
  port: number;
  nodeId: string;
  metrics: SignalingMetrics;
  peerCount(): number;
  /** Graceful: stop accepting, ask clients to reconnect (elsewhere), wait for them, then stop. */
  close(): Promise<void>;
}

/** After cutting a client off, how long its close handshake may take before the socket is destroyed. */
const CUT_OFF_GRACE_MS = 1000;

export async function startSignalingServer(overrides: Partial<SignalingOptions> = {}): Promise<SignalingServer> {
  const options = { ...DEFAULT_SIGNALING_OPTIONS, ...overrides };
  const log = options.logger;
  const nodeId = randomBytes(NODE_ID_LENGTH).toString('base64url').slice(0, NODE_ID_LENGTH);
  /** Every open connection, registered or not, by its socket (the shared socket handlers look peers up here). */
  const connections = new Map<WebSocket, Peer>();
  let connectionsOpened = 0;
  /** Registered peers by their stable id: at most one connection each (a newer one replaces the older). */
  const peers = new Map<string, Peer>();
  const ipLimits = new IpLimits(options);
  let draining = false;

  const metrics = new SignalingMetrics(() => {
    const counts = { exit: 0, requester: 0, unregistered: 0 };
    for (const peer of connections.values())
      counts[!peer.registered ? 'unregistered' : peer.exit ? 'exit' : 'requester'] += 1;
    return counts;
  });
  // Loaded only when used: a node in memory never pays for the Redis client (baseline RSS).
  const bus: SignalingBus = options.redis
    ? new (await import('./redis-bus')).RedisBus(nodeId, options.redis, log, (op, seconds) =>
        metrics.redisSeconds.observe({ op }, seconds),
      )
    : new MemoryBus(nodeId);

  const directory = new ExitDirectory(
    bus,
    peers,
    options.exitRefreshMs,
    options.ice.turn !== null,
    options.reportThreshold,
    options.reportMinAgeMs,
  );
  const circleBook = new CircleBook();
  const relay = new Relay(nodeId, peers, directory, bus, metrics, circleBook, log);
  const returning = new ReturningPeers((peer) => relay.departed(peer), options.returnGraceMs);
  const pairings = new Pairings(peers, directory, circleBook, bus, log);
  const admission = new AdmissionControl(options, ipLimits, metrics, log, {
    draining: () => draining,
    connections: () => connections.size,
  });

  /** A bad or over-limit message: named back to the client; enough of them and the client is cut off with the reason. */
  const reject = (peer: Peer, code: string, message: string): void => {
    peer.invalid += 1;
    metrics.rejects.inc({ reason: code });
    log.warn({ peer: peer.id || peer.connectionId, ip: peer.ip, code, invalid: peer.invalid }, message);
    if (peer.invalid >= options.maxInvalidMessages) {
      // Say why, then stop reading: a flooder's queued megabytes must not cost another parse.
      peer.socket.close(CloseCode.POLICY, code);
      peer.socket.pause();
      setTimeout(() => peer.socket.terminate(), CUT_OFF_GRACE_MS).unref();
      return;
    }
    send(peer, { type: 'error', code, message });
  };

  const handle = createMessageHandlers({
    options,
    log,
    metrics,
    peers,
    directory,
    relay,
    pairings,
    returning,
    bus,
    reject: (peer, code, message) => reject(peer, code, message),
  });

  // One set of socket handlers shared by every connection (`this` is the socket): closures per event
  // per connection would be memory that an idle connection does not need.
  function onPong(this: WebSocket): void {
    const peer = connections.get(this);
    if (peer) peer.alive = true;
  }
  function onMessage(this: WebSocket, raw: RawData, isBinary: boolean): void {
    const peer = connections.get(this);
    if (!peer || peer.invalid >= options.maxInvalidMessages) return; // closing: spend nothing more on it
    const now = Date.now();
    // Limits first, before any parsing: a flood costs a counter, not a JSON parse.
    if (!peer.bucket.take(now))
      return reject(peer, 'rate_limited', `more than ${options.messagesPerSecond} messages per second`);
    if (!ipLimits.message(peer.ip, now))
      return reject(
        peer,
        'ip_rate_limited',
        `more than ${options.messagesPerIpPerSecond} messages per second from this address`,
      );
    if (isBinary) return reject(peer, 'bad_message', 'binary messages are not part of the protocol');
    let value: unknown;
    try {
      value = JSON.parse(textOf(raw));
    } catch {
      return reject(peer, 'bad_message', 'message is not JSON');
    }
    const parsed = clientMessageSchema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return reject(
        peer,
        'bad_message',
        `invalid message: ${issue ? `${issue.path.join('.')} ${issue.message}` : 'schema'}`,
      );
    }
    handle(peer, parsed.data);
  }
  function onSocketError(this: WebSocket, error: Error): void {
    const peer = connections.get(this);
    log.warn({ peer: peer?.id || peer?.connectionId, err: error.message }, 'socket error');
  }
  function onClose(this: WebSocket, code: number, reason: Buffer): void {
    const peer = connections.get(this);
    if (!peer) return;
    connections.delete(this);
    ipLimits.release(peer.ip, Date.now());
    // A replaced connection leaves its identity, its directory entry and its partners to its successor.
    if (peer.registered && peers.get(peer.id) === peer) {
      peers.delete(peer.id);
      if (peer.exit) directory.remove(peer.id);
      if (peer.reaped) returning.keep(peer);
      else relay.departed(peer);
    }
    log.info({ peer: peer.id || peer.connectionId, code, reason: reason.toString() }, 'disconnected');
    if (draining && connections.size === 0) drained?.();
  }

  const onConnection = (socket: WebSocket, ip: string, host: string): void => {
    const peer: Peer = {
      id: '',
      connectionId: (connectionsOpened += 1),
      nonce: randomBytes(24).toString('base64url'),
      host,
      socket,
      ip,
      registered: false,
      exit: false,
      capacity: 0,
      load: 0,
      nat: 'unknown',
      circles: null,
      shareWith: 'everyone',
      circlesSeq: 0,
      refreshedAt: 0,
      introducedTo: null,
      partners: null,
      alive: true,
      credentials: null,
      reaped: false,
      invalid: 0,
      bucket: new TokenBucket(options.messagesPerSecond, options.messagesPerSecond * 2, Date.now()),
    };
    connections.set(socket, peer);
    log.info({ connection: peer.connectionId, ip }, 'connected');
    send(peer, { type: 'challenge', nonce: peer.nonce });
    socket.on('pong', onPong);
    socket.on('message', onMessage);
    socket.on('error', onSocketError);
    socket.on('close', onClose);
  };

  // ── HTTP: health, readiness, metrics; WebSocket upgrades pass the admission checks first ──
  const serveHttp = (request: IncomingMessage, response: ServerResponse): void => {
    const path = (request.url ?? '/').split('?')[0];
    if (path === '/healthz') {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(
        JSON.stringify({
          status: 'ok',
          node: nodeId,
          peers: peers.size,
          connections: connections.size,
          exits: [...peers.values()].filter((peer) => peer.exit).length,
          flaggedExits: directory.flaggedCount,
        }),
      );
      return;
    }
    if (path === '/readyz') {
      void bus.healthy().then((healthy) => {
        const ready = healthy && !draining;
        response.writeHead(ready ? 200 : 503, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ ready, draining, redis: options.redis ? healthy : 'not configured' }));
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
  };
  // TLS likewise, only for a node that serves wss:// itself.
  const http = options.tls
    ? (await import('node:https')).createServer({ cert: options.tls.cert, key: options.tls.key }, serveHttp)
    : createServer(serveHttp);
  // Text frames are parsed as JSON right after, which replaces invalid UTF-8: validating it first is a
  // second pass over every message for nothing. Connections are tracked in `connections`, not by ws.
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_SIGNALING_MESSAGE_BYTES,
    skipUTF8Validation: true,
    clientTracking: false,
    perMessageDeflate: false,
  });

  http.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const verdict = admission.judge(request);
    if (!verdict.ok) return admission.refuse(socket, verdict.status, verdict.reason);
    wss.handleUpgrade(request, socket, head, (ws) => onConnection(ws, verdict.ip, request.headers.host ?? ''));
  });

  // Heartbeat: a peer that did not answer the previous ping is gone (laptop lid closed, network lost).
  // The same beat ages out exits whose node stopped refreshing them.
  const heartbeat = setInterval(
    () => {
      const now = Date.now();
      for (const peer of connections.values()) {
        if (!peer.alive) {
          log.info({ peer: peer.id || peer.connectionId }, 'reaped');
          peer.reaped = true;
          peer.socket.terminate();
          continue;
        }
        peer.alive = false;
        peer.socket.ping();
      }
      directory.sweep(now);
      ipLimits.sweepAll(now);
    },
    Math.min(options.heartbeatMs, options.exitRefreshMs),
  );
  heartbeat.unref();

  await bus.start({
    onExit: (peerId, record, byNode) => directory.onBusExit(peerId, record, byNode),
    onEnvelope: (envelope) => relay.fromNode(envelope),
    onTrust: (event) => {
      if (event.type === 'report') {
        if (directory.addReport(event.exitId, event.reporterId).flaggedNow)
          log.warn({ exit: event.exitId }, 'exit flagged by independent reports (across nodes): no longer introduced');
      } else
        void pairings
          .revocationFromNode(event.list)
          .catch((error: unknown) => log.warn({ err: String(error) }, 'revocation from another node failed'));
    },
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(options.port, options.host, () => resolve());
  });
  const address = http.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  log.info(
    { host, port: address.port, node: nodeId, redis: options.redis?.kind ?? 'none' },
    'signaling server listening',
  );

  let drained: (() => void) | null = null;
  return {
    url: `${options.tls ? 'wss' : 'ws'}://${host}:${address.port}`,
    port: address.port,
    nodeId,
    metrics,
    peerCount: () => connections.size,
    close: async () => {
      if (draining) return;
      draining = true;
      clearInterval(heartbeat);
      returning.close();
      directory.close();
      log.info({ connections: connections.size }, 'draining');
      const allGone = new Promise<void>((resolve) => {
        drained = resolve;
        if (connections.size === 0) resolve();
      });
      for (const peer of connections.values())
        send(peer, { type: 'reconnect', reason: 'server shutting down', withinMs: options.reconnectWithinMs });
      const timer = setTimeout(() => drained?.(), options.drainMs);
      await allGone;
      clearTimeout(timer);
      for (const peer of connections.values()) {
        if (peer.exit && peers.get(peer.id) === peer) directory.remove(peer.id);
        peer.socket.terminate();
      }
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      await bus.close();
    },
  };
}
