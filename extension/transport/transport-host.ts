import {
  MAX_EXCLUDED_EXITS,
  SIGNALING_PROTOCOL,
  type IceServerConfig,
  type NatKind,
  type ServerMessage,
} from '../../protocol/signaling-messages';
import type { FromTransport, ToTransport, TransportConfig, TransportStatus } from '../core/channels/transport-channel';
import { loadIdentity } from './identity';
import { watchDevice } from './device-probe';
import { probeNat } from './nat-probe';
import { PeerMesh } from './peer-mesh';
import { SignalingClient } from './signaling-client';

/**
 * The transport host: signaling plus the peer mesh, driven by ToTransport messages and reporting
 * FromTransport ones. Chrome runs it in the offscreen document (the service worker has no
 * RTCPeerConnection); Firefox runs it in the background page. Same class, different wiring.
 */
const TARGET_EXITS = 3;
const FIND_EXITS_EVERY_MS = 3000;
/** After a request found no peer, keep looking for exits this long even if no site is routed. */
const DEMAND_WINDOW_MS = 60_000;

export class TransportHost {
  private config: TransportConfig | null = null;
  private status: TransportStatus = {
    signaling: 'offline',
    selfId: null,
    availableExits: 0,
    unreachableExits: 0,
    nat: 'unknown',
    circles: null,
    device: { onBattery: null, metered: null },
  };
  /** The circles last told to signaling on this registration (JSON), so an update carries them only when they change. */
  private circlesSent: string | null = null;
  /** Exits the background last said paused sharing (need-exits). */
  private pausedExits = new Set<string>();
  /** This connection's challenge: a `register` signs it (stable identity, `identity.ts`). */
  private nonce: string | null = null;
  /** Registered on the current signaling connection (the id stays shown across reconnects; this does not). */
  private registered = false;
  /** The ICE servers the NAT kind was last probed with, so a re-registration does not probe again. */
  private probedWith: string | null = null;
  /**
   * Until the NAT probe has answered (at most 5 s after registering) this browser neither asks for
   * exits nor offers itself as one: an introduction needs both NAT kinds to choose direct or relay.
   */
  private natProbed = false;
  private demandUntil = 0;
  private findTimer: ReturnType<typeof setInterval> | null = null;
  /** Exits re-report their load this often (signaling's `refreshMs`), or signaling stops introducing them. */
  private refreshTimer: ReturnType<typeof setInterval> | null = null;
  private readonly signaling: SignalingClient;
  private readonly mesh: PeerMesh;

  constructor(private readonly emit: (message: FromTransport) => void) {
    watchDevice((device) => this.setStatus({ device }));
    this.mesh = new PeerMesh({
      signal: (peerId, data) => this.signaling.send({ type: 'signal', to: peerId, data }),
      peerUp: (peerId, remoteRole, route, connection) => {
        this.emit({ type: 'peer-up', peerId, remoteRole, ...route, connection });
        this.reportLoad();
      },
      pathChanged: (peerId, route) => this.emit({ type: 'peer-path', peerId, ...route }),
      peerReconnecting: (peerId, graceMs) => this.emit({ type: 'peer-reconnecting', peerId, graceMs }),
      lanesChanged: (peerId, lanes, recovery) => this.emit({ type: 'peer-lanes', peerId, lanes, recovery }),
      peerDown: (peerId, reason) => {
        this.emit({ type: 'peer-down', peerId, reason });
        this.reportLoad();
      },
      // As received: a host that must copy to cross a context boundary does so itself (Chrome's offscreen).
      frame: (peerId, data) => this.emit({ type: 'frame', peerId, data }),
    });
    this.signaling = new SignalingClient({
      // Nothing to send yet: the server's challenge comes first, then we register.
      onOpen: () => undefined,
      onMessage: (message) => this.onSignalingMessage(message),
      onStatus: (signaling) => {
        // Every new socket is preceded by 'connecting': the old challenge and registration end here.
        if (signaling !== 'connected') {
          this.nonce = null;
          this.registered = false;
          this.circlesSent = null;
          this.mesh.setSignalingUp(false);
        }
        // The id is stable: it stays shown while signaling is away (the data channels stay up too).
        this.setStatus({ signaling });
      },
      onInvalid: (reason) => console.warn('[peerlane] signaling:', reason),
    });
  }

  handle(message: ToTransport): void {
    switch (message.type) {
      case 'configure':
        this.configure(message.config);
        return;
      case 'need-exits':
        this.demandUntil = Date.now() + DEMAND_WINDOW_MS;
        this.pausedExits = new Set(message.paused ?? []);
        this.findExits();
        return;
      case 'frame':
        this.mesh.send(message.peerId, message.data);
        return;
      case 'close-peer':
        this.mesh.close(message.peerId, message.reason);
        return;
      case 'report-exit':
        // Reported once, when caught (signaling counts independent reports); unsent while signaling is away.
        // The connection ends by the configuration that follows (`avoidExits`), as after a restart.
        if (this.registered)
          this.signaling.send({ type: 'report-exit', peerId: message.peerId, reason: message.reason });
        return;
    }
  }

  private avoided(peerId: string): boolean {
    return this.config?.avoidExits.includes(peerId) ?? false;
  }

  private configure(config: TransportConfig): void {
    const previous = this.config;
    this.config = config;
    // Exits connected from now on; a connection keeps the lanes it was made with.
    this.mesh.setLanesPerExit(config.lanesPerExit, config.autoLanes);
    // Report the current peers so a restarted background (Chrome SW) rebuilds its sessions.
    this.emit({ type: 'status', status: this.status });
    for (const { peerId, remoteRole, route, connection } of this.mesh.connectedPeers())
      this.emit({ type: 'peer-up', peerId, remoteRole, ...route, connection });
    // The background ended what it served (ERROR frames, sent before this configuration): they go first.
    if (previous?.share && !config.share)
      for (const peer of this.mesh.connectedPeers())
        if (peer.remoteRole === 'requester') this.mesh.closeWhenSent(peer.peerId, 'sharing turned off');
    for (const peer of this.mesh.connectedPeers())
      if (peer.remoteRole === 'exit' && this.avoided(peer.peerId))
        this.mesh.close(peer.peerId, 'exit caught altering answers');
    if (
      previous &&
      (previous.signalingUrl !== config.signalingUrl || previous.signalingToken !== config.signalingToken)
    )
      this.signaling.disconnect();
    this.signaling.connect(config.signalingUrl, config.signalingToken);
    if (previous && this.signaling.connected) this.reportLoad();
    if (!this.findTimer) this.findTimer = setInterval(() => this.findExits(), FIND_EXITS_EVERY_MS);
  }

  /** Proves this install's key over the server's nonce and host; the server derives the stable id from the key. */
  private async register(): Promise<void> {
    const config = this.config;
    const nonce = this.nonce;
    if (!config || !nonce) return;
    try {
      const identity = await loadIdentity();
      const signature = await identity.prove(new URL(config.signalingUrl).host, nonce);
      if (this.nonce !== nonce) return; // reconnected meanwhile: the new challenge registers
      const circles = config.circles;
      this.circlesSent = JSON.stringify(circles);
      this.signaling.send({
        type: 'register',
        protocol: SIGNALING_PROTOCOL,
        publicKey: identity.publicKey,
        signature,
        exit: this.offersExit(),
        capacity: config.exitCapacity,
        load: this.mesh.count('requester'),
        nat: this.status.nat,
        circles,
      });
    } catch (error) {
      console.warn("[peerlane] cannot prove this install's identity:", error);
    }
  }

  private offersExit(): boolean {
    return Boolean(this.config?.share) && this.natProbed;
  }

  private reportLoad(): void {
    const config = this.config;
    if (!config || !this.registered) return;
    const circles = JSON.stringify(config.circles);
    const changed = circles !== this.circlesSent;
    this.circlesSent = circles;
    this.signaling.send({
      type: 'update',
      exit: this.offersExit(),
      capacity: config.exitCapacity,
      load: this.mesh.count('requester'),
      nat: this.status.nat,
      ...(changed ? { circles: config.circles } : {}),
    });
  }

  /**
   * The operator's ICE servers, or else the STUN servers from the settings. A signaling server on
   * loopback means every peer runs on this machine: STUN would learn nothing, and development and
   * tests stay off the internet.
   */
  private iceServersFrom(offered: IceServerConfig[]): IceServerConfig[] {
    if (offered.length > 0 || !this.config) return offered;
    const host = new URL(this.config.signalingUrl).hostname;
    if (host === 'localhost' || host === '[::1]' || /^127\./.test(host)) return [];
    return this.config.stunServers.map((url) => ({ urls: [url] }));
  }

  private async learnNat(iceServers: IceServerConfig[]): Promise<void> {
    const key = JSON.stringify(iceServers.map((server) => server.urls));
    if (this.probedWith === key) return;
    this.probedWith = key;
    this.natProbed = false;
    const nat: NatKind = await probeNat(iceServers).catch(() => 'unknown' as const);
    this.natProbed = true;
    this.setStatus({ nat });
    this.reportLoad();
    this.findExits();
  }

  private wantsExits(): boolean {
    return Boolean(this.config?.wantExits) || Date.now() < this.demandUntil;
  }

  private findExits(): void {
    if (!this.wantsExits() || !this.registered || !this.natProbed) return;
    // An exit connected (or connecting) counts, unless it paused sharing: it carries nothing now.
    const have = this.mesh.count('exit') - [...this.pausedExits].filter((peerId) => this.mesh.has(peerId)).length;
    if (have >= TARGET_EXITS) return;
    const exclude = [
      ...this.mesh.connectedPeers().map((peer) => peer.peerId),
      ...(this.config?.avoidExits ?? []),
    ].slice(0, MAX_EXCLUDED_EXITS);
    this.signaling.send({
      type: 'find-exits',
      count: TARGET_EXITS - have,
      exclude,
      preferCircles: Boolean(this.config?.preferCircles),
    });
  }

  private onSignalingMessage(message: ServerMessage): void {
    switch (message.type) {
      case 'challenge':
        this.nonce = message.nonce;
        void this.register();
        return;
      case 'registered': {
        this.registered = true;
        this.mesh.setSignalingUp(true);
        this.setStatus({ selfId: message.peerId });
        const relayOnly = Boolean(this.config?.relayOnly);
        const iceServers = this.iceServersFrom(message.iceServers);
        this.mesh.setRtcConfig({ iceServers, iceTransportPolicy: relayOnly ? 'relay' : 'all' });
        void this.learnNat(iceServers);
        if (this.refreshTimer) clearInterval(this.refreshTimer);
        this.refreshTimer = setInterval(() => {
          if (this.config?.share) this.reportLoad();
        }, message.refreshMs);
        this.findExits();
        return;
      }
      case 'reconnect':
        // Existing data channels stay up; only signaling moves (to another node behind the balancer).
        this.signaling.reconnectWithin(message.withinMs);
        return;
      case 'exits': {
        const usable = message.exits.filter((exit) => !this.avoided(exit.peerId));
        const available = usable.length + this.mesh.count('exit', false);
        this.setStatus({
          availableExits: available,
          unreachableExits: available === 0 ? (message.unreachable ?? 0) : 0,
        });
        for (const exit of usable) this.mesh.connectToExit(exit.peerId);
        return;
      }
      case 'signal':
        this.mesh.handleSignal(message.from, message.data, Boolean(this.config?.share));
        return;
      case 'peer-gone':
        this.mesh.peerLeftSignaling(message.peerId);
        return;
      case 'circles':
        this.setStatus({ circles: { member: message.member, refused: message.refused } });
        return;
      case 'circle-revocation':
        this.emit({ type: 'circle-revocation', list: message.list });
        return;
      case 'access-ended':
        // Signaling says this pairing no longer holds (a revoked member, a narrowed exit): an exit
        // stops serving at once; a requester stops using the exit (the queue moves its requests on).
        this.mesh.close(message.peerId, `access ended: ${message.reason}`);
        return;
      case 'error':
        console.warn('[peerlane] signaling error', message.code, message.message);
        return;
    }
  }

  private setStatus(change: Partial<TransportStatus>): void {
    this.status = { ...this.status, ...change };
    this.emit({ type: 'status', status: this.status });
  }
}
