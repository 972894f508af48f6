import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { pino, type Logger } from 'pino';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { AdmissionControl } from './admission';
import { MemoryBus, NODE_ID_LENGTH, type SignalingBus } from './bus';
import type { RevocationList } from './circle-proof';
import { CircleBook, type CircleVerdict } from './circles';
import { ExitDirectory } from './directory';
import { verifyRegistration } from './identity';
import { IpLimits, TokenBucket } from './limits';
import { SignalingMetrics } from './metrics';
import { sendTo as send, type Peer } from './peer';
import { clientMessageSchema, MAX_SIGNALING_MESSAGE_BYTES, type CirclesState, type ClientMessage } from './protocol';
import { RedisBus, type RedisTarget } from './redis-bus';
import { Relay } from './relay';
import { iceServersFor, type IceConfig } from './turn';

/**
 * The signaling server: admits connections (`admission.ts`), registers peers under their stable ids
 * (a signed nonce proves the key the id derives from, `identity.ts`), introduces requesters
 * to exits (`directory.ts`), relays SDP/ICE only between introduced pairs (`relay.ts`), reaps dead
 * connections and drains gracefully. Alone it keeps state in memory; with `redis` several nodes
 * share the exit directory and relay over Redis (`bus.ts`, `redis-bus.ts`). This file composes them
 * and owns the sockets: per-client limits, parsing, heartbeats, HTTP endpoints, shutdown.
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
  /** STUN and TURN servers handed to every peer at registration. */
  ice: IceConfig;
  /** An exit not refreshed for 2.5× this is no longer introduced. */
  exitRefreshMs: number;
  /** One Redis or a Redis Cluster shared by several nodes; null: one node, state in memory. */
  redis: RedisTarget | null;
  /** Graceful shutdown: clients are asked to reconnect within this, then the rest are cut after `drainMs`. */
  reconnectWithinMs: number;
  drainMs: number;
  /** PEM certificate (chain) and key: served as wss:// and https:// by the server itself. Null: ws://. */
  tls: { cert: string; key: string } | null;
  /** Independent requesters whose reports of one exit (`report-exit`) stop its introductions. */
  reportThreshold: number;
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
  ice: { stunUrls: [], turn: null },
  exitRefreshMs: 10_000,
  redis: null,
  reconnectWithinMs: 5_000,
  drainMs: 10_000,
  tls: null,
  reportThreshold: 3,
  logger: pino({ level: 'silent' }),
};

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
export const CloseCode = { TOO_BIG: 1009, POLICY: 1008, GOING_AWAY: 1001, REPLACED: 4000 } as const;

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
    for (const peer of connections.values()) counts[!peer.registered ? 'unregistered' : peer.exit ? 'exit' : 'requester'] += 1;
    return counts;
  });
  const bus: SignalingBus = options.redis
    ? new RedisBus(nodeId, options.redis, log, (op, seconds) => metrics.redisSeconds.observe({ op }, seconds))
    : new MemoryBus(nodeId);

  const directory = new ExitDirectory(bus, peers, options.exitRefreshMs, options.ice.turn !== null, options.reportThreshold);
  const circleBook = new CircleBook();
  const relay = new Relay(nodeId, peers, directory, bus, metrics);
  const admission = new AdmissionControl(options, ipLimits, metrics, log, { draining: () => draining, connections: () => connections.size });

  // ── messages from clients ──
  const handle = (peer: Peer, message: ClientMessage): void => {
    metrics.countMessage(message.type);
    if (message.type !== 'register' && !peer.registered) return send(peer, { type: 'error', code: 'not_registered', message: 'register first' });
    switch (message.type) {
      case 'register': {
        if (peer.registered || peer.nonce === '') return send(peer, { type: 'error', code: 'already_registered', message: `registered (or registering) already; send update instead` });
        const nonce = peer.nonce;
        peer.nonce = ''; // one attempt per challenge; also frees it
        // Verified on libuv's thread pool: a burst of registrations does not stall the event loop.
        void verifyRegistration(message.publicKey, message.signature, peer.host, nonce).then(async (verdict) => {
          if (peer.socket.readyState !== WebSocket.OPEN) return;
          if (!verdict.ok) return reject(peer, verdict.reason, verdict.reason === 'bad_signature' ? 'the signature does not prove the public key over this connection\'s nonce' : 'not an Ed25519 public key');
          // Circles judged before `registered`: the first introduction already knows them.
          const judged = message.circles ? await judgeCircles(peer, message.circles) : null;
          if (peer.socket.readyState !== WebSocket.OPEN) return;
          if (judged) peer.shareWith = judged.shareWith; // before its record is first published
          register(peer, verdict.peerId, message);
          if (judged) applyCircles(peer, judged);
        });
        return;
      }
      case 'update':
        applyState(peer, message);
        if (message.circles) {
          const circles = message.circles;
          void judgeCircles(peer, circles).then((judged) => judged && applyCircles(peer, judged));
        }
        return;
      case 'report-exit':
        if (directory.report(peer, message.peerId)) log.warn({ exit: message.peerId, reason: message.reason }, 'exit flagged by independent reports: no longer introduced');
        return;
      case 'find-exits': {
        const started = performance.now();
        const exits = directory.introduce(peer, message.count, new Set(message.exclude), message.preferCircles);
        send(peer, { type: 'exits', exits });
        metrics.introductionSeconds.observe((performance.now() - started) / 1000);
        log.info({ peer: peer.id, exits: exits.map((exit) => exit.peerId) }, 'introduced');
        return;
      }
      case 'signal':
        relay.fromClient(peer, message);
        return;
    }
  };

  const register = (peer: Peer, peerId: string, message: Extract<ClientMessage, { type: 'register' }>): void => {
    const previous = peers.get(peerId);
    if (previous) {
      // The same install again (a reconnect before its old socket was reaped): the newer wins.
      metrics.rejects.inc({ reason: 'replaced' });
      send(previous, { type: 'error', code: 'replaced', message: 'a newer connection registered with this identity' });
      previous.socket.close(CloseCode.REPLACED, 'replaced');
    }
    peer.id = peerId;
    peer.host = '';
    peers.set(peer.id, peer);
    peer.registered = true;
    applyState(peer, message);
    send(peer, { type: 'registered', peerId: peer.id, heartbeatMs: options.heartbeatMs, refreshMs: options.exitRefreshMs, iceServers: iceServersFor(options.ice, peer.id, Date.now() / 1000) });
    log.info({ peer: peer.id, connection: peer.connectionId, exit: peer.exit, nat: peer.nat }, 'registered');
  };

  /**
   * A peer's circles, judged off the event loop. Whom an exit serves applies at once (narrowing to its
   * circles must not wait for a signature check); memberships when their check returns, unless a
   * newer report came meanwhile.
   */
  const judgeCircles = async (peer: Peer, state: CirclesState): Promise<{ verdict: CircleVerdict; shareWith: CirclesState['shareWith'] } | null> => {
    const seq = (peer.circlesSeq += 1);
    if (peer.registered && state.shareWith !== peer.shareWith) {
      peer.shareWith = state.shareWith;
      reviewPartners(peer);
      if (peer.exit) directory.publish(peer);
    }
    const verdict = await circleBook.judge(state);
    for (const list of verdict.newer) spreadRevocation(list, peer);
    return seq === peer.circlesSeq && peer.socket.readyState === WebSocket.OPEN ? { verdict, shareWith: state.shareWith } : null;
  };

  const applyCircles = (peer: Peer, { verdict, shareWith }: { verdict: CircleVerdict; shareWith: CirclesState['shareWith'] }): void => {
    peer.shareWith = shareWith;
    // A list that arrived while this was checked may have revoked one of these.
    for (const [circle, invite] of verdict.member) if (circleBook.isRevoked(circle, invite)) verdict.member.delete(circle);
    peer.circles = verdict.member.size > 0 ? verdict.member : null;
    send(peer, { type: 'circles', member: [...verdict.member.keys()], refused: verdict.refused });
    reviewPartners(peer);
    if (peer.exit) directory.publish(peer);
  };

  /** A newer revocation list: every member here keeps it; a member it names loses the circle at once. */
  const spreadRevocation = (list: RevocationList, from: Peer | null): void => {
    log.info({ circle: list.circle.slice(0, 8), version: list.version, revoked: list.revoked.length }, 'circle revocations');
    for (const peer of peers.values()) {
      const invite = peer.circles?.get(list.circle);
      if (invite === undefined) continue;
      if (peer !== from) send(peer, { type: 'circle-revocation', list });
      if (!list.revoked.includes(invite)) continue;
      peer.circles!.delete(list.circle);
      if (peer.circles!.size === 0) peer.circles = null;
      send(peer, { type: 'circles', member: [...(peer.circles?.keys() ?? [])], refused: [{ circle: list.circle, reason: 'revoked' }] });
      reviewPartners(peer);
      if (peer.exit) directory.publish(peer);
    }
  };

  /**
   * After `peer`'s circles or whom it serves changed: each pairing of an exit with a requester it may
   * no longer serve ends, both told (`access-ended`: the exit closes the connection). Partners on
   * this node; one on another node hears on its next introduction (documented limit).
   */
  const reviewPartners = (peer: Peer): void => {
    for (const partnerId of [...(peer.partners?.keys() ?? [])]) {
      const partner = peers.get(partnerId);
      if (!partner) continue;
      if (peer.introducedTo?.has(partnerId) && !directory.mayServe(peer, partner)) endPairing(peer, partner);
      else if (partner.introducedTo?.has(peer.id) && !directory.mayServe(partner, peer)) endPairing(partner, peer);
    }
  };

  const endPairing = (exit: Peer, requester: Peer): void => {
    exit.partners?.delete(requester.id);
    requester.partners?.delete(exit.id);
    exit.introducedTo?.delete(requester.id);
    directory.publishLoadSoon(exit);
    const reason = 'no longer in a circle this exit serves';
    send(exit, { type: 'access-ended', peerId: requester.id, reason });
    send(requester, { type: 'access-ended', peerId: exit.id, reason });
    log.info({ exit: exit.id, requester: requester.id }, 'circle access ended');
  };

  const applyState = (peer: Peer, message: Extract<ClientMessage, { type: 'register' | 'update' }>): void => {
    const wasExit = peer.exit;
    peer.exit = message.exit;
    peer.capacity = message.capacity;
    peer.load = message.load;
    peer.nat = message.nat;
    peer.refreshedAt = Date.now();
    if (peer.exit) directory.publish(peer);
    else if (wasExit) directory.remove(peer.id);
  };

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
    if (!peer.bucket.take(now)) return reject(peer, 'rate_limited', `more than ${options.messagesPerSecond} messages per second`);
    if (!ipLimits.message(peer.ip, now)) return reject(peer, 'ip_rate_limited', `more than ${options.messagesPerIpPerSecond} messages per second from this address`);
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
      relay.departed(peer);
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
      response.end(JSON.stringify({ status: 'ok', node: nodeId, peers: peers.size, connections: connections.size, exits: [...peers.values()].filter((peer) => peer.exit).length, flaggedExits: directory.flaggedCount }));
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
  const http = options.tls ? createTlsServer({ cert: options.tls.cert, key: options.tls.key }, serveHttp) : createServer(serveHttp);
  // Text frames are parsed as JSON right after, which replaces invalid UTF-8: validating it first is a
  // second pass over every message for nothing. Connections are tracked in `connections`, not by ws.
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_SIGNALING_MESSAGE_BYTES, skipUTF8Validation: true, clientTracking: false, perMessageDeflate: false });

  http.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const verdict = admission.judge(request);
    if (!verdict.ok) return admission.refuse(socket, verdict.status, verdict.reason);
    wss.handleUpgrade(request, socket, head, (ws) => onConnection(ws, verdict.ip, request.headers.host ?? ''));
  });

  // Heartbeat: a peer that did not answer the previous ping is gone (laptop lid closed, network lost).
  // The same beat ages out exits whose node stopped refreshing them.
  const heartbeat = setInterval(() => {
    const now = Date.now();
    for (const peer of connections.values()) {
      if (!peer.alive) {
        log.info({ peer: peer.id || peer.connectionId }, 'reaped');
        peer.socket.terminate();
        continue;
      }
      peer.alive = false;
      peer.socket.ping();
    }
    directory.sweep(now);
    ipLimits.sweepAll(now);
  }, Math.min(options.heartbeatMs, options.exitRefreshMs));
  heartbeat.unref();

  await bus.start({
    onExit: (peerId, record, byNode) => directory.onBusExit(peerId, record, byNode),
    onEnvelope: (envelope) => relay.fromNode(envelope),
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(options.port, options.host, () => resolve());
  });
  const address = http.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  log.info({ host, port: address.port, node: nodeId, redis: options.redis?.kind ?? 'none' }, 'signaling server listening');

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
      directory.close();
      log.info({ connections: connections.size }, 'draining');
      const allGone = new Promise<void>((resolve) => {
        drained = resolve;
        if (connections.size === 0) resolve();
      });
      for (const peer of connections.values()) send(peer, { type: 'reconnect', reason: 'server shutting down', withinMs: options.reconnectWithinMs });
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
