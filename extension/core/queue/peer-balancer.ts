import { isPeerFault, type ErrorCategory } from '../errors';

/**
 * Which exit carries the next attempt. Power of two choices over peers with free credit, scored by
 * an EWMA of time to first byte times (outstanding + 1). A peer that fails `ejectAfterFailures` times
 * in a row is ejected for a time that doubles with each ejection (capped); a new, re-introduced or
 * recovered peer warms up: its score is divided by a factor that grows from 0.1 to 1 over `warmupMs`,
 * so it gets traffic back gradually while healthier peers exist, and full traffic when it is alone.
 */
export interface BalancerOptions {
  perPeerConcurrency: number;
  ewmaAlpha: number;
  /** Assumed TTFB for a peer with no sample yet. */
  initialTtfbMs: number;
  ejectAfterFailures: number;
  ejectBaseMs: number;
  ejectMaxMs: number;
  /** Never eject more than this fraction of peers (rounded down): one bad network must not empty the pool. */
  maxEjectedFraction: number;
  warmupMs: number;
}

/** `paused`: the exit said it serves nothing for now (capacity 0 in its HELLO): listed, never picked. */
export type PeerHealth = 'healthy' | 'warming' | 'ejected' | 'paused';

export interface PeerStatsView {
  peerId: string;
  outstanding: number;
  capacity: number;
  ewmaTtfbMs: number | null;
  successes: number;
  failures: number;
  /** Success ratio over recent outcomes (EWMA of 1/0), null before the first. */
  successRatio: number | null;
  health: PeerHealth;
  ejections: number;
}

interface PeerState {
  peerId: string;
  outstanding: number;
  /** What the exit granted (its HELLO), or Infinity before it said; the local per-peer limit applies on top (`capacityOf`). */
  granted: number;
  ewmaTtfbMs: number | null;
  successEwma: number | null;
  successes: number;
  failures: number;
  consecutiveFailures: number;
  ejections: number;
  ejectedUntil: number;
  warmingSince: number;
}

const NONE: readonly string[] = [];

export class PeerBalancer {
  private readonly peers = new Map<string, PeerState>();
  /** The same peers as an array: the dispatch loop iterates it on every pass, without an iterator. */
  private list: PeerState[] = [];
  private readonly candidates: PeerState[] = [];
  private readonly fallback: PeerState[] = [];
  private typicalCache: number | null = null;

  constructor(
    private readonly options: BalancerOptions,
    private readonly random: () => number,
  ) {}

  get size(): number {
    return this.peers.size;
  }

  /** Every known peer has paused sharing (none would take a request until one says otherwise). */
  get allPaused(): boolean {
    return this.list.length > 0 && this.list.every((peer) => peer.granted === 0);
  }

  has(peerId: string): boolean {
    return this.peers.has(peerId);
  }

  ids(): string[] {
    return [...this.peers.keys()];
  }

  /**
   * Requests a peer may carry at once: what it granted, within the local per-peer limit as the
   * settings say now (read on every pass, so a changed limit applies to peers already known).
   */
  private capacityOf(peer: PeerState): number {
    if (peer.granted === 0) return 0;
    return Math.max(1, Math.min(peer.granted, this.options.perPeerConcurrency));
  }

  /** `capacity` is what the exit advertised (absent: nothing yet); the local per-peer limit still applies. */
  add(peerId: string, now: number, capacity = Infinity): void {
    const existing = this.peers.get(peerId);
    if (existing) {
      existing.granted = capacity;
      return;
    }
    const state: PeerState = {
      peerId,
      outstanding: 0,
      granted: capacity,
      ewmaTtfbMs: null,
      successEwma: null,
      successes: 0,
      failures: 0,
      consecutiveFailures: 0,
      ejections: 0,
      ejectedUntil: 0,
      warmingSince: now,
    };
    this.peers.set(peerId, state);
    this.list.push(state);
  }

  remove(peerId: string): void {
    this.peers.delete(peerId);
    this.list = this.list.filter((peer) => peer.peerId !== peerId);
    this.typicalCache = null;
  }

  health(peer: PeerState, now: number): PeerHealth {
    if (now < peer.ejectedUntil) return 'ejected';
    if (peer.granted === 0) return 'paused';
    return now - peer.warmingSince < this.options.warmupMs ? 'warming' : 'healthy';
  }

  /** Earliest moment an ejected peer comes back, for the queue to wake up then. */
  nextReturn(now: number): number | null {
    let next: number | null = null;
    for (const peer of this.list)
      if (peer.ejectedUntil > now && (next === null || peer.ejectedUntil < next)) next = peer.ejectedUntil;
    return next;
  }

  /** Median EWMA over peers that have one; cached until an EWMA changes. */
  private typicalTtfb(): number {
    if (this.typicalCache !== null) return this.typicalCache;
    const known = [...this.peers.values()]
      .map((peer) => peer.ewmaTtfbMs)
      .filter((value): value is number => value !== null)
      .sort((a, b) => a - b);
    this.typicalCache = known.length > 0 ? known[Math.floor(known.length / 2)]! : this.options.initialTtfbMs;
    return this.typicalCache;
  }

  private score(peer: PeerState, now: number, typical: number): number {
    const ttfb = Math.max(1, peer.ewmaTtfbMs ?? typical);
    const warmth =
      this.options.warmupMs <= 0 ? 1 : Math.min(1, Math.max(0.1, (now - peer.warmingSince) / this.options.warmupMs));
    return (ttfb * (peer.outstanding + 1)) / warmth;
  }

  /**
   * Picks a peer with free credit, avoiding `exclude` (peers this request already tried) when any
   * other peer exists at all. Null: wait for credit. Allocation-free: it runs once per dispatch.
   */
  pick(now: number, exclude: readonly string[] = NONE): string | null {
    const candidates = this.candidates;
    const fallback = this.fallback;
    let candidateCount = 0;
    let fallbackCount = 0;
    let othersExist = false;
    for (const peer of this.list) {
      const excluded = exclude.length > 0 && exclude.includes(peer.peerId);
      const ejected = now < peer.ejectedUntil;
      // A paused peer is no other choice: a retry falls back to a peer it tried rather than wait for it.
      if (!excluded && !ejected && peer.granted > 0) othersExist = true;
      if (peer.outstanding >= this.capacityOf(peer) || ejected) continue;
      if (excluded) fallback[fallbackCount++] = peer;
      else candidates[candidateCount++] = peer;
    }
    const useCandidates = candidateCount > 0 || othersExist;
    const pool = useCandidates ? candidates : fallback;
    const size = useCandidates ? candidateCount : fallbackCount;
    if (size === 0) return null;
    if (size === 1) return pool[0]!.peerId;
    const first = Math.floor(this.random() * size);
    let second = Math.floor(this.random() * (size - 1));
    if (second >= first) second += 1;
    const typical = this.typicalTtfb();
    const a = pool[first]!;
    const b = pool[second]!;
    return this.score(a, now, typical) <= this.score(b, now, typical) ? a.peerId : b.peerId;
  }

  /** Cheap pre-check for the dispatch loop: does any peer have free credit right now? */
  hasCapacity(now: number): boolean {
    for (const peer of this.list) if (peer.outstanding < this.capacityOf(peer) && now >= peer.ejectedUntil) return true;
    return false;
  }

  acquire(peerId: string): void {
    const peer = this.peers.get(peerId);
    if (peer) peer.outstanding += 1;
  }

  release(peerId: string): void {
    const peer = this.peers.get(peerId);
    if (peer) peer.outstanding = Math.max(0, peer.outstanding - 1);
  }

  recordTtfb(peerId: string, ms: number): void {
    const peer = this.peers.get(peerId);
    if (!peer) return;
    const alpha = this.options.ewmaAlpha;
    peer.ewmaTtfbMs = peer.ewmaTtfbMs === null ? ms : peer.ewmaTtfbMs + alpha * (ms - peer.ewmaTtfbMs);
    this.typicalCache = null;
  }

  recordSuccess(peerId: string, now: number): void {
    const peer = this.peers.get(peerId);
    if (!peer) return;
    peer.successes += 1;
    peer.consecutiveFailures = 0;
    peer.successEwma = this.mix(peer.successEwma, 1);
    // A peer that stays good after coming back slowly earns back shorter ejections.
    if (peer.ejections > 0 && this.health(peer, now) === 'healthy') peer.ejections -= 1;
  }

  /** Returns when the ejection ends if this failure ejected the peer, else null. */
  recordFailure(peerId: string, category: ErrorCategory, now: number): number | null {
    const peer = this.peers.get(peerId);
    if (!peer || !isPeerFault(category)) return null;
    peer.failures += 1;
    peer.consecutiveFailures += 1;
    peer.successEwma = this.mix(peer.successEwma, 0);
    if (peer.consecutiveFailures < this.options.ejectAfterFailures || this.health(peer, now) === 'ejected') return null;
    const ejected = [...this.peers.values()].filter((other) => this.health(other, now) === 'ejected').length;
    if (ejected + 1 > Math.floor(this.peers.size * this.options.maxEjectedFraction)) return null;
    const duration = Math.min(this.options.ejectMaxMs, this.options.ejectBaseMs * 2 ** peer.ejections);
    peer.ejections += 1;
    peer.ejectedUntil = now + duration;
    peer.warmingSince = peer.ejectedUntil;
    peer.consecutiveFailures = 0;
    return peer.ejectedUntil;
  }

  private mix(previous: number | null, sample: number): number {
    return previous === null ? sample : previous + 0.1 * (sample - previous);
  }

  outstandingTotal(): number {
    let total = 0;
    for (const peer of this.peers.values()) total += peer.outstanding;
    return total;
  }

  view(now: number): PeerStatsView[] {
    return [...this.peers.values()].map((peer) => ({
      peerId: peer.peerId,
      outstanding: peer.outstanding,
      capacity: this.capacityOf(peer),
      ewmaTtfbMs: peer.ewmaTtfbMs,
      successes: peer.successes,
      failures: peer.failures,
      successRatio: peer.successEwma,
      health: this.health(peer, now),
      ejections: peer.ejections,
    }));
  }
}
