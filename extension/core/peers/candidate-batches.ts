import type { Clock, TimerHandle } from '../clock';

/**
 * ICE candidates trickle one by one (a browser finds 4–8 per connection within a few tens of ms);
 * relayed one signal each, an introduction costs signaling a message per candidate on each side, as
 * PeerJS's clients do. Candidates are bundled instead: the first of a burst waits `windowMs` for the
 * rest, then they go as one `candidates` signal. Order is kept: any other signal (an offer, an
 * answer) first sends the bundle waiting before it. Pure: the caller sends, the clock times.
 */
export const CANDIDATE_WINDOW_MS = 20;
/** A bundle never grows past this many (one signal stays well under signaling's size limit). */
export const MAX_CANDIDATES_PER_SIGNAL = 16;

/** A trickled candidate as simple-peer signals it: `{ type: 'candidate', candidate: RTCIceCandidateInit }`. */
export type Signal = { type?: string; candidate?: unknown } & Record<string, unknown>;

export class CandidateBatcher {
  private waiting: unknown[] = [];
  private timer: TimerHandle | undefined;

  constructor(
    private readonly send: (signal: Signal) => void,
    private readonly clock: Clock,
    private readonly windowMs = CANDIDATE_WINDOW_MS,
  ) {}

  push(signal: Signal): void {
    if (signal.type !== 'candidate' || signal.candidate === undefined) {
      this.flush();
      this.send(signal);
      return;
    }
    this.waiting.push(signal.candidate);
    if (this.waiting.length >= MAX_CANDIDATES_PER_SIGNAL) this.flush();
    else this.timer ??= this.clock.setTimeout(() => this.flush(), this.windowMs);
  }

  flush(): void {
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    if (this.waiting.length === 0) return;
    const candidates = this.waiting;
    this.waiting = [];
    this.send({ type: 'candidates', candidates });
  }

  /** The connection ended: what waits is dropped. */
  close(): void {
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.waiting = [];
  }
}

/** A received signal as simple-peer takes them: a bundle is unpacked into its candidates, in order. */
export function unbundle(signal: Signal): Signal[] {
  if (signal.type !== 'candidates') return [signal];
  const bundled: unknown = signal.candidates;
  const candidates: unknown[] = Array.isArray(bundled) ? bundled.slice(0, MAX_CANDIDATES_PER_SIGNAL) : [];
  return candidates.map((candidate) => ({ type: 'candidate', candidate }));
}
