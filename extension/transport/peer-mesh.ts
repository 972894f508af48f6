import SimplePeer from 'simple-peer';
import type { SignalData } from '../../signaling-server/protocol';
import type { PeerPath } from '../core/channels/transport-channel';

/**
 * The WebRTC side: one simple-peer connection and one reliable ordered data channel per peer.
 * simple-peer connects; frames are pumped with `send()` under our own bufferedAmount backpressure,
 * because its Duplex write path measured 3.8 MB/s at 16 KiB against 22.6 MB/s this way (ARCHITECTURE.md, "Measured facts").
 */
export interface PeerMeshEvents {
  signal(peerId: string, data: SignalData): void;
  peerUp(peerId: string, remoteRole: 'requester' | 'exit', path: PeerPath): void;
  peerDown(peerId: string, reason: string): void;
  pathChanged(peerId: string, path: PeerPath): void;
  frame(peerId: string, data: Uint8Array): void;
}

/** Pause sending above this much buffered data; resume when it drains below the low mark. */
const HIGH_WATER_BYTES = 4 * 1024 * 1024;
const LOW_WATER_BYTES = 1024 * 1024;
const CONNECT_TIMEOUT_MS = 20_000;
/** ICE may start on the relay and move to the direct pair once its checks pass: look again this often. */
const PATH_CHECK_MS = 3000;

interface Connection {
  peer: SimplePeer.Instance;
  remoteRole: 'requester' | 'exit';
  /** Answerer side: an offer was already taken (an initiator never receives one). */
  answered: boolean;
  connected: boolean;
  path: PeerPath;
  outbox: Uint8Array[];
  channel: RTCDataChannel | null;
  connectTimer: ReturnType<typeof setTimeout>;
  pathTimer: ReturnType<typeof setInterval> | null;
}

export class PeerMesh {
  private readonly connections = new Map<string, Connection>();

  constructor(
    private readonly events: PeerMeshEvents,
    private rtcConfig: RTCConfiguration = { iceServers: [] },
  ) {}

  /** ICE servers (TURN from signaling) and policy for connections made from now on. */
  setRtcConfig(config: RTCConfiguration): void {
    this.rtcConfig = config;
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
    this.create(peerId, true, 'exit');
  }

  /** Relayed signal: answers a new requester (exit side) or feeds an existing connection. */
  handleSignal(from: string, data: SignalData, acceptRequesters: boolean): void {
    let connection = this.connections.get(from);
    // A fresh offer from a requester we answered before: it lost that connection (ids are stable, so
    // it is the same peer) and starts over. Feeding it to the old one would corrupt both.
    if (connection?.answered && data.type === 'offer') {
      this.close(from, 'peer reconnected');
      connection = undefined;
    }
    if (!connection) {
      if (!acceptRequesters || data.type !== 'offer') return;
      connection = this.create(from, false, 'requester');
    }
    if (data.type === 'offer') connection.answered = true;
    connection.peer.signal(data as SimplePeer.SignalData);
  }

  private create(peerId: string, initiator: boolean, remoteRole: 'requester' | 'exit'): Connection {
    const peer = new SimplePeer({ initiator, trickle: true, config: this.rtcConfig, channelConfig: { ordered: true } });
    const connection: Connection = {
      peer,
      remoteRole,
      answered: false,
      connected: false,
      path: 'unknown',
      outbox: [],
      channel: null,
      connectTimer: setTimeout(() => this.close(peerId, 'connection timed out'), CONNECT_TIMEOUT_MS),
      pathTimer: null,
    };
    this.connections.set(peerId, connection);
    peer.on('signal', (data: SignalData) => this.events.signal(peerId, data));
    peer.on('connect', async () => {
      clearTimeout(connection.connectTimer);
      connection.path = await selectedPath(peer);
      if (this.connections.get(peerId) !== connection) return; // closed while asking
      connection.connected = true;
      // simple-peer keeps its RTCDataChannel private; we need it for bufferedAmount backpressure.
      const channel = (peer as unknown as { _channel?: RTCDataChannel })._channel ?? null;
      connection.channel = channel;
      if (channel) {
        channel.bufferedAmountLowThreshold = LOW_WATER_BYTES;
        channel.addEventListener('bufferedamountlow', () => this.flush(connection));
      }
      this.events.peerUp(peerId, remoteRole, connection.path);
      connection.pathTimer = setInterval(() => {
        void selectedPath(peer).then((path) => {
          if (path === 'unknown' || path === connection.path || this.connections.get(peerId) !== connection) return;
          connection.path = path;
          this.events.pathChanged(peerId, path);
        });
      }, PATH_CHECK_MS);
      this.flush(connection);
    });
    peer.on('data', (data: Uint8Array) => this.events.frame(peerId, data));
    peer.on('close', () => this.close(peerId, 'data channel closed'));
    peer.on('error', (error: Error & { code?: string }) => this.close(peerId, `${error.code ?? 'ERR'}: ${error.message}`));
    return connection;
  }

  send(peerId: string, data: Uint8Array): boolean {
    const connection = this.connections.get(peerId);
    if (!connection) return false;
    connection.outbox.push(data);
    if (connection.outbox.length === 1) this.flush(connection);
    return true;
  }

  private flush(connection: Connection): void {
    if (!connection.connected || !connection.channel) return;
    const channel = connection.channel;
    while (connection.outbox.length > 0 && channel.readyState === 'open' && channel.bufferedAmount < HIGH_WATER_BYTES) {
      const next = connection.outbox.shift()!;
      channel.send(next as Uint8Array<ArrayBuffer>);
    }
  }

  close(peerId: string, reason: string): void {
    const connection = this.connections.get(peerId);
    if (!connection) return;
    this.connections.delete(peerId);
    clearTimeout(connection.connectTimer);
    if (connection.pathTimer) clearInterval(connection.pathTimer);
    connection.peer.destroy();
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
