import type { Logger } from 'pino';
import type { ClientMessage } from '../protocol/signaling-messages';
import type { ExitDirectory } from './directory';
import { verifyRegistration } from './identity';
import type { SignalingMetrics } from './metrics';
import { CloseCode, type SignalingOptions } from './options';
import type { Pairings } from './pairings';
import { isOpen, sendTo as send, type Peer } from './peer';
import type { Relay } from './relay';
import type { ReturningPeers } from './returning-peers';
import type { SignalingBus } from './bus';
import { iceServersFor } from './turn';

/** What the handlers act on: the node's registered peers and its parts (server.ts composes them). */
export interface HandlerContext {
  options: SignalingOptions;
  log: Logger;
  metrics: SignalingMetrics;
  peers: Map<string, Peer>;
  directory: ExitDirectory;
  relay: Relay;
  pairings: Pairings;
  returning: ReturningPeers;
  bus: SignalingBus;
  /** A bad message: named back to the client, and counted towards cutting it off. */
  reject(peer: Peer, code: string, message: string): void;
}

type Handler<K extends ClientMessage['type']> = (peer: Peer, message: Extract<ClientMessage, { type: K }>) => void;
type HandlerRegistry = { [K in ClientMessage['type']]: Handler<K> };

/**
 * One handler per client message type, the whole protocol's server side in one table (as PeerJS
 * registers a handler per message type): `dispatch` counts the message, holds back everything but
 * `register` from an unregistered connection, and calls the one handler its type names.
 */
export function createMessageHandlers(context: HandlerContext): (peer: Peer, message: ClientMessage) => void {
  const { options, log, metrics, peers, directory, relay, pairings, returning, bus } = context;

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

  const register = (peer: Peer, peerId: string, message: Extract<ClientMessage, { type: 'register' }>): void => {
    const previous = peers.get(peerId);
    if (previous) {
      // The same install again (a reconnect before its old socket was reaped): the newer wins.
      metrics.rejects.inc({ reason: 'replaced' });
      send(previous, { type: 'error', code: 'replaced', message: 'a newer connection registered with this identity' });
      previous.socket.close(CloseCode.REPLACED, 'replaced');
    }
    // Its pairings too, from the connection it replaces or one reaped moments ago: a browser that
    // changed network re-registers and restarts ICE with its partners through this connection.
    const earlier = previous ?? returning.take(peerId);
    if (earlier) {
      peer.partners = earlier.partners;
      peer.introducedTo = earlier.introducedTo;
    }
    peer.id = peerId;
    peer.host = '';
    peers.set(peer.id, peer);
    peer.registered = true;
    bus.noteSeen(peerId, Date.now());
    applyState(peer, message);
    send(peer, {
      type: 'registered',
      peerId: peer.id,
      heartbeatMs: options.heartbeatMs,
      refreshMs: options.exitRefreshMs,
      iceServers: iceServersFor(options.ice, peer.id, Date.now() / 1000),
    });
    log.info({ peer: peer.id, connection: peer.connectionId, exit: peer.exit, nat: peer.nat }, 'registered');
  };

  const handlers: HandlerRegistry = {
    register: (peer, message) => {
      if (peer.registered || peer.nonce === '')
        return send(peer, {
          type: 'error',
          code: 'already_registered',
          message: `registered (or registering) already; send update instead`,
        });
      const nonce = peer.nonce;
      peer.nonce = ''; // one attempt per challenge; also frees it
      // Verified on libuv's thread pool: a burst of registrations does not stall the event loop.
      void verifyRegistration(message.publicKey, message.signature, peer.host, nonce).then(async (verdict) => {
        if (!isOpen(peer.socket)) return;
        if (!verdict.ok)
          return context.reject(
            peer,
            verdict.reason,
            verdict.reason === 'bad_signature'
              ? "the signature does not prove the public key over this connection's nonce"
              : 'not an Ed25519 public key',
          );
        // Circles judged before `registered`: the first introduction already knows them.
        const judged = message.circles ? await pairings.judge(peer, message.circles) : null;
        if (!isOpen(peer.socket)) return; // it may have closed while the circles were judged
        if (judged) peer.shareWith = judged.shareWith; // before its record is first published
        register(peer, verdict.peerId, message);
        if (judged) pairings.apply(peer, judged);
      });
    },
    update: (peer, message) => {
      applyState(peer, message);
      if (message.circles)
        void pairings.judge(peer, message.circles).then((judged) => judged && pairings.apply(peer, judged));
    },
    'report-exit': (peer, message) => {
      void directory.report(peer, message.peerId).then(
        (flagged) => {
          if (flagged)
            log.warn(
              { exit: message.peerId, reason: message.reason },
              'exit flagged by independent reports: no longer introduced',
            );
        },
        (error: unknown) => log.warn({ err: String(error) }, 'report not counted'),
      );
    },
    'find-exits': (peer, message) => {
      const started = performance.now();
      const { exits, unreachable } = directory.introduce(
        peer,
        message.count,
        new Set(message.exclude),
        message.preferCircles,
      );
      send(peer, { type: 'exits', exits, ...(unreachable > 0 ? { unreachable } : {}) });
      metrics.introductionSeconds.observe((performance.now() - started) / 1000);
      log.info({ peer: peer.id, exits: exits.map((exit) => exit.peerId) }, 'introduced');
    },
    signal: (peer, message) => relay.fromClient(peer, message),
  };

  return (peer, message) => {
    metrics.countMessage(message.type);
    if (message.type !== 'register' && !peer.registered)
      return send(peer, { type: 'error', code: 'not_registered', message: 'register first' });
    (handlers[message.type] as Handler<typeof message.type>)(peer, message);
  };
}
