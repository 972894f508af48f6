import SimplePeer from 'simple-peer';
import type { SignalData } from '../../protocol/signaling-messages';
import type { LaneRecovery, PeerPath } from '../core/channels/transport-channel';
import { automaticLaneCount, isLaneControl, LANE_HEADER_BYTES, LaneReceiver, LaneSender, MAX_LANES, pickLane, type LaneResend } from '../core/peers/lanes';
import { cancelledStream, DrainRate, Outbox } from '../core/peers/outbox';

/**
 * The WebRTC side: per peer one simple-peer connection with one reliable ordered data channel, or
 * with `lanes` > 1 (requester's choice, `lanesPerExit`) several, each its own peer connection and so
 * its own SCTP association, frames striped over them and put back in order (core/peers/lanes.ts).
 * A striped connection recovers from one stalled lane by sending its messages again on another
 * (core/peers/lanes.ts says how), when both ends' signals say they can (`laneRecovery`).
 * simple-peer connects; frames are pumped with `send()` under our own bufferedAmount backpressure,
 * because its Duplex write path measured 3.8 MB/s at 16 KiB against 22.6 MB/s this way (ARCHITECTURE.md, "Measured facts").
 */
export interface PeerMeshEvents {
  signal(peerId: string, data: SignalData): void;
  peerUp(peerId: string, remoteRole: 'requester' | 'exit', path: PeerPath): void;
  peerDown(peerId: string, reason: string): void;
  pathChanged(peerId: string, path: PeerPath): void;
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
/**
 * A gap in a striped connection is asked for after this long, or four round trips if longer: a
 * stalled association waits out its retransmission timer (a second, doubling), while lanes differ
 * by their queues and SCTP's own repair of a loss (about a round trip). Measured over the emulated
 * 50 ms, 1 % loss path on eight lanes (`npm run bench:wan`): at 250 ms, 30–40 % of a 20 MB GET's
 * messages were asked for, each of them arrived twice, and the GET ran at 1.1–1.3 MB/s against
 * 1.6–2.0 without asking.
 */
const MIN_LANE_STALL_MS = 1000;
/** A lane whose messages had to be sent again gets no new ones for this long (its association is backing off). */
const STALLED_LANE_REST_MS = 1000;

interface Lane {
  peer: SimplePeer.Instance;
  /** Answerer side: an offer was already taken (an initiator never receives one). */
  answered: boolean;
  /** Open and usable; a lane that ever opened carried frames, so losing it loses the peer. */
  open: boolean;
  connectTimer: ReturnType<typeof setTimeout>;
}

interface Connection {
  remoteRole: 'requester' | 'exit';
  /** Up: the first lane is open (the peer is reported up); further lanes join as they open. */
  connected: boolean;
  path: PeerPath;
  outbox: Outbox;
  drain: DrainRate;
  /** Bytes ever handed to this connection's channels. */
  sentBytes: number;
  /** Index = lane number; a lane that never opened is dropped (null) without harm. */
  lanes: (Lane | null)[];
  /** The open lanes' channels, kept as lanes open (the pump reads it on every send). */
  channels: RTCDataChannel[];
  /** The bufferedAmountLowThreshold the channels were last given. */
  lowWater: number;
  /** Set when the connection has more than one lane: every message then carries a sequence number. */
  striping: Striping | null;
  /** Frames put back in order before the peer was reported up (another lane opened first). */
  early: Uint8Array[];
  /**
   * Requester side: whether every lane was made at once, or the rest wait for the first's round
   * trip. Answerer: 'all' (it answers what comes).
   */
  lanesToOpen: 'all' | 'after-first';
  /** Set while a long first round trip waits for a later STUN check to say so too: the shortest read so far, the STUN responses it was read at, and the readings left. */
  laneProbe: { roundTripMs: number; checks: number | null; readingsLeft: number } | null;
  pathTimer: ReturnType<typeof setInterval> | null;
}

interface Striping {
  sender: LaneSender;
  receiver: LaneReceiver;
  /** Armed while the receiver waits on a gap: asks the peer to send its missing messages again. */
  stallTimer: ReturnType<typeof setTimeout> | null;
  /** Per open channel (the `channels` index): resting until (performance.now()), after its messages were asked for again. */
  restUntil: number[];
  /** Per open channel: resting now (read by pickLane on every send; refreshed once per pump). */
  resting: boolean[];
  /** Per open channel: bytes ever given to it (less its bufferedAmount: what has left this browser). */
  laneBytes: number[];
  /** The channel the latest message came in on: its way back works, where the least queued may be the stalled one. */
  lastHeard: RTCDataChannel | null;
  /** Where `pickLane` starts looking: moves on with every message, so equally queued lanes take turns. */
  turn: number;
  /** The path's round trip (ICE), once known. */
  roundTripMs: number | null;
  /** What recovery cost so far, and what the background was last told of it. */
  recovery: LaneRecovery;
  reportedRecovery: number;
}

/** Signals of a striped connection name their lane and the lane count, and whether this end recovers stalled lanes. */
type LaneSignal = SignalData & { lane?: unknown; lanes?: unknown; laneRecovery?: unknown };

export class PeerMesh {
  private readonly connections = new Map<string, Connection>();
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

  connectedPeers(): { peerId: string; remoteRole: 'requester' | 'exit'; path: PeerPath }[] {
    return [...this.connections].filter(([, c]) => c.connected).map(([peerId, c]) => ({ peerId, remoteRole: c.remoteRole, path: c.path }));
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
    for (let lane = 0; lane < (this.autoLanes ? 1 : this.lanesPerExit); lane += 1) this.createLane(peerId, connection, lane, true);
  }

  /** Relayed signal: answers a new requester (exit side) or feeds an existing connection's lane. */
  handleSignal(from: string, signal: LaneSignal, acceptRequesters: boolean): void {
    const { lane: laneField, lanes: lanesField, laneRecovery, ...data } = signal;
    const laneCount = typeof lanesField === 'number' && Number.isInteger(lanesField) ? Math.min(MAX_LANES, Math.max(1, lanesField)) : 1;
    const laneIndex = typeof laneField === 'number' && Number.isInteger(laneField) && laneField >= 0 ? laneField : 0;
    if (laneIndex >= laneCount) return;
    let connection = this.connections.get(from);
    // A fresh offer for a lane we answered before: the requester lost that connection (ids are
    // stable, so it is the same peer) and starts over. Feeding it to the old one would corrupt both.
    if (connection && data.type === 'offer' && (connection.lanes[laneIndex]?.answered || connection.lanes.length !== laneCount)) {
      this.close(from, 'peer reconnected');
      connection = undefined;
    }
    if (!connection) {
      if (!acceptRequesters || data.type !== 'offer') return;
      connection = this.createConnection(from, 'requester', laneCount);
    }
    if (laneRecovery === 1 && connection.striping) {
      // The peer acknowledges and asks again: keep copies until it has them, and do the same for it.
      connection.striping.sender.retain = true;
      connection.striping.receiver.recovering = true;
    }
    const lane = connection.lanes[laneIndex] ?? (data.type === 'offer' ? this.createLane(from, connection, laneIndex, false) : null);
    if (!lane) return;
    if (data.type === 'offer') lane.answered = true;
    lane.peer.signal(data as SimplePeer.SignalData);
  }

  private createConnection(peerId: string, remoteRole: 'requester' | 'exit', lanes: number): Connection {
    const connection: Connection = {
      remoteRole,
      connected: false,
      path: 'unknown',
      outbox: new Outbox(),
      drain: new DrainRate(),
      sentBytes: 0,
      lanes: Array.from({ length: lanes }, () => null),
      channels: [],
      lowWater: 0,
      striping: null,
      early: [],
      lanesToOpen: 'all',
      laneProbe: null,
      pathTimer: null,
    };
    if (lanes > 1) {
      connection.striping = {
        sender: new LaneSender(),
        receiver: new LaneReceiver((frame) => (connection.connected ? this.received(peerId, connection, frame) : connection.early.push(frame))),
        stallTimer: null,
        restUntil: [],
        resting: [],
        laneBytes: [],
        lastHeard: null,
        turn: 0,
        roundTripMs: null,
        recovery: { asked: 0, resent: 0, duplicates: 0 },
        reportedRecovery: 0,
      };
    }
    this.connections.set(peerId, connection);
    return connection;
  }

  private createLane(peerId: string, connection: Connection, index: number, initiator: boolean): Lane {
    const peer = new SimplePeer({ initiator, trickle: true, config: this.rtcConfig, channelConfig: { ordered: true } });
    const current = (): boolean => this.connections.get(peerId) === connection && connection.lanes[index] === lane;
    const lane: Lane = {
      peer,
      answered: false,
      open: false,
      // The first lane is the peer: without it, nothing. A further lane that never opens is only dropped.
      connectTimer: setTimeout(() => (index === 0 ? this.close(peerId, 'connection timed out') : this.dropLane(connection, index)), CONNECT_TIMEOUT_MS),
    };
    connection.lanes[index] = lane;
    const lanes = connection.lanes.length;
    peer.on('signal', (data: SignalData) => this.events.signal(peerId, lanes > 1 ? { ...data, lane: index, lanes, laneRecovery: 1 } : data));
    peer.on('connect', async () => {
      clearTimeout(lane.connectTimer);
      let seen: Awaited<ReturnType<typeof selectedPair>> | null = null;
      if (index === 0) {
        seen = await selectedPair(peer);
        connection.path = seen.path;
        if (connection.striping) connection.striping.roundTripMs = seen.roundTripMs;
      }
      if (!current()) return; // closed while asking
      if (seen && connection.lanesToOpen === 'after-first') this.chooseLanes(peerId, connection, seen);
      const channel = channelOf(peer);
      lane.open = true;
      if (channel) {
        connection.channels.push(channel);
        connection.striping?.restUntil.push(0);
        connection.striping?.resting.push(false);
        connection.striping?.laneBytes.push(0);
        connection.lowWater = 0; // set again for every lane on the next pump
        channel.addEventListener('bufferedamountlow', () => this.flush(connection));
      }
      if (index === 0) this.up(peerId, connection, peer);
      if (connection.connected && connection.striping) this.reportLanes(peerId, connection, connection.striping);
      this.flush(connection);
    });
    peer.on('data', (data: Uint8Array) => {
      if (!connection.striping) {
        this.received(peerId, connection, data);
        return;
      }
      try {
        connection.striping.lastHeard = channelOf(peer);
        this.receivedOnLane(peerId, connection, connection.striping, data);
      } catch (error) {
        this.close(peerId, `lanes out of order: ${error instanceof Error ? error.message : String(error)}`);
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

  private up(peerId: string, connection: Connection, primary: SimplePeer.Instance): void {
    connection.connected = true;
    this.events.peerUp(peerId, connection.remoteRole, connection.path);
    for (const frame of connection.early.splice(0)) this.received(peerId, connection, frame);
    connection.pathTimer = setInterval(() => {
      if (connection.striping) this.reportLanes(peerId, connection, connection.striping, true);
      void selectedPair(primary).then((seen) => {
        const { path, roundTripMs } = seen;
        if (this.connections.get(peerId) !== connection) return;
        if (connection.striping && roundTripMs !== null) connection.striping.roundTripMs = roundTripMs;
        if (connection.laneProbe) this.chooseLanes(peerId, connection, seen);
        if (path === 'unknown' || path === connection.path || this.connections.get(peerId) !== connection) return;
        connection.path = path;
        this.events.pathChanged(peerId, path);
      });
    }, PATH_CHECK_MS);
  }

  /**
   * Lanes chosen by the path: a short first round trip keeps one lane at once; a long one opens the
   * rest only when a later STUN check says so too (the shortest reading counts): a busy machine can
   * answer one check late on loopback, which once opened eight lanes to an exit next door (CI).
   * At most four more readings (12 s), then the shortest stands.
   */
  private chooseLanes(peerId: string, connection: Connection, seen: { roundTripMs: number | null; checks: number | null }): void {
    const allowed = connection.lanes.length;
    const probe = connection.laneProbe;
    if (!probe) {
      if (automaticLaneCount(seen.roundTripMs, allowed) === 1) {
        connection.lanesToOpen = 'all';
        return;
      }
      connection.laneProbe = { roundTripMs: seen.roundTripMs!, checks: seen.checks, readingsLeft: 4 };
      return;
    }
    probe.readingsLeft -= 1;
    const fresh = seen.checks !== null && seen.checks !== probe.checks;
    if (seen.roundTripMs !== null && fresh) probe.roundTripMs = Math.min(probe.roundTripMs, seen.roundTripMs);
    if (!fresh && probe.readingsLeft > 0) return; // the same check again: wait for a new one
    connection.lanesToOpen = 'all';
    connection.laneProbe = null;
    const wanted = automaticLaneCount(probe.roundTripMs, allowed);
    for (let further = 1; further < wanted; further += 1) if (!connection.lanes[further]) this.createLane(peerId, connection, further, true);
  }

  /** A message on one lane of a striped connection: a control message for our sending side, or a numbered frame. */
  private receivedOnLane(peerId: string, connection: Connection, striping: Striping, message: Uint8Array): void {
    if (isLaneControl(message)) {
      const resends = striping.sender.control(message);
      if (resends.length > 0) this.resend(connection, striping, resends);
      return;
    }
    const ack = striping.receiver.receive(message, performance.now());
    if (ack) this.sendControl(connection, striping, ack);
    if (striping.receiver.waitingSince === null) {
      if (striping.stallTimer) clearTimeout(striping.stallTimer);
      striping.stallTimer = null;
    } else if (!striping.stallTimer) {
      this.armStallTimer(peerId, connection, striping);
    }
  }

  /** The open lanes and recovery counts to the background (`onlyIfMoved`: skipped when the counts are as last told). */
  private reportLanes(peerId: string, connection: Connection, striping: Striping, onlyIfMoved = false): void {
    striping.recovery.duplicates = striping.receiver.duplicates;
    const total = striping.recovery.asked + striping.recovery.resent + striping.recovery.duplicates;
    if (onlyIfMoved && total === striping.reportedRecovery) return;
    striping.reportedRecovery = total;
    this.events.lanesChanged(peerId, connection.channels.length, { ...striping.recovery });
  }

  private stallMs(striping: Striping): number {
    return Math.max(MIN_LANE_STALL_MS, 4 * (striping.roundTripMs ?? 0));
  }

  /** While a gap waits: ask for what it lacks each time it has waited a stall's length, until it fills. */
  private armStallTimer(peerId: string, connection: Connection, striping: Striping): void {
    striping.stallTimer = setTimeout(() => {
      striping.stallTimer = null;
      if (this.connections.get(peerId) !== connection || striping.receiver.waitingSince === null) return;
      const request = striping.receiver.resendRequest(performance.now(), this.stallMs(striping));
      if (request) {
        striping.recovery.asked += request.byteLength / LANE_HEADER_BYTES - 1;
        this.sendControl(connection, striping, request);
      }
      this.armStallTimer(peerId, connection, striping);
    }, this.stallMs(striping));
  }

  /**
   * Lane control goes out at once, past the outbox (it unblocks the peer's whole connection), on the
   * lane the peer was last heard on: when one lane is stalled, the least queued may well be that one.
   */
  private sendControl(connection: Connection, striping: Striping, message: Uint8Array<ArrayBuffer>): void {
    const channel = striping.lastHeard?.readyState === 'open' ? striping.lastHeard : connection.channels[pickLane(connection.channels, Infinity)];
    if (channel?.readyState === 'open') channel.send(message);
  }

  /**
   * Messages the peer lacks, sent again on other lanes than their first, and those lanes rest a
   * while. A message its lane's own buffer still holds when first asked for has not left this
   * browser: its lane is slow, not stalled, and it goes out in turn (sending it twice would only add
   * to the load); asked for again, a stall later, it is sent again wherever it is.
   */
  private resend(connection: Connection, striping: Striping, resends: readonly LaneResend[]): void {
    const now = performance.now();
    const channels = connection.channels;
    const gone = resends.filter(({ lane, laneBytesThrough, asks }) => asks > 1 || striping.laneBytes[lane]! - channels[lane]!.bufferedAmount >= laneBytesThrough);
    for (const { lane } of gone) striping.restUntil[lane] = now + STALLED_LANE_REST_MS;
    this.refreshResting(striping, now);
    for (const { message, lane } of gone) {
      // The least queued lane that is neither its first nor resting (a resting one if no other is left).
      const index = pickLane(channels, Infinity, striping.resting.map((resting, other) => resting || other === lane));
      if (index === lane || index === -1) continue; // no other lane to take it
      channels[index]!.send(message);
      connection.sentBytes += message.byteLength;
      striping.laneBytes[index]! += message.byteLength;
      striping.recovery.resent += 1;
    }
  }

  private refreshResting(striping: Striping, now: number): void {
    for (let index = 0; index < striping.restUntil.length; index += 1) striping.resting[index] = striping.restUntil[index]! > now;
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
    const channels = connection.channels;
    const highWater = Math.max(MIN_LANE_HIGH_WATER_BYTES, connection.drain.highWater() / Math.max(1, channels.length));
    if (highWater / 4 !== connection.lowWater) {
      connection.lowWater = highWater / 4;
      for (const channel of channels) channel.bufferedAmountLowThreshold = connection.lowWater;
    }
    const striping = connection.striping;
    if (striping) this.refreshResting(striping, performance.now());
    while (connection.outbox.length > 0) {
      const index = pickLane(channels, highWater, striping?.resting, striping ? striping.turn++ : 0);
      if (index === -1) break; // every lane is full: a bufferedamountlow event resumes
      if (channels[index]!.readyState !== 'open') return; // closing: its close event tears the peer down
      const next = connection.outbox.shift()!;
      let message = next;
      if (striping) {
        message = striping.sender.stamp(next, index, striping.laneBytes[index]);
        striping.laneBytes[index]! += message.byteLength;
      }
      channels[index]!.send(message as Uint8Array<ArrayBuffer>);
      connection.sentBytes += message.byteLength;
    }
    // Only a pump that left frames waiting says how fast the channels drain; one that ran dry does not.
    if (connection.outbox.length === 0) {
      connection.drain.dry();
      return;
    }
    let buffered = 0;
    for (const channel of channels) buffered += channel.bufferedAmount;
    connection.drain.sample(performance.now(), connection.sentBytes, buffered);
  }

  close(peerId: string, reason: string): void {
    const connection = this.connections.get(peerId);
    if (!connection) return;
    this.connections.delete(peerId);
    if (connection.pathTimer) clearInterval(connection.pathTimer);
    if (connection.striping?.stallTimer) clearTimeout(connection.striping.stallTimer);
    for (const lane of connection.lanes) {
      if (!lane) continue;
      clearTimeout(lane.connectTimer);
      lane.peer.destroy();
    }
    this.events.peerDown(peerId, reason);
  }

  closeAll(reason: string): void {
    for (const peerId of [...this.connections.keys()]) this.close(peerId, reason);
  }
}

/**
 * A candidate pair's round trip in ms from its STUN checks: the latest (Chromium), else the mean of
 * every check so far (Firefox reports only `totalRoundTripTime` and `responsesReceived`); null: neither.
 */
function roundTripOf(pair: Record<string, unknown>): number | null {
  if (typeof pair.currentRoundTripTime === 'number') return pair.currentRoundTripTime * 1000;
  const { totalRoundTripTime: total, responsesReceived: responses } = pair;
  return typeof total === 'number' && typeof responses === 'number' && responses > 0 ? (total / responses) * 1000 : null;
}

/** simple-peer keeps its RTCDataChannel private; we need it for bufferedAmount backpressure and to tell lanes apart. */
function channelOf(peer: SimplePeer.Instance): RTCDataChannel | null {
  return (peer as unknown as { _channel?: RTCDataChannel })._channel ?? null;
}

/**
 * From the connection's selected ICE candidate pair: a relay candidate on either end means relayed;
 * and the pair's latest round trip (its STUN consent checks), where the browser reports it.
 */
async function selectedPair(peer: SimplePeer.Instance): Promise<{ path: PeerPath; roundTripMs: number | null; checks: number | null }> {
  const unknown = { path: 'unknown' as const, roundTripMs: null, checks: null };
  const connection = (peer as unknown as { _pc?: RTCPeerConnection })._pc;
  if (!connection) return unknown;
  try {
    const report = await connection.getStats();
    const entries = new Map<string, Record<string, unknown>>();
    report.forEach((entry: Record<string, unknown>) => entries.set(String(entry.id), entry));
    const transport = [...entries.values()].find((entry) => entry.type === 'transport' && typeof entry.selectedCandidatePairId === 'string');
    // Chromium names the pair on the transport; Firefox marks the pair itself as selected.
    const pair = transport
      ? entries.get(String(transport.selectedCandidatePairId))
      : [...entries.values()].find((entry) => entry.type === 'candidate-pair' && (entry.selected === true || (entry.nominated === true && entry.state === 'succeeded')));
    if (!pair) return unknown;
    const local = entries.get(String(pair.localCandidateId));
    const remote = entries.get(String(pair.remoteCandidateId));
    const roundTripMs = roundTripOf(pair);
    // How many STUN answers the pair has had: a reading at a new count is a new measurement.
    const checks = typeof pair.responsesReceived === 'number' ? pair.responsesReceived : null;
    if (!local || !remote) return { path: 'unknown', roundTripMs, checks };
    return { path: local.candidateType === 'relay' || remote.candidateType === 'relay' ? 'relayed' : 'direct', roundTripMs, checks };
  } catch {
    return unknown;
  }
}
