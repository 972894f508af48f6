import type { Clock } from '../../core/clock';
import { PeerlaneError } from '../../core/errors';
import { DEFAULT_STREAM_WINDOW, HEAD_STREAM_WINDOW, PeerSession, type ExitHandler } from '../../core/peers/session';
import type { Hello } from '../../core/protocol/frames';
import { samePair, type CandidatePair, type LaneRecovery, type PeerPath } from '../../core/channels/transport-channel';

/** How a peer's connection runs, as the transport read it from ICE. */
export interface PeerRouteReading {
  path: PeerPath;
  pair: CandidatePair;
}
import { Changes } from '../changes';
import type { Repeating } from '../platform/platform';

/**
 * The peer registry: one `Peer` per connected peer, made when the transport reports it up and
 * dropped when it goes down or stays silent. It owns the peer's session (streams, credit) and its
 * liveness (pings, round-trip time). How busy an exit is and how well it serves is the queue's
 * balancer's to know (one in-flight count, there); the popup reads both.
 */
export type RemoteRole = 'requester' | 'exit';

export interface Peer {
  readonly id: string;
  /** The transport's number for this connection: a reconnection has another. */
  readonly connection: number;
  readonly remoteRole: RemoteRole;
  /** Straight between the browsers or through a TURN relay (the transport reads it from ICE; it can change). */
  path: PeerPath;
  /** The ICE candidate pair's types the connection runs on (null until read). */
  pair: CandidatePair;
  /** Open peer connections its frames are striped over (1: not striped). */
  lanes: number;
  /** What its stalled lanes cost (messages asked for, sent again, dropped as duplicates). */
  laneRecovery: LaneRecovery;
  readonly session: PeerSession;
  rttMs: number | null;
  /** clock.now() of the last frame received: any frame proves the peer alive. */
  lastHeardAt: number;
  /** clock.now() until which silence is expected: the transport is restarting the connection's path. */
  silenceExpectedUntil: number;
  readonly pingSentAt: Map<number, number>;
}

export interface PeerRegistryDeps {
  clock: Clock;
  every(ms: number, callback: () => void): Repeating;
  /** A frame for the transport to carry to `peerId`. */
  send(peerId: string, frame: Uint8Array): void;
  /** Ask the transport to drop a peer the registry gave up on. */
  closePeer(peerId: string, reason: string): void;
  hello(): Hello;
  /** Serves what a requester peer asks of us (refuses when not sharing). */
  exitHandlerFor(peerId: string): ExitHandler;
  /** An exit is ready to carry requests; `capacity` once its HELLO says how many. */
  exitAvailable(peerId: string, capacity?: number): void;
  exitGone(peerId: string): void;
  protocolError(peerId: string, error: PeerlaneError): void;
}

export const PING_INTERVAL_MS = 2_000;
/** A peer that has sent nothing for this long while a probe is unanswered is declared dead. */
export const PEER_SILENCE_MS = 6_000;
const MAX_UNANSWERED_PINGS = 8;

export function shortPeerId(peerId: string): string {
  return peerId.slice(0, 8);
}

export class PeerRegistry {
  private readonly peers = new Map<string, Peer>();
  private pinger: Repeating | null = null;
  private pingNonce = 1;
  readonly changes = new Changes();

  constructor(private readonly deps: PeerRegistryDeps) {}

  get(peerId: string): Peer | undefined {
    return this.peers.get(peerId);
  }

  all(): Peer[] {
    return [...this.peers.values()];
  }

  get size(): number {
    return this.peers.size;
  }

  /**
   * A peer's connection is up. The same connection reported again (the transport does after every
   * configure, for a restarted background's sake) keeps its session and the streams on it: a saved
   * setting must not cut a transfer. A new connection replaces the session.
   */
  up(peerId: string, remoteRole: RemoteRole, route: PeerRouteReading, connection: number): void {
    const existing = this.peers.get(peerId);
    if (existing && existing.connection === connection && existing.remoteRole === remoteRole) {
      this.pathChanged(peerId, route);
      return;
    }
    existing?.session.close(new PeerlaneError('peer_lost', 'peer reconnected'));
    const { deps } = this;
    let peer: Peer | undefined;
    const session = new PeerSession({
      hello: deps.hello(),
      send: (frame) => deps.send(peerId, frame),
      exitHandler: deps.exitHandlerFor(peerId),
      // Response windows grow while they limit a stream; the round trip tells (see PeerSession.acknowledge).
      now: () => deps.clock.now(),
      roundTripMs: () => peer?.rttMs ?? null,
      // A wide window at once only for a striped peer (core/peers/session.ts HEAD_STREAM_WINDOW says why).
      headStreamWindow: () => ((peer?.lanes ?? 1) > 1 ? HEAD_STREAM_WINDOW : DEFAULT_STREAM_WINDOW),
      onProtocolError: (error) => deps.protocolError(peerId, error),
      onPong: (nonce) => {
        const sentAt = peer?.pingSentAt.get(nonce);
        peer?.pingSentAt.delete(nonce);
        if (peer && sentAt !== undefined) peer.rttMs = deps.clock.now() - sentAt;
      },
      // Every HELLO, the first and each update: capacity 0 is an exit that paused (listed, not chosen).
      onHello: (hello) => {
        if (remoteRole === 'exit') deps.exitAvailable(peerId, hello.role === 'exit' ? hello.exitCapacity : 0);
      },
    });
    peer = {
      id: peerId,
      connection,
      remoteRole,
      path: route.path,
      pair: route.pair,
      lanes: 1,
      laneRecovery: { asked: 0, resent: 0, duplicates: 0 },
      session,
      rttMs: null,
      lastHeardAt: deps.clock.now(),
      silenceExpectedUntil: 0,
      pingSentAt: new Map(),
    };
    this.peers.set(peerId, peer);
    if (remoteRole === 'exit') deps.exitAvailable(peerId);
    this.pingAll();
    this.pinger ??= deps.every(PING_INTERVAL_MS, () => this.pingAll());
    this.changes.emit();
  }

  /** What this browser carries changed: every peer hears the new HELLO on its live session. */
  helloChanged(): void {
    const hello = this.deps.hello();
    for (const peer of this.peers.values()) peer.session.updateHello(hello);
  }

  /** This browser stopped sharing: what it serves to requesters ends now, each stream with `error`. */
  endServed(error: PeerlaneError): void {
    for (const peer of this.peers.values()) if (peer.remoteRole === 'requester') peer.session.endServed(error);
  }

  /**
   * The transport is restarting the peer's path (a changed network, a cut link): its silence is no
   * sign of death for `graceMs`; the transport itself ends the peer if the restart fails.
   */
  reconnecting(peerId: string, graceMs: number): void {
    const peer = this.peers.get(peerId);
    if (peer) peer.silenceExpectedUntil = this.deps.clock.now() + graceMs;
  }

  /** ICE moved the connection (a relay first, the direct pair once its checks succeeded, or back). */
  pathChanged(peerId: string, { path, pair }: PeerRouteReading): void {
    const peer = this.peers.get(peerId);
    if (!peer || (peer.path === path && samePair(peer.pair, pair))) return;
    peer.path = path;
    peer.pair = pair;
    this.changes.emit();
  }

  lanesChanged(peerId: string, lanes: number, recovery: LaneRecovery): void {
    const peer = this.peers.get(peerId);
    if (!peer) return;
    peer.lanes = lanes;
    peer.laneRecovery = recovery;
    this.changes.emit();
  }

  receive(peerId: string, frame: Uint8Array): void {
    const peer = this.peers.get(peerId);
    if (!peer) return;
    peer.lastHeardAt = this.deps.clock.now();
    // Heard again: a restart that expected silence is over (ICE saying "connected" is not enough,
    // it says so mid-restart while the path is still cut).
    peer.silenceExpectedUntil = 0;
    peer.session.receive(frame);
  }

  down(peerId: string, reason: string): void {
    const peer = this.peers.get(peerId);
    this.peers.delete(peerId);
    this.deps.exitGone(peerId);
    peer?.session.close(new PeerlaneError('peer_lost', `peer ${shortPeerId(peerId)} lost: ${reason}`));
    if (this.peers.size === 0 && this.pinger) {
      this.pinger.cancel();
      this.pinger = null;
    }
    this.changes.emit();
  }

  /**
   * Probes every peer and drops the silent ones. A browser that crashed or lost its network sends
   * no SCTP abort, and ICE consent takes ~30 s to notice; in-flight requests should not wait that long.
   */
  private pingAll(): void {
    const now = this.deps.clock.now();
    for (const peer of [...this.peers.values()]) {
      const oldestProbe = Math.min(...peer.pingSentAt.values());
      if (
        now >= peer.silenceExpectedUntil &&
        now - peer.lastHeardAt > PEER_SILENCE_MS &&
        now - oldestProbe > PEER_SILENCE_MS
      ) {
        const reason = `no answer for ${Math.round((now - peer.lastHeardAt) / 1000)} s`;
        this.deps.closePeer(peer.id, reason);
        this.down(peer.id, reason);
        continue;
      }
      const nonce = this.pingNonce++;
      // Unanswered probes do not pile up: the oldest is forgotten past eight (16 s, beyond the silence bound).
      if (peer.pingSentAt.size >= MAX_UNANSWERED_PINGS) peer.pingSentAt.delete(peer.pingSentAt.keys().next().value!);
      peer.pingSentAt.set(nonce, now);
      peer.session.ping(nonce);
    }
  }
}
