import type { ExitRecord, SignalingBus } from './bus';
import { sendTo, type Peer } from './peer';
import type { ExitSummary } from './protocol';

/**
 * The exit directory: every exit any node offers, as last published (this node's own included),
 * and introductions from it: least loaded first; among equals, the most recently refreshed; ties
 * shuffled so requesters spread. An exit not refreshed for 2.5× `exitRefreshMs` is no longer introduced.
 */
/** How often, at most, an exit's load is re-published after introductions change it. */
const LOAD_PUBLISH_MS = 200;

export class ExitDirectory {
  private readonly records = new Map<string, ExitRecord>();
  private readonly ttlMs: number;
  // Load changes from introductions are published at most every LOAD_PUBLISH_MS per exit: under a
  // burst of introductions, one Redis write instead of one per introduction. Nodes bump their own
  // copy at once, so spreading does not wait for it.
  private readonly loadChanged = new Set<string>();
  private loadTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly bus: SignalingBus,
    private readonly peers: ReadonlyMap<string, Peer>,
    private readonly exitRefreshMs: number,
  ) {
    this.ttlMs = exitRefreshMs * 2.5;
  }

  /** What the bus reports: a record published (by any node), or removed (null). */
  onBusExit(peerId: string, record: ExitRecord | null): void {
    if (record) this.records.set(peerId, record);
    else this.records.delete(peerId);
  }

  publish(exit: Peer): void {
    this.bus.publishExit({ peerId: exit.id, capacity: exit.capacity, load: exit.load + exit.introducedTo.size, seenAt: Date.now() });
  }

  remove(peerId: string): void {
    this.bus.removeExit(peerId);
  }

  publishLoadSoon(exit: Peer): void {
    this.loadChanged.add(exit.id);
    this.loadTimer ??= setTimeout(() => {
      this.loadTimer = null;
      for (const peerId of this.loadChanged) {
        const peer = this.peers.get(peerId);
        if (peer?.exit) this.publish(peer);
      }
      this.loadChanged.clear();
    }, LOAD_PUBLISH_MS);
  }

  /** Introduces `requester` to up to `count` exits, partners on both sides where the exit is here. */
  introduce(requester: Peer, count: number, exclude: Set<string>): ExitSummary[] {
    const chosen = this.choose(requester, count, exclude);
    for (const record of chosen) {
      requester.partners.add(record.peerId);
      // Counted at once here, so the next requester spreads, until the exit's node publishes again.
      record.load += 1;
      const local = this.peers.get(record.peerId);
      if (local) {
        local.partners.add(requester.id);
        local.introducedTo.add(requester.id);
        this.publishLoadSoon(local);
      }
      // An exit on another node learns of the requester from its first relayed signal (relay.ts).
    }
    return chosen.map((record) => ({ peerId: record.peerId, capacity: record.capacity, load: record.load }));
  }

  /** `peerId` left: `partner` (on this node) forgets it and hears so. */
  forgetPartner(partner: Peer, peerId: string): void {
    partner.partners.delete(peerId);
    if (partner.introducedTo.delete(peerId) && partner.exit) this.publishLoadSoon(partner);
    sendTo(partner, { type: 'peer-gone', peerId });
  }

  /** Drops exits whose node stopped refreshing them. */
  sweep(now: number): void {
    for (const [peerId, record] of this.records) if (now - record.seenAt > this.ttlMs) this.records.delete(peerId);
  }

  close(): void {
    if (this.loadTimer) clearTimeout(this.loadTimer);
  }

  private choose(requester: Peer, count: number, exclude: Set<string>): ExitRecord[] {
    const now = Date.now();
    const fresh = [...this.records.values()].filter((record) => record.capacity > 0 && now - record.seenAt <= this.ttlMs && record.peerId !== requester.id && !exclude.has(record.peerId));
    const ranked = fresh.map((record) => ({ record, load: Math.round((record.load / record.capacity) * 100), age: Math.floor((now - record.seenAt) / this.exitRefreshMs), tie: Math.random() }));
    ranked.sort((a, b) => a.load - b.load || a.age - b.age || a.tie - b.tie);
    return ranked.slice(0, count).map((entry) => entry.record);
  }
}
