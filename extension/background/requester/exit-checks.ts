import type { Clock } from '../../core/clock';
import { joinBytes } from '../../core/bytes';
import {
  fingerprintOf,
  judgeAnswers,
  MAX_CHECKED_BYTES,
  MAX_CONCURRENT_CHECKS,
  strongEtag,
  whyNotCheckable,
  drawnForCheck,
  type CheckAnswer,
} from '../../core/checks/exit-checks';
import type { ResponseStream } from '../../core/peers/session';
import type { RequestHead, ResponseHead } from '../../core/protocol/frames';
import type { PeerStatsView } from '../../core/queue/peer-balancer';
import { shortPeerId, type PeerRegistry } from '../peers/peer-registry';
import type { Telemetry } from '../telemetry/telemetry';
import { newCorrelationId } from '../../core/correlation-id';

/**
 * Checked exits, the requester's side: now and then an answer the page just got is asked again of
 * another exit, and compared (core/checks/exit-checks.ts decides what may be compared and who is
 * odd one out). Runs after the page has its answer, off its path: a check never delays a page. When
 * the request was hedged, the losing exit's answer is read to the end and compared first.
 */
export interface ExitChecksDeps {
  clock: Clock;
  peers: PeerRegistry;
  /** The exits the queue may use now, with their health. */
  exits(): PeerStatsView[];
  telemetry: Telemetry;
  /** Percent of checkable answers to compare (settings.checkExitsPercent). */
  percent(): number;
  /** An exit gave an answer two others contradict: drop it, keep it flagged, report it. */
  flag(peerId: string, url: string): void;
  random?: () => number;
}

/** A check's second (or third) fetch gives up after this long: it is background work. */
const CHECK_TIMEOUT_MS = 15_000;

/** A hedge loser's answer waits this long for its winner's check to take it. */
const DUPLICATE_KEPT_MS = 30_000;

export class ExitChecks {
  private running = 0;
  private readonly random: () => number;
  /** Answers of hedge losers kept for a check, by the request's correlation id. */
  private readonly duplicates = new Map<string, Promise<CheckAnswer | null>>();

  constructor(private readonly deps: ExitChecksDeps) {
    this.random = deps.random ?? Math.random;
  }

  /**
   * Whether this request is one to check, drawn when it is submitted (so a hedge that loses the
   * race can be kept as the second answer): at the set rate, while few checks run and another exit exists.
   */
  draw(): boolean {
    if (this.running >= MAX_CONCURRENT_CHECKS) return false;
    if (!drawnForCheck(this.deps.percent(), this.random())) return false;
    return this.others([]).length > 1;
  }

  /** Whether a drawn request's answer may be compared (its head decides): keep its body then. */
  checkable(request: RequestHead, response: ResponseHead, peerId: string): boolean {
    return whyNotCheckable(request, response) === null && this.others([peerId]).length > 0;
  }

  /**
   * A drawn request's hedge lost the race: its answer, read to the end here rather than cancelled,
   * is the winner's check's second answer (no third fetch needed when they agree). `opening`
   * resolves with its head; `stop` cancels its stream.
   */
  keepDuplicate(
    correlationId: string,
    peerId: string,
    request: RequestHead,
    opening: Promise<ResponseStream>,
    stop: () => void,
  ): void {
    const timer = this.deps.clock.setTimeout(stop, CHECK_TIMEOUT_MS);
    const answer = opening
      // An answer that may not be compared is cancelled as soon as its head says so.
      .then((stream) => (whyNotCheckable(request, stream.head) === null ? this.readAnswer(peerId, stream) : null))
      .catch(() => null)
      .finally(() => {
        this.deps.clock.clearTimeout(timer);
        stop();
      });
    this.duplicates.set(correlationId, answer);
    // Taken by the winner's check, or dropped (the winner was not checkable, or the page went away).
    this.deps.clock.setTimeout(() => this.duplicates.delete(correlationId), DUPLICATE_KEPT_MS);
  }

  /**
   * Compares the answer `peerId` gave (whole body, already delivered to the page) with other exits'
   * answers. True when it was caught altered (then the routed cache must not keep it); false when
   * another exit agreed or nothing was decided, as for an answer never checked.
   */
  async check(
    request: RequestHead,
    response: ResponseHead,
    peerId: string,
    body: readonly Uint8Array[],
    bodyBytes: number,
    correlationId: string,
  ): Promise<boolean> {
    const duplicate = this.duplicates.get(correlationId) ?? null;
    this.duplicates.delete(correlationId);
    if (bodyBytes > MAX_CHECKED_BYTES) return false;
    this.running += 1;
    this.deps.telemetry.count('exitChecks');
    try {
      const answers: CheckAnswer[] = [{ peerId, fingerprint: await fingerprint(response, joinBytes(body, bodyBytes)) }];
      const reused = await duplicate;
      if (reused && reused.peerId !== peerId) {
        answers.push(reused);
        this.deps.telemetry.count('exitChecksFromHedges');
      }
      for (let round = 0; round < 3; round += 1) {
        const verdict = judgeAnswers(answers);
        if (verdict.kind === 'agree') {
          this.deps.telemetry.count('exitChecksAgreed');
          return false;
        }
        if (verdict.kind === 'flag') {
          this.deps.telemetry.count('exitsFlagged');
          this.deps.flag(verdict.peerId, request.url);
          return verdict.peerId === peerId;
        }
        const next = verdict.kind === 'ask-another' ? this.pick(verdict.exclude) : null;
        const answer = next === null ? null : await this.ask(request, next);
        // No one left to ask, or the other exit failed: nothing is decided (no one is blamed for a failure).
        if (answer === null) break;
        answers.push(answer);
      }
      this.deps.telemetry.count('exitChecksInconclusive');
      return false;
    } catch (error) {
      this.deps.telemetry.count('exitChecksInconclusive');
      console.warn('[peerlane] exit check', error);
      return false;
    } finally {
      this.running -= 1;
    }
  }

  private others(exclude: readonly string[]): string[] {
    return this.deps
      .exits()
      .filter((exit) => exit.health !== 'ejected' && !exclude.includes(exit.peerId) && this.deps.peers.get(exit.peerId))
      .map((exit) => exit.peerId);
  }

  private pick(exclude: readonly string[]): string | null {
    const candidates = this.others(exclude);
    if (candidates.length === 0) return null;
    return candidates[Math.floor(this.random() * candidates.length)] ?? null;
  }

  /** The same request through `peerId`, straight on its session (not through the queue: no retries, no hedges). */
  private async ask(request: RequestHead, peerId: string): Promise<CheckAnswer | null> {
    const peer = this.deps.peers.get(peerId);
    if (!peer) return null;
    const controller = new AbortController();
    const timer = this.deps.clock.setTimeout(() => controller.abort(new Error('check timed out')), CHECK_TIMEOUT_MS);
    try {
      return await this.readAnswer(
        peerId,
        await peer.session.open({ ...request, correlationId: newCorrelationId('check') }, controller.signal, null),
      );
    } catch (error) {
      console.info('[peerlane] exit check: no answer from', shortPeerId(peerId), String(error));
      return null;
    } finally {
      this.deps.clock.clearTimeout(timer);
      controller.abort(new Error('check done'));
    }
  }

  /** A whole answer, reduced to its fingerprint; null when it is larger than any checked answer. */
  private async readAnswer(peerId: string, stream: ResponseStream): Promise<CheckAnswer | null> {
    const parts: Uint8Array[] = [];
    let bytes = 0;
    for (;;) {
      const chunk = await stream.read();
      if (chunk === null) break;
      this.deps.telemetry.received(chunk.byteLength);
      bytes += chunk.byteLength;
      // It differs, but an answer this unlike may be the origin's doing: undecided.
      if (bytes > MAX_CHECKED_BYTES) return null;
      parts.push(chunk);
    }
    return { peerId, fingerprint: await fingerprint(stream.head, joinBytes(parts, bytes)) };
  }
}

async function fingerprint(response: ResponseHead, body: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', body));
  const hex = [...digest].map((byte) => byte.toString(16).padStart(2, '0')).join('');
  return fingerprintOf(response.status, strongEtag(response.headers), hex);
}
