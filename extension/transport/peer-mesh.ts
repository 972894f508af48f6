import SimplePeer from 'simple-peer';
import type { SignalData } from '../../signaling-server/protocol';
import type { PeerPath } from '../core/channels/transport-channel';
import { LaneReassembler, LaneStamper, MAX_LANES, pickLane } from '../core/peers/lanes';
import { cancelledStream, DrainRate, Outbox } from '../core/peers/outbox';

/**
 * The WebRTC side: per peer one simple-peer connection with one reliable ordered data channel, or
 * with `lanes` > 1 (requester's choice, `lanesPerExit`) several, each its own peer connection and so
 * its own SCTP association, frames striped over them and put back in order (core/peers/lanes.ts).
 * simple-peer connects; frames are pumped with `send()` under our own bufferedAmount backpressure,
 * because its Duplex write path measured 3.8 MB/s at 16 KiB against 22.6 MB/s this way (ARCHITECTURE.md, "Measured facts").
 */
export interface PeerMeshEvents {
  signal(peerId: string, data: SignalData): void;
  peerUp(peerId: string, remoteRole: 'requester' | 'exit', path: PeerPath): void;
  peerDown(peerId: string, reason: string): void;
  pathChanged(peerId: string, path: PeerPath): void;
  /** A further lane of a striped peer opened: the count of open ones. */
  lanesChanged(peerId: string, open: number): void;
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
  striping: { stamper: LaneStamper; reassembler: LaneReassembler } | null;
  /** Frames put back in order before the peer was reported up (another lane opened first). */
  early: Uint8Array[];
  pathTimer: ReturnType<typeof setInterval> | null;
}

/** Signals of a striped connection name their lane and the lane count. */
type LaneSignal = SignalData & { lane?: unknown; lanes?: unknown };

export class PeerMesh {
  private readonly connections = new Map<string, Connection>();
  private lanesPerExit = 1;

  constructor(
    private readonly events: PeerMeshEvents,
    private rtcConfig: RTCConfiguration = { iceServers: [] },
  ) {}

  /** ICE servers (TURN from signaling) and policy for connections made from now on. */
  setRtcConfig(config: RTCConfiguration): void {
    this.rtcConfig = config;
  }

  /** Peer connections per exit for connections made from now on (1: no striping; settings bound it to 1–MAX_LANES). */
  setLanesPerExit(lanes: number): void {
    this.lanesPerExit = lanes;
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
    for (let lane = 0; lane < this.lanesPerExit; lane += 1) this.createLane(peerId, connection, lane, true);
  }

  /** Relayed signal: answers a new requester (exit side) or feeds an existing connection's lane. */
  handleSignal(from: string, signal: LaneSignal, acceptRequesters: boolean): void {
    const { lane: laneField, lanes: lanesField, ...data } = signal;
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
      pathTimer: null,
    };
    if (lanes > 1) {
      connection.striping = {
        stamper: new LaneStamper(),
        reassembler: new LaneReassembler((frame) => (connection.connected ? this.received(peerId, connection, frame) : connection.early.push(frame))),
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
    peer.on('signal', (data: SignalData) => this.events.signal(peerId, lanes > 1 ? { ...data, lane: index, lanes } : data));
    peer.on('connect', async () => {
      clearTimeout(lane.connectTimer);
      if (index === 0) connection.path = await selectedPath(peer);
      if (!current()) return; // closed while asking
      // simple-peer keeps its RTCDataChannel private; we need it for bufferedAmount backpressure.
      const channel = (peer as unknown as { _channel?: RTCDataChannel })._channel ?? null;
      lane.open = true;
      if (channel) {
        connection.channels.push(channel);
        connection.lowWater = 0; // set again for every lane on the next pump
        channel.addEventListener('bufferedamountlow', () => this.flush(connection));
      }
      if (index === 0) this.up(peerId, connection, peer);
      if (connection.connected && connection.striping) this.events.lanesChanged(peerId, connection.channels.length);
      this.flush(connection);
    });
    peer.on('data', (data: Uint8Array) => {
      if (!connection.striping) {
        this.received(peerId, connection, data);
        return;
      }
      try {
        connection.striping.reassembler.receive(data);
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
      void selectedPath(primary).then((path) => {
        if (path === 'unknown' || path === connection.path || this.connections.get(peerId) !== connection) return;
        connection.path = path;
        this.events.pathChanged(peerId, path);
      });
    }, PATH_CHECK_MS);
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
    while (connection.outbox.length > 0) {
      const index = pickLane(channels, highWater);
      if (index === -1) break; // every lane is full: a bufferedamountlow event resumes
      if (channels[index]!.readyState !== 'open') return; // closing: its close event tears the peer down
      const next = connection.outbox.shift()!;
      const message = connection.striping ? connection.striping.stamper.stamp(next) : next;
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

/** From the connection's selected ICE candidate pair: a relay candidate on either end means relayed. */
async function selectedPath(peer: SimplePeer.Instance): Promise<PeerPath> {
  const connection = (peer as unknown as { _pc?: RTCPeerConnection })._pc;
  if (!connection) return 'unknown';
  try {
    const report = await connection.getStats();
    const entries = new Map<string, Record<string, unknown>>();
    report.forEach((entry: Record<string, unknown>) => entries.set(String(entry.id), entry));
    const transport = [...entries.values()].find((entry) => entry.type === 'transport' && typeof entry.selectedCandidatePairId === 'string');
    // Chromium names the pair on the transport; Firefox marks the pair itself as selected.
    const pair = transport
      ? entries.get(String(transport.selectedCandidatePairId))
      : [...entries.values()].find((entry) => entry.type === 'candidate-pair' && (entry.selected === true || (entry.nominated === true && entry.state === 'succeeded')));
    if (!pair) return 'unknown';
    const local = entries.get(String(pair.localCandidateId));
    const remote = entries.get(String(pair.remoteCandidateId));
    if (!local || !remote) return 'unknown';
    return local.candidateType === 'relay' || remote.candidateType === 'relay' ? 'relayed' : 'direct';
  } catch {
    return 'unknown';
  }
}
