import { PROTOCOL_VERSION, REQUEST_BODY_CREDIT, type Hello } from '../core/protocol/frames';
import type { PopupState } from '../core/channels/popup-channel';
import type { FromTransport, TransportLink, TransportStatus } from '../core/channels/transport-channel';
import type { ExitFetcher } from '../core/exit/exit-service';
import type { RequestHead } from '../core/protocol/frames';
import type { Priority } from '../core/queue/request-queue';
import { routeChannels } from './channels/channel-router';
import { Configuration } from './configuration/configuration';
import { PeerRegistry, shortPeerId } from './peers/peer-registry';
import type { BackgroundPlatform } from './platform/platform';
import { fetchThroughPeers } from './requester/peer-fetch';
import { serveRequestPort } from './requester/request-ports';
import { ExitChecks } from './requester/exit-checks';
import { Requester } from './requester/requester';
import { ShareConditions } from './sharing/share-conditions';
import { Sharing } from './sharing/sharing';
import { StatePublisher } from './state-publisher';
import { Telemetry } from './telemetry/telemetry';
import { circleStatus } from '../core/circles/circles';
import { displayUrl } from '../core/stats/request-log';
import { PeerlaneError } from '../core/errors';
import { RoutedCache } from '../core/http/routed-cache';

/**
 * The composition root of both browsers' background: it builds the services, each with one job,
 * and wires their events. Hosts (extension/hosts/) hand it the platform, the link to the transport
 * and their exit fetcher; nothing here touches `browser.*`.
 *
 *   configuration/  settings + site access        peers/      one Peer per connected peer
 *   requester/      queue, routing, sinks, ports  sharing/    the exit side and its caps
 *   telemetry/      stats, log, timeline, saves   channels/   who may connect, parsed once
 *   state-publisher the popup's pushes
 */
export interface BackgroundHost {
  transport: TransportLink;
  exitFetcher: ExitFetcher;
  /** Chrome: keep the service worker alive while requests are in flight. */
  onBusyChange?(busy: boolean): void;
}

export interface Background {
  /** Settings and counters loaded; ports are served from then on. */
  readonly ready: Promise<void>;
  /** Everything the transport reports, already validated where it crossed a context boundary. */
  fromTransport(message: FromTransport): void;
  fetchThroughPeers(head: RequestHead, priority: Priority, signal: AbortSignal): Promise<Response>;
  state(): PopupState;
}

export function createBackground(platform: BackgroundPlatform, host: BackgroundHost): Background {
  const startedAt = platform.now();
  let transportStatus: TransportStatus = {
    signaling: 'offline',
    selfId: null,
    availableExits: 0,
    unreachableExits: 0,
    nat: 'unknown',
    circles: null,
    device: { onBattery: null, metered: null },
  };
  const configuration = new Configuration(platform);
  // The queue is made below; the telemetry's gauges first read it a second from now.
  const telemetry: Telemetry = new Telemetry(platform, () => ({ queued: queue.queued, inflight: queue.inflight }));
  const conditions = new ShareConditions(platform, configuration, telemetry);
  const sharing: Sharing = new Sharing(platform, configuration, telemetry, host.exitFetcher, conditions);
  const hello = (): Hello => ({
    version: PROTOCOL_VERSION,
    role: configuration.offering ? 'exit' : 'requester',
    capabilities: ['credit', REQUEST_BODY_CREDIT],
    // Requesters refuse a method this exit does not carry before any byte leaves (requester.ts).
    ...(configuration.offering ? { methods: [...configuration.settings.exitMethods] } : {}),
    // 0 while paused (schedule, quota, battery, the person): requesters keep the session and wait for another exit.
    exitCapacity: configuration.sharing ? configuration.settings.exitCaps.maxConcurrent : 0,
  });
  const peers: PeerRegistry = new PeerRegistry({
    clock: platform.clock,
    every: (ms, callback) => platform.every(ms, callback),
    send: (peerId, frame) => host.transport.send({ type: 'frame', peerId, data: frame }),
    closePeer: (peerId, reason) => host.transport.send({ type: 'close-peer', peerId, reason }),
    hello,
    exitHandlerFor: (peerId) => sharing.handlerFor(peerId),
    exitAvailable: (peerId, capacity) => queue.addPeer(peerId, capacity),
    exitGone: (peerId) => queue.removePeer(peerId),
    protocolError: (peerId, error) =>
      platform.log.warn('[peerlane] protocol', shortPeerId(peerId), error.category, error.message),
  });
  const checks = new ExitChecks({
    clock: platform.clock,
    peers,
    exits: () => queue.peers(),
    telemetry,
    percent: () => configuration.settings.checkExitsPercent,
    flag: (peerId, url) => {
      platform.log.warn(
        '[peerlane] exit',
        shortPeerId(peerId),
        'altered an answer two other exits agree on:',
        displayUrl(url),
      );
      queue.removePeer(peerId);
      // Nothing it supplied is answered from the cache again.
      void cache.dropExit(peerId).catch(() => undefined);
      host.transport.send({ type: 'report-exit', peerId, reason: 'altered_body' });
      void configuration.flagExit({ peerId, at: platform.now(), url: displayUrl(url) });
    },
  });
  const cache = new RoutedCache(platform.cacheStore, {
    now: platform.now,
    maxBytes: () => configuration.settings.cacheMaxMB * 1024 * 1024,
    maxFreshMs: () => configuration.settings.cacheFreshHours * 3_600_000,
  });
  const requester: Requester = new Requester({
    clock: platform.clock,
    now: platform.now,
    peers,
    telemetry,
    checks,
    cache,
  });
  const queue: Requester['queue'] = requester.queue;
  const ready = Promise.all([configuration.ready, telemetry.ready]).then(() => undefined);

  const state = (): PopupState => {
    const balance = new Map(queue.peers().map((peer) => [peer.peerId, peer]));
    return {
      stats: telemetry.snapshot({
        queued: queue.queued,
        queuedByPriority: queue.queuedByPriority(),
        inflight: queue.inflight,
        peers: queue.peerCount,
      }),
      peers: peers.all().map((peer) => {
        const view = balance.get(peer.id);
        return {
          peerId: shortPeerId(peer.id),
          remoteRole: peer.remoteRole,
          path: peer.path,
          pair: peer.pair,
          lanes: peer.lanes,
          laneRecovery: peer.laneRecovery,
          // Exits: what our queue has on them. Requesters: what we serve them now.
          inflight: view?.outstanding ?? peer.session.openStreams,
          rttMs: peer.rttMs,
          ttfbMs: view?.ewmaTtfbMs ?? null,
          successRatio: view?.successRatio ?? null,
          health: view?.health ?? null,
        };
      }),
      transport: transportStatus,
      settings: configuration.settings,
      log: telemetry.latestLog(),
      timeline: telemetry.timelineSamples(),
      backgroundStartedAt: startedAt,
      access: configuration.access,
      sharingNow: { pause: conditions.pauseReason, backingOff: conditions.yielding, device: conditions.deviceState },
      flaggedExits: configuration.flaggedExits.map((flagged) => ({ ...flagged, peerId: shortPeerId(flagged.peerId) })),
      circles: configuration.circles.joined.map((joined) => ({
        circle: joined.credential.circle,
        name: joined.credential.name,
        owner: joined.owner,
        status: circleStatus(configuration.circles, joined.credential, transportStatus.circles),
      })),
    };
  };
  const publisher = new StatePublisher(platform.clock, state);

  // Busy while anything is queued, in flight or being served (Chrome keeps its worker up then).
  let busy = false;
  const checkBusy = (): void => {
    const now = queue.inflight + queue.queued + sharing.activeStreams > 0;
    if (now === busy) return;
    busy = now;
    host.onBusyChange?.(now);
  };
  const configureTransport = (): void =>
    host.transport.send({ type: 'configure', config: configuration.transportConfig() });

  queue.subscribe((event) => {
    telemetry.onQueueEvent(event);
    if (event.type === 'no_peers') {
      const paused = queue.peers().filter((peer) => peer.health === 'paused');
      host.transport.send({ type: 'need-exits', paused: paused.slice(0, 64).map((peer) => peer.peerId) });
    }
    checkBusy();
    publisher.changed();
  });
  // A changed setting travels on the live sessions (an updated HELLO), never by closing them.
  let helloSaid = JSON.stringify(hello());
  let offered = configuration.offering;
  configuration.changes.on(() => {
    queue.configure(configuration.queueOptions());
    requester.bodyStallMs = configuration.bodyStallMs();
    if (offered && !configuration.offering) {
      // Sharing turned off: what is being served ends now, told to each requester (it resumes or
      // retries elsewhere), before the transport closes those connections.
      peers.endServed(
        new PeerlaneError('sharing_off', `this peer ${configuration.notSharingReason ?? 'stopped sharing'}`),
      );
    }
    offered = configuration.offering;
    const said = JSON.stringify(hello());
    if (said !== helloSaid) {
      helloSaid = said;
      peers.helloChanged();
    }
    configureTransport();
    publisher.changed();
  });
  sharing.changes.on(() => {
    checkBusy();
    publisher.changed();
  });
  telemetry.changes.on(() => publisher.changed());
  conditions.changes.on(() => publisher.changed());
  peers.changes.on(() => publisher.changed());

  routeChannels(platform, configuration, telemetry, ready, {
    popup: (port) => publisher.add(port),
    request: (port) => serveRequestPort(requester, port),
    viewer: (port) => serveRequestPort(requester, port),
  });

  return {
    ready,
    state,
    fromTransport(message) {
      switch (message.type) {
        case 'transport-ready':
          configureTransport();
          return;
        case 'status':
          transportStatus = message.status;
          queue.setUnreachable(unreachableReason(message.status));
          conditions.deviceChanged(message.status.device);
          publisher.changed();
          return;
        case 'peer-up':
          peers.up(message.peerId, message.remoteRole, message, message.connection);
          return;
        case 'peer-path':
          peers.pathChanged(message.peerId, message);
          break;
        case 'peer-reconnecting':
          peers.reconnecting(message.peerId, message.graceMs);
          return;
        case 'peer-lanes':
          peers.lanesChanged(message.peerId, message.lanes, message.recovery);
          return;
        case 'peer-down':
          peers.down(message.peerId, message.reason);
          return;
        case 'frame':
          peers.receive(message.peerId, message.data);
          return;
        case 'circle-revocation':
          void configuration.keepRevocations(message.list);
          return;
      }
    },
    fetchThroughPeers: (head, priority, signal) =>
      ready.then(() => fetchThroughPeers(requester, head, priority, signal)),
  };
}

/** Why no exit can be reached, in words, when signaling says so (null: exits can be, or none is online). */
function unreachableReason({ unreachableExits, availableExits, nat }: TransportStatus): string | null {
  if (unreachableExits === 0 || availableExits > 0) return null;
  return `${unreachableExits} exit${unreachableExits === 1 ? ' is' : 's are'} online, but none can reach this browser: its NAT (${nat}) and theirs cannot meet directly, and the signaling server offers no relay (TURN)`;
}
