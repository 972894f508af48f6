import type { Peer } from './peer';

/**
 * A registered peer whose socket went silent (reaped by the heartbeat: a laptop that changed
 * network, a link cut for a while) keeps its pairings for `graceMs` (`returnGraceMs`, 20 s by default): when the same identity
 * registers again within it, the new connection takes them over, and its ICE restart reaches its
 * partners (peer-mesh.ts); only after the grace do partners hear it left. A socket the peer's side
 * closed (a quit or crashed browser: its kernel ends the TCP connection) departs at once.
 */
export class ReturningPeers {
  private readonly waiting = new Map<string, { peer: Peer; timer: ReturnType<typeof setTimeout> }>();

  constructor(
    private readonly departed: (peer: Peer) => void,
    private readonly graceMs: number,
  ) {}

  /** `peer` was reaped: hold its pairings, then tell its partners. */
  keep(peer: Peer): void {
    this.take(peer.id);
    const timer = setTimeout(() => {
      this.waiting.delete(peer.id);
      this.departed(peer);
    }, this.graceMs);
    timer.unref();
    this.waiting.set(peer.id, { peer, timer });
  }

  /** The same identity registered again: its earlier connection, whose pairings it takes over (null: none held). */
  take(peerId: string): Peer | null {
    const held = this.waiting.get(peerId);
    if (!held) return null;
    clearTimeout(held.timer);
    this.waiting.delete(peerId);
    return held.peer;
  }

  get size(): number {
    return this.waiting.size;
  }

  /** Shutdown: every held peer departs now. */
  close(): void {
    for (const { peer, timer } of this.waiting.values()) {
      clearTimeout(timer);
      this.departed(peer);
    }
    this.waiting.clear();
  }
}
