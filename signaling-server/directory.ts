import type { ExitRecord, SignalingBus } from './bus';
import { sharedCircles } from './circles';
import { addPartner, sendTo, type Peer } from './peer';
import type { ExitSummary } from '../protocol/signaling-messages';
import { directPossible } from './reachability';

/**
 * The exit directory: every exit any node offers, as last published (this node's own included),
 * and introductions from it: exits the requester can reach directly first (NAT kinds, `reachability.ts`),
 * then least loaded; among equals, the most recently refreshed; ties shuffled so requesters spread.
 * A pair that cannot meet directly is introduced with `relay: true` when a TURN relay is configured,
 * and not at all when none is. An exit not refreshed for 2.5× `exitRefreshMs` is no longer introduced.
 * Circles: an exit that serves only its circles is introduced only to their members; a requester
 * that prefers its circles gets their exits first. An exit reported by `reportThreshold` independent
 * requesters (each introduced to it) for answering differently from other exits is no longer introduced.
 */
/** How often, at most, an exit's load is re-published after introductions change it. */
const LOAD_PUBLISH_MS = 200;
const MAX_REPORTED_EXITS = 100_000;

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
    private readonly relayAvailable: boolean,
    private readonly reportThreshold: number,
    private readonly reportMinAgeMs: number,
  ) {
    this.ttlMs = exitRefreshMs * 2.5;
  }

  /** Exit id → the requesters that reported it (this node's view). */
  private readonly reports = new Map<string, Set<string>>();

  /** A requester reports an exit it was introduced to; true when this report took the exit out of introductions. */
  async report(requester: Peer, exitId: string): Promise<boolean> {
    if (!requester.partners?.has(exitId)) return false;
    // Sybil resistance: an identity made a moment ago is free; one seen for a day, or vouched for by a circle, is not.
    if (requester.circles === null && this.reportMinAgeMs > 0) {
      const firstSeen = await this.bus.firstSeen(requester.id);
      if (firstSeen === null || Date.now() - firstSeen < this.reportMinAgeMs) return false;
    }
    const { added, flaggedNow } = this.addReport(exitId, requester.id);
    if (added) this.bus.publishTrust({ type: 'report', exitId, reporterId: requester.id });
    return flaggedNow;
  }

  /**
   * Counts one reporter of an exit: from this node's client (checked above) or from another node
   * (which checked its client was introduced to the exit). `flaggedNow`: this report crossed the threshold.
   */
  addReport(exitId: string, reporterId: string): { added: boolean; flaggedNow: boolean } {
    let reporters = this.reports.get(exitId);
    if (!reporters) {
      // Bounded: the oldest reported exit is forgotten first (a Map iterates in insertion order).
      if (this.reports.size >= MAX_REPORTED_EXITS) this.reports.delete(this.reports.keys().next().value!);
      reporters = new Set();
      this.reports.set(exitId, reporters);
    }
    const before = reporters.size;
    reporters.add(reporterId);
    return {
      added: reporters.size > before,
      flaggedNow: before < this.reportThreshold && reporters.size >= this.reportThreshold,
    };
  }

  /** Reported by enough independent requesters: no longer introduced. */
  get flaggedCount(): number {
    let count = 0;
    for (const reporters of this.reports.values()) if (reporters.size >= this.reportThreshold) count += 1;
    return count;
  }

  isFlagged(exitId: string): boolean {
    return (this.reports.get(exitId)?.size ?? 0) >= this.reportThreshold;
  }

  /** An exit as last published by its node (any node), if it is known. */
  record(peerId: string): ExitRecord | undefined {
    return this.records.get(peerId);
  }

  /** Whether the exit of `record` (on any node) may serve `requester` (on this node, whose circles this node judged). */
  mayServeFromRecord(record: ExitRecord, requester: Peer): boolean {
    return record.shareWith !== 'circles' || sharedCircles(requester.circles, record.circles).length > 0;
  }

  /** Whether `exit` (on this node) may serve `requester`: everyone, or a member of one of its circles. */
  mayServe(exit: Peer, requester: Peer): boolean {
    return (
      exit.shareWith !== 'circles' || sharedCircles(requester.circles, [...(exit.circles?.keys() ?? [])]).length > 0
    );
  }

  /** What the bus reports: a record published (by any node), or withdrawn (null) by `byNode`, which only counts if that node holds it. */
  onBusExit(peerId: string, record: ExitRecord | null, byNode: string): void {
    if (record) this.records.set(peerId, record);
    else if (this.records.get(peerId)?.nodeId === byNode) this.records.delete(peerId);
    if (record && record.nodeId !== this.bus.nodeId) this.onRemoteExit?.(record);
  }

  /** Set by the pairings: an exit on another node published whom it serves (it may have narrowed). */
  onRemoteExit: ((record: ExitRecord) => void) | null = null;

  /** `seenAt` is the exit's own last report: republishing its load after introductions must not keep a silent exit alive. */
  publish(exit: Peer): void {
    this.bus.publishExit({
      peerId: exit.id,
      nodeId: this.bus.nodeId,
      nat: exit.nat,
      capacity: exit.capacity,
      load: exit.load + (exit.introducedTo?.size ?? 0),
      seenAt: exit.refreshedAt,
      shareWith: exit.shareWith,
      circles: exit.shareWith === 'everyone' ? [] : [...(exit.circles?.keys() ?? [])],
    });
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
  introduce(
    requester: Peer,
    count: number,
    exclude: Set<string>,
    preferCircles = false,
  ): { exits: ExitSummary[]; unreachable: number } {
    const { chosen, unreachable } = this.choose(requester, count, exclude, preferCircles);
    for (const { record } of chosen) {
      addPartner(requester, record.peerId, record.nodeId);
      // Counted at once here, so the next requester spreads, until the exit's node publishes again.
      record.load += 1;
      const local = this.peers.get(record.peerId);
      if (local) {
        addPartner(local, requester.id, this.bus.nodeId);
        (local.introducedTo ??= new Set()).add(requester.id);
        this.publishLoadSoon(local);
      }
      // An exit on another node learns of the requester from its first relayed signal (relay.ts).
    }
    const exits = chosen.map(({ record, relay, circles }) => ({
      peerId: record.peerId,
      capacity: record.capacity,
      load: record.load,
      relay,
      ...(circles.length > 0 ? { circles } : {}),
    }));
    return { exits, unreachable };
  }

  /** `peerId` left: `partner` (on this node) forgets it and hears so. */
  forgetPartner(partner: Peer, peerId: string): void {
    partner.partners?.delete(peerId);
    if (partner.introducedTo?.delete(peerId) && partner.exit) this.publishLoadSoon(partner);
    sendTo(partner, { type: 'peer-gone', peerId });
  }

  /** Drops exits whose node stopped refreshing them. */
  sweep(now: number): void {
    for (const [peerId, record] of this.records) if (now - record.seenAt > this.ttlMs) this.records.delete(peerId);
  }

  close(): void {
    if (this.loadTimer) clearTimeout(this.loadTimer);
  }

  private choose(
    requester: Peer,
    count: number,
    exclude: Set<string>,
    preferCircles: boolean,
  ): { chosen: { record: ExitRecord; relay: boolean; circles: string[] }[]; unreachable: number } {
    const now = Date.now();
    const ranked = [];
    let unreachable = 0;
    for (const record of this.records.values()) {
      if (
        record.capacity <= 0 ||
        now - record.seenAt > this.ttlMs ||
        record.peerId === requester.id ||
        exclude.has(record.peerId) ||
        this.isFlagged(record.peerId)
      )
        continue;
      const circles = sharedCircles(requester.circles, record.circles);
      if (record.shareWith === 'circles' && circles.length === 0) continue; // a circle-only exit is never named to a non-member
      const relay = !directPossible(requester.nat, record.nat);
      if (relay && !this.relayAvailable) {
        unreachable += 1; // they would never connect: do not waste an introduction, but say so
        continue;
      }
      const outside = preferCircles && circles.length === 0 ? 1 : 0;
      ranked.push({
        record,
        relay,
        circles,
        outside,
        load: Math.round((record.load / record.capacity) * 100),
        age: Math.floor((now - record.seenAt) / this.exitRefreshMs),
        tie: Math.random(),
      });
    }
    ranked.sort(
      (a, b) =>
        Number(a.relay) - Number(b.relay) || a.outside - b.outside || a.load - b.load || a.age - b.age || a.tie - b.tie,
    );
    return { chosen: ranked.slice(0, count), unreachable };
  }
}
