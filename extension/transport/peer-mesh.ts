import { errorText } from '../core/errors';
import SimplePeer from 'simple-peer';
import type { SignalData } from '../../protocol/signaling-messages';
import { samePair, type CandidatePair, type LaneRecovery, type PeerPath } from '../core/channels/transport-channel';
import { automaticLaneCount, MAX_LANES, pickLane } from '../core/peers/lanes';
import { cancelledStream, DrainRate, Outbox } from '../core/peers/outbox';
import { CandidateBatcher, unbundle } from '../core/peers/candidate-batches';
import { systemClock } from '../core/clock';
import { connectionOf, selectedPair, type SelectedPair } from './ice-stats';
import { OpenLane, StripedLink } from './striped-link';

/**
 * The WebRTC side: per peer one simple-peer connection with one reliable ordered data channel, or
 * with `lanes` > 1 (requester's choice, `lanesPerExit`) several, each its own peer connection and so
 * its own SCTP association, frames striped over them and put back in order (core/peers/lanes.ts).
 * A striped connection recovers from one stalled lane by sending its messages again on another
 * (striped-link.ts), when both ends' signals say they can (`laneRecovery`); how many lanes to open
 * is read from the ICE statistics (ice-stats.ts). This file connects, opens lanes and pumps frames.
 * simple-peer connects; frames are pumped with `send()` under our own bufferedAmount backpressure,
 * because its Duplex write path measured 3.8 MB/s at 16 KiB against 22.6 MB/s this way (ARCHITECTURE.md, "Measured facts").
 */
/** How a connection runs (direct or relayed) and by which candidate pair ICE found. */
export interface PeerRoute {
  path: PeerPath;
  pair: CandidatePair;
}

export interface PeerMeshEvents {
  signal(peerId: string, data: SignalData): void;
  /** `connection`: this connection's number in the mesh (a reconnection gets a new one). */
  peerUp(peerId: string, remoteRole: 'requester' | 'exit', route: PeerRoute, connection: number): void;
  peerDown(peerId: string, reason: string): void;
  pathChanged(peerId: string, route: PeerRoute): void;
  /**
   * The peer's connection lost its path (ICE disconnected: a changed network, a cut link) and is
   * being restarted; frames wait. It either comes back (`pathChanged`, frames again) or is closed
   * once `ICE_RESTART_GRACE_MS` passes.
   */
  peerReconnecting(peerId: string, graceMs: number): void;
  /** A further lane of a striped peer opened (the count of open ones), or its recovery counts moved. */
  lanesChanged(peerId: string, open: number, recovery: LaneRecovery): void;
  frame(peerId: string, data: Uint8Array): void;
}

/**
 * What a peer's channels may hold is a quarter second of their measured drain rate, 256 KiB to
 * 4 MiB over all its lanes (core/peers/outbox.ts says why); a lane resumes below a quarter of its share.
 */
const MIN_LANE_HIGH_WATER_BYTES = 64 * 1024;
const CONNECT_TIMEOUT_MS = 20_000;
/** ICE may start on the relay and move to the direct pair once its checks pass: look again this often. */
const PATH_CHECK_MS = 3000;
/** While the lane count waits for a second round-trip reading: how often, and how many readings at most (12 s). */
const LANE_PROBE_EVERY_MS = 250;
const LANE_PROBE_READINGS = 48;
/**
 * A lane whose ICE says `disconnected` (no answer to its checks for a few seconds: the network
 * changed or the link is cut) is restarted with fresh candidates through signaling (RFC 8445 §9);
 * the data channel and its SCTP association live on, so streams carry on where they were. The
 * requester, which made the offer, restarts; an exit waits for its offer. Past the grace period the
 * peer is closed. A restart made while signaling is down waits for it.
 */
export const ICE_RESTART_GRACE_MS = 25_000;
const ICE_RESTART_AFTER_MS = 1_000;
/** A restart whose answer never came (signaling lost it) is made again this often. */
const ICE_RESTART_AGAIN_MS = 5_000;
/**
 * A peer closed on purpose (sharing turned off) first lets its last frames go: the ERRORs that end
 * its streams. Closing the connection aborts the SCTP association at once, so the close waits until
 * the outbox and every lane's buffer are empty, then this much for them to be acknowledged, never
 * longer than CLOSE_WHEN_SENT_MAX_MS in all.
 */
const CLOSE_AFTER_SENT_MS = 250;
const CLOSE_WHEN_SENT_MAX_MS = 2_000;
const CLOSE_WHEN_SENT_CHECK_MS = 20;
interface Lane {
  peer: SimplePeer.Instance;
  /** Answerer side: an offer was already taken (an initiator never receives one). */
  answered: boolean;
  /** Open and usable; a lane that ever opened carried frames, so losing it loses the peer. */
  open: boolean;
  connectTimer: ReturnType<typeof setTimeout>;
  /** Set while the lane's ICE is disconnected: when that began, and the pending restart. */
  lost: {
    since: number;
    timer: ReturnType<typeof setTimeout> | null;
    graceTimer: ReturnType<typeof setTimeout>;
  } | null;
  /** Requester side: the offers made for ICE restarts carry a mark, so the exit feeds them to this lane. */
  initiator: boolean;
  /** Its trickled candidates, bundled into few signals (core/peers/candidate-batches.ts). */
  outgoing: CandidateBatcher;
}

interface Connection {
  /** Counted across the mesh: tells a reconnection from the same connection reported again. */
  id: number;
  remoteRole: 'requester' | 'exit';
  /** Up: the first lane is open (the peer is reported up); further lanes join as they open. */
  connected: boolean;
  route: PeerRoute;
  outbox: Outbox;
  drain: DrainRate;
  /** Bytes ever handed to this connection's channels. */
  sentBytes: number;
  /** Index = lane number; a lane that never opened is dropped (null) without harm. */
  lanes: (Lane | null)[];
  /** The open lanes, one record each, in the order they opened (the pump reads it on every send). */
  open: OpenLane[];
  /** The bufferedAmountLowThreshold the channels were last given. */
  lowWater: number;
  /** Set when the connection has more than one lane: every message then carries a sequence number. */
  striping: StripedLink | null;
  /** Frames put back in order before the peer was reported up (another lane opened first). */
  early: Uint8Array[];
  /**
   * Requester side: whether every lane was made at once, or the rest wait for the first's round
   * trip. Answerer: 'all' (it answers what comes).
   */
  lanesToOpen: 'all' | 'after-first';
  /** Set while a long first round trip waits for a later STUN check to say so too: the shortest read so far, the STUN responses it was read at, and the readings left. */
  laneProbe: { roundTripMs: number; checks: number | null; readingsLeft: number } | null;
  /** Signaling said the peer left it: a lost path cannot be restarted through it, so it ends the peer. */
  leftSignaling: boolean;
  pathTimer: ReturnType<typeof setInterval> | null;
}

/** Signals of a striped connection name their lane and the lane count, and whether this end recovers stalled lanes. */
type LaneSignal = SignalData & {
  lane?: unknown;
  lanes?: unknown;
  laneRecovery?: unknown;
  laneOrder?: unknown;
  iceRestart?: unknown;
};

export class PeerMesh {
  private readonly connections = new Map<string, Connection>();
  private connectionsMade = 0;
  /** Whether signaling can carry an offer now (an ICE restart made without it would be lost). */
  private signalingUp = false;
  private lanesPerExit = 1;
  private autoLanes = false;

  constructor(
    private readonly events: PeerMeshEvents,
    private rtcConfig: RTCConfiguration = { iceServers: [] },
  ) {}

  /** ICE servers (TURN from signaling) and policy for connections made from now on. */
  setRtcConfig(config: RTCConfiguration): void {
    this.rtcConfig = config;
  }

  /**
   * Peer connections per exit for connections made from now on (1: no striping; settings bound it to
   * 1–MAX_LANES); `auto`: only the first until it measured the path, the rest only over a long one.
   */
  setLanesPerExit(lanes: number, auto: boolean): void {
    this.lanesPerExit = lanes;
    this.autoLanes = auto;
  }

  count(remoteRole: 'requester' | 'exit', includeConnecting = true): number {
    let total = 0;
    for (const connection of this.connections.values()) {
      if (connection.remoteRole === remoteRole && (includeConnecting || connection.connected)) total += 1;
    }
    return total;
  }

  has(peerId: string): boolean {
    return this.connections.has(peerId);
  }

  connectedPeers(): { peerId: string; remoteRole: 'requester' | 'exit'; route: PeerRoute; connection: number }[] {
    return [...this.connections]
      .filter(([, c]) => c.connected)
      .map(([peerId, c]) => ({ peerId, remoteRole: c.remoteRole, route: c.route, connection: c.id }));
  }

  /**
   * Requester side: open a connection to an introduced exit. A pair signaling introduced with
   * `relay` is not forced relay-only: in the NAT lab that never connected within 30 s, while ICE with
   * every candidate reached the TURN relay in about 4 s (ARCHITECTURE.md, "Measured facts").
   */
  connectToExit(peerId: string): void {
    if (this.connections.has(peerId)) return;
    const connection = this.createConnection(peerId, 'exit', this.lanesPerExit);
    // Automatic: the first lane measures the path (its ICE round trip) before the others are made.
    // Its frames are numbered from the start, so further lanes join without a new handshake.
    connection.lanesToOpen = this.autoLanes ? 'after-first' : 'all';
    for (let lane = 0; lane < (this.autoLanes ? 1 : this.lanesPerExit); lane += 1)
      this.createLane(peerId, connection, lane, true);
  }

  /** Signaling registered (again) or went away: restarts that waited for it go out now. */
  setSignalingUp(up: boolean): void {
    this.signalingUp = up;
    if (!up) return;
    for (const [peerId, connection] of this.connections)
      connection.lanes.forEach((lane, index) => {
        if (lane?.lost && lane.initiator) this.restartLane(peerId, connection, index, lane);
      });
  }

  /**
   * Signaling says the peer left. One that never connected is dropped; a connected one keeps its data
   * channel (it may outlive signaling) unless its path is lost too, now or later.
   */
  peerLeftSignaling(peerId: string): void {
    const connection = this.connections.get(peerId);
    if (!connection) return;
    connection.leftSignaling = true;
    if (!connection.connected || connection.lanes.some((lane) => lane?.lost))
      this.close(
        peerId,
        connection.connected ? 'peer left signaling and its connection lost its path' : 'peer left signaling',
      );
  }

  /** Relayed signal: answers a new requester (exit side) or feeds an existing connection's lane. */
  handleSignal(from: string, signal: LaneSignal, acceptRequesters: boolean): void {
    const { lane: laneField, lanes: lanesField, laneRecovery, laneOrder, iceRestart, ...data } = signal;
    const laneCount =
      typeof lanesField === 'number' && Number.isInteger(lanesField) ? Math.min(MAX_LANES, Math.max(1, lanesField)) : 1;
    const laneIndex = typeof laneField === 'number' && Number.isInteger(laneField) && laneField >= 0 ? laneField : 0;
    if (laneIndex >= laneCount) return;
    let connection = this.connections.get(from);
    // A fresh offer for a lane we answered before: the requester lost that connection (ids are
    // stable, so it is the same peer) and starts over. Feeding it to the old one would corrupt both.
    // An ICE restart's offer belongs to the lane it restarts (same connection, same lane count).
    const restart = iceRestart === 1 && connection?.lanes[laneIndex]?.answered && connection.lanes.length === laneCount;
    if (
      connection &&
      data.type === 'offer' &&
      !restart &&
      (connection.lanes[laneIndex]?.answered || connection.lanes.length !== laneCount)
    ) {
      this.close(from, 'peer reconnected');
      connection = undefined;
    }
    if (!connection) {
      if (!acceptRequesters || data.type !== 'offer') return;
      connection = this.createConnection(from, 'requester', laneCount);
    }
    connection.leftSignaling = false; // it signals: it is back on signaling
    if (laneRecovery === 1) connection.striping?.recoverStalls();
    if (laneOrder === 1) connection.striping?.orderByStream();
    const lane =
      connection.lanes[laneIndex] ??
      (data.type === 'offer' ? this.createLane(from, connection, laneIndex, false) : null);
    if (!lane) return;
    if (data.type === 'offer') lane.answered = true;
    for (const each of unbundle(data)) lane.peer.signal(each as SimplePeer.SignalData);
  }

  private createConnection(peerId: string, remoteRole: 'requester' | 'exit', lanes: number): Connection {
    const connection: Connection = {
      id: (this.connectionsMade += 1),
      remoteRole,
      connected: false,
      route: { path: 'unknown', pair: null },
      outbox: new Outbox(),
      drain: new DrainRate(),
      sentBytes: 0,
      lanes: Array.from({ length: lanes }, () => null),
      open: [],
      lowWater: 0,
      striping: null,
      early: [],
      lanesToOpen: 'all',
      laneProbe: null,
      leftSignaling: false,
      pathTimer: null,
    };
    if (lanes > 1) {
      connection.striping = new StripedLink(connection.open, {
        frame: (frame) =>
          connection.connected ? this.received(peerId, connection, frame) : connection.early.push(frame),
        report: (recovery) => this.events.lanesChanged(peerId, connection.open.length, recovery),
        resent: (bytes) => (connection.sentBytes += bytes),
        current: () => this.connections.get(peerId) === connection,
      });
    }
    this.connections.set(peerId, connection);
    return connection;
  }

  private createLane(peerId: string, connection: Connection, index: number, initiator: boolean): Lane {
    const peer = new SimplePeer({ initiator, trickle: true, config: this.rtcConfig, channelConfig: { ordered: true } });
    const current = (): boolean => this.connections.get(peerId) === connection && connection.lanes[index] === lane;
    const lanes = connection.lanes.length;
    const lane: Lane = {
      peer,
      answered: false,
      open: false,
      lost: null,
      initiator,
      outgoing: new CandidateBatcher((data) => {
        const marked: LaneSignal =
          lanes > 1 ? { ...data, lane: index, lanes, laneRecovery: 1, laneOrder: 1 } : { ...data };
        if (lane.lost && data.type === 'offer') marked.iceRestart = 1;
        this.events.signal(peerId, marked);
      }, systemClock),
      // The first lane is the peer: without it, nothing. A further lane that never opens is only dropped.
      connectTimer: setTimeout(
        () => (index === 0 ? this.close(peerId, 'connection timed out') : this.dropLane(connection, index)),
        CONNECT_TIMEOUT_MS,
      ),
    };
    connection.lanes[index] = lane;
    peer.on('signal', (data: SignalData) => lane.outgoing.push(data));
    peer.on('iceStateChange', (state: RTCIceConnectionState) => {
      if (!current() || !lane.open) return;
      // Only a loss is taken from ICE's state: mid-restart it says "connected" while the path is still
      // cut. The lane is back when data arrives on it again (the registry pings every 2 s).
      if (state === 'disconnected') this.laneLost(peerId, connection, index, lane);
    });
    const connected = (seen: SelectedPair | null): void => {
      if (seen) {
        connection.route = { path: seen.path, pair: seen.pair };
        if (connection.striping) connection.striping.roundTripMs = seen.roundTripMs;
      }
      if (!current()) return; // closed while asking
      if (seen && connection.lanesToOpen === 'after-first') this.chooseLanes(peerId, connection, seen, peer);
      const channel = channelOf(peer);
      lane.open = true;
      if (channel) {
        connection.open.push(new OpenLane(channel));
        connection.lowWater = 0; // set again for every lane on the next pump
        channel.addEventListener('bufferedamountlow', () => this.flush(connection));
      }
      if (index === 0) this.up(peerId, connection, peer);
      if (connection.connected) connection.striping?.report();
      this.flush(connection);
    };
    peer.on('connect', () => {
      clearTimeout(lane.connectTimer);
      if (index > 0) return connected(null);
      // The first lane's selected pair tells the path (direct or relayed) and the round trip. Stats
      // that cannot be read close the connection with the reason (the connect timer is cleared: a
      // lost rejection here once left the connection half open for good).
      selectedPair(peer).then(connected, (error: unknown) => {
        if (current()) this.close(peerId, `could not read the connection's path: ${errorText(error)}`);
      });
    });
    peer.on('data', (data: Uint8Array) => {
      if (lane.lost) this.laneBack(connection, lane);
      if (!connection.striping) {
        this.received(peerId, connection, data);
        return;
      }
      try {
        connection.striping.receive(channelOf(peer), data);
      } catch (error) {
        this.close(peerId, `lanes out of order: ${errorText(error)}`);
      }
    });
    const lost = (reason: string): void => {
      if (!current()) return;
      if (index === 0 || lane.open) this.close(peerId, reason);
      else this.dropLane(connection, index);
    };
    peer.on('close', () => lost('data channel closed'));
    peer.on('error', (error: Error & { code?: string }) => lost(`${error.code ?? 'ERR'}: ${error.message}`));
    return lane;
  }

  /** A lane's ICE lost its path: after a moment, restart it (requester) or wait for the restart (exit). */
  private laneLost(peerId: string, connection: Connection, index: number, lane: Lane): void {
    if (lane.lost) return;
    // A crashed browser leaves signaling at once: nobody is there to answer a restart.
    if (connection.leftSignaling) return this.close(peerId, 'peer left signaling and its connection lost its path');
    lane.lost = {
      since: Date.now(),
      timer: null,
      graceTimer: setTimeout(() => {
        if (this.connections.get(peerId) === connection)
          this.close(peerId, `network changed: ICE restart did not reconnect within ${ICE_RESTART_GRACE_MS / 1000} s`);
      }, ICE_RESTART_GRACE_MS),
    };
    this.events.peerReconnecting(peerId, ICE_RESTART_GRACE_MS);
    if (!lane.initiator) return;
    lane.lost.timer = setTimeout(() => this.restartLane(peerId, connection, index, lane), ICE_RESTART_AFTER_MS);
  }

  private restartLane(peerId: string, connection: Connection, index: number, lane: Lane): void {
    const lost = lane.lost;
    if (!lost || this.connections.get(peerId) !== connection || connection.lanes[index] !== lane) return;
    if (lost.timer) clearTimeout(lost.timer);
    lost.timer = setTimeout(() => this.restartLane(peerId, connection, index, lane), ICE_RESTART_AGAIN_MS);
    if (!this.signalingUp) return; // setSignalingUp restarts it
    const pc = connectionOf(lane.peer);
    if (!pc) return;
    // An earlier restart's offer that signaling lost is taken back first, so a new one can be made.
    if (pc.signalingState === 'have-local-offer') {
      void pc.setLocalDescription({ type: 'rollback' }).then(
        () => this.offerRestart(lane, pc),
        () => undefined,
      );
      return;
    }
    this.offerRestart(lane, pc);
  }

  private offerRestart(lane: Lane, pc: RTCPeerConnection): void {
    // simple-peer negotiates on request; restartIce() makes its next offer carry fresh ICE credentials.
    (lane.peer as unknown as { _isNegotiating: boolean })._isNegotiating = false;
    pc.restartIce();
    (lane.peer as unknown as { negotiate(): void }).negotiate();
  }

  /** Data came over the lane again: the restart worked (or the path came back by itself). */
  // The new path shows on the next path check (PATH_CHECK_MS); frames waiting go out now.
  private laneBack(connection: Connection, lane: Lane): void {
    clearLost(lane);
    this.flush(connection);
  }

  private up(peerId: string, connection: Connection, primary: SimplePeer.Instance): void {
    connection.connected = true;
    this.events.peerUp(peerId, connection.remoteRole, connection.route, connection.id);
    for (const frame of connection.early.splice(0)) this.received(peerId, connection, frame);
    connection.pathTimer = setInterval(() => {
      connection.striping?.report(true);
      void selectedPair(primary).then((seen) => {
        const { path, pair, roundTripMs } = seen;
        if (this.connections.get(peerId) !== connection) return;
        if (connection.striping && roundTripMs !== null) connection.striping.roundTripMs = roundTripMs;
        if (connection.laneProbe) this.chooseLanes(peerId, connection, seen, primary);
        const known = connection.route;
        if (path === 'unknown' || (path === known.path && samePair(pair, known.pair))) return;
        connection.route = { path, pair };
        this.events.pathChanged(peerId, connection.route);
      });
    }, PATH_CHECK_MS);
  }

  /**
   * Lanes chosen by the path: a short first round trip keeps one lane at once; a long one opens the
   * rest only when a later STUN check says so too (the shortest reading counts): a busy machine can
   * answer one check late on loopback, which once opened eight lanes to an exit next door (CI).
   * The readings are taken every LANE_PROBE_EVERY_MS, so the next check is seen as soon as ICE makes
   * it (a pair just selected is checked about every half second) and a page's first requests do not
   * wait for the path timer; at most LANE_PROBE_READINGS, then the shortest stands.
   */
  private chooseLanes(
    peerId: string,
    connection: Connection,
    seen: { roundTripMs: number | null; checks: number | null },
    primary: SimplePeer.Instance,
  ): void {
    const allowed = connection.lanes.length;
    const probe = connection.laneProbe;
    if (!probe) {
      if (automaticLaneCount(seen.roundTripMs, allowed) === 1) {
        connection.lanesToOpen = 'all';
        return;
      }
      connection.laneProbe = {
        roundTripMs: seen.roundTripMs!,
        checks: seen.checks,
        readingsLeft: LANE_PROBE_READINGS,
      };
      const probing = (): boolean => this.connections.get(peerId) === connection && connection.laneProbe !== null;
      const read = (): void => {
        if (!probing()) return;
        void selectedPair(primary).then((again) => {
          if (!probing()) return;
          this.chooseLanes(peerId, connection, again, primary);
          if (probing()) setTimeout(read, LANE_PROBE_EVERY_MS);
        });
      };
      setTimeout(read, LANE_PROBE_EVERY_MS);
      return;
    }
    probe.readingsLeft -= 1;
    const fresh = seen.checks !== null && seen.checks !== probe.checks;
    if (seen.roundTripMs !== null && fresh) probe.roundTripMs = Math.min(probe.roundTripMs, seen.roundTripMs);
    if (!fresh && probe.readingsLeft > 0) return; // the same check again: wait for a new one
    connection.lanesToOpen = 'all';
    connection.laneProbe = null;
    const wanted = automaticLaneCount(probe.roundTripMs, allowed);
    for (let further = 1; further < wanted; further += 1)
      if (!connection.lanes[further]) this.createLane(peerId, connection, further, true);
  }

  /** A frame from the peer, in order; a CANCEL also drops what is still queued of that response here. */
  private received(peerId: string, connection: Connection, frame: Uint8Array): void {
    const cancelled = cancelledStream(frame);
    if (cancelled !== null) connection.outbox.dropServed(cancelled);
    this.events.frame(peerId, frame);
  }

  /** A further lane that never opened: no frame went on it, so the peer goes on without it. */
  private dropLane(connection: Connection, index: number): void {
    const lane = connection.lanes[index];
    if (!lane || lane.open) return;
    clearTimeout(lane.connectTimer);
    stopLaneTimers(lane);
    connection.lanes[index] = null;
    lane.peer.destroy();
  }

  send(peerId: string, data: Uint8Array): boolean {
    const connection = this.connections.get(peerId);
    if (!connection) return false;
    connection.outbox.push(data);
    if (connection.outbox.length === 1) this.flush(connection);
    return true;
  }

  /**
   * Sends what the lanes take, each message on the open lane with the least queued (numbered when
   * striped), in the outbox's order (control first, streams by turns); then measures the drain.
   */
  private flush(connection: Connection): void {
    if (!connection.connected) return;
    const lanes = connection.open;
    const highWater = Math.max(MIN_LANE_HIGH_WATER_BYTES, connection.drain.highWater() / Math.max(1, lanes.length));
    if (highWater / 4 !== connection.lowWater) {
      connection.lowWater = highWater / 4;
      for (const lane of lanes) lane.channel.bufferedAmountLowThreshold = connection.lowWater;
    }
    const striping = connection.striping;
    striping?.refreshResting(performance.now());
    while (connection.outbox.length > 0) {
      const index = pickLane(lanes, highWater, undefined, striping ? striping.turn++ : 0);
      if (index === -1) break; // every lane is full: a bufferedamountlow event resumes
      const channel = lanes[index]!.channel;
      if (channel.readyState !== 'open') return; // closing: its close event tears the peer down
      const next = connection.outbox.shift()!;
      const message = striping ? striping.stamp(next, index) : next;
      channel.send(message as Uint8Array<ArrayBuffer>);
      connection.sentBytes += message.byteLength;
    }
    // Only a pump that left frames waiting says how fast the channels drain; one that ran dry does not.
    if (connection.outbox.length === 0) {
      connection.drain.dry();
      return;
    }
    let buffered = 0;
    for (const lane of lanes) buffered += lane.bufferedAmount;
    connection.drain.sample(performance.now(), connection.sentBytes, buffered);
  }

  close(peerId: string, reason: string): void {
    const connection = this.connections.get(peerId);
    if (!connection) return;
    this.connections.delete(peerId);
    if (connection.pathTimer) clearInterval(connection.pathTimer);
    connection.striping?.close();
    for (const lane of connection.lanes) {
      if (!lane) continue;
      clearTimeout(lane.connectTimer);
      stopLaneTimers(lane);
      lane.peer.destroy();
    }
    this.events.peerDown(peerId, reason);
  }

  /** Closes the peer once what is queued for it has left (see CLOSE_AFTER_SENT_MS). */
  closeWhenSent(peerId: string, reason: string): void {
    const connection = this.connections.get(peerId);
    if (!connection) return;
    const deadline = performance.now() + CLOSE_WHEN_SENT_MAX_MS;
    const check = (): void => {
      if (this.connections.get(peerId) !== connection) return;
      const sent = connection.outbox.length === 0 && connection.open.every((lane) => lane.channel.bufferedAmount === 0);
      if (sent) setTimeout(() => this.close(peerId, reason), CLOSE_AFTER_SENT_MS);
      else if (performance.now() >= deadline) this.close(peerId, reason);
      else setTimeout(check, CLOSE_WHEN_SENT_CHECK_MS);
    };
    check();
  }

  closeAll(reason: string): void {
    for (const peerId of [...this.connections.keys()]) this.close(peerId, reason);
  }
}

/** simple-peer keeps its RTCDataChannel private; we need it for bufferedAmount backpressure and to tell lanes apart. */
function channelOf(peer: SimplePeer.Instance): RTCDataChannel | null {
  return (peer as unknown as { _channel?: RTCDataChannel })._channel ?? null;
}

/** A lane that ends: its restart timers and any candidates still waiting to be sent. */
function stopLaneTimers(lane: Lane): void {
  lane.outgoing.close();
  clearLost(lane);
}

function clearLost(lane: Lane): void {
  if (!lane.lost) return;
  if (lane.lost.timer) clearTimeout(lane.lost.timer);
  clearTimeout(lane.lost.graceTimer);
  lane.lost = null;
}
