import type { LaneRecovery } from '../core/channels/transport-channel';
import {
  isLaneControl,
  LANE_HEADER_BYTES,
  LaneReceiver,
  LaneSender,
  pickLane,
  type LaneResend,
} from '../core/peers/lanes';

/**
 * A gap in a striped connection is asked for after this long, or four round trips if longer: a
 * stalled association waits out its retransmission timer (a second, doubling), while lanes differ
 * by their queues and SCTP's own repair of a loss (about a round trip). Measured over the emulated
 * 50 ms, 1 % loss path on eight lanes (`npm run bench:wan`): at 250 ms, 30–40 % of a 20 MB GET's
 * messages were asked for, each of them arrived twice, and the GET ran at 1.1–1.3 MB/s against
 * 1.6–2.0 without asking.
 */
const MIN_LANE_STALL_MS = 1000;
/** A lane whose messages had to be sent again gets no new ones for this long (its association is backing off). */
const STALLED_LANE_REST_MS = 1000;

/** One open data channel of a peer: what the send pump and the lane recovery keep of it. */
export class OpenLane {
  /** Resting until (performance.now()), after its messages were asked for again. */
  restUntil = 0;
  /** Resting now: read by pickLane on every send, refreshed once per pump. */
  resting = false;
  /** Bytes ever given to it (less its bufferedAmount: what has left this browser). */
  bytes = 0;

  constructor(readonly channel: RTCDataChannel) {}

  get bufferedAmount(): number {
    return this.channel.bufferedAmount;
  }
}

export interface StripedLinkEvents {
  /** A frame from the peer, back in order. */
  frame(frame: Uint8Array): void;
  /** The recovery counts moved (or the lanes changed): what the popup shows. */
  report(recovery: LaneRecovery): void;
  /** Bytes sent again on another lane (counted with what the connection sent). */
  resent(bytes: number): void;
  /** False once the connection this link belongs to is closed or replaced. */
  current(): boolean;
}

/**
 * A peer reached over several lanes (each its own peer connection, so its own SCTP association):
 * every message is numbered (core/peers/lanes.ts), the receiver puts them back in order and
 * acknowledges; a gap that waits too long is asked for, and the sender sends what was asked again
 * on another lane, which then rests (core/peers/lanes.ts says why). The lanes themselves are the
 * mesh's `OpenLane` records, shared with its send pump.
 */
export class StripedLink {
  readonly sender = new LaneSender();
  readonly receiver: LaneReceiver;
  /** Where `pickLane` starts looking: moves on with every message, so equally queued lanes take turns. */
  turn = 0;
  /** The path's round trip (ICE), once known. */
  roundTripMs: number | null = null;
  /** Armed while the receiver waits on a gap: asks the peer to send its missing messages again. */
  private stallTimer: ReturnType<typeof setTimeout> | null = null;
  /** The lane the latest message came in on: its way back works, where the least queued may be the stalled one. */
  private lastHeard: RTCDataChannel | null = null;
  private readonly recovery: LaneRecovery = { asked: 0, resent: 0, duplicates: 0 };
  private reportedRecovery = 0;

  constructor(
    private readonly lanes: OpenLane[],
    private readonly events: StripedLinkEvents,
  ) {
    this.receiver = new LaneReceiver((frame) => events.frame(frame));
  }

  /** The peer acknowledges and asks again: keep copies until it has them, and do the same for it. */
  recoverStalls(): void {
    this.sender.retain = true;
    this.receiver.recovering = true;
  }

  /** The peer orders messages by stream (core/peers/lanes.ts): both directions carry what each message follows. */
  orderByStream(): void {
    this.sender.orderByStream();
    this.receiver.orderByStream();
  }

  /** A message on one lane: a control message for our sending side, or a numbered frame. */
  receive(channel: RTCDataChannel | null, message: Uint8Array): void {
    this.lastHeard = channel;
    if (isLaneControl(message)) {
      const resends = this.sender.control(message);
      if (resends.length > 0) this.resend(resends);
      return;
    }
    const ack = this.receiver.receive(message, performance.now());
    if (ack) this.sendControl(ack);
    if (this.receiver.waitingSince === null) {
      if (this.stallTimer) clearTimeout(this.stallTimer);
      this.stallTimer = null;
    } else if (!this.stallTimer) {
      this.armStallTimer();
    }
  }

  /** Numbers `message` for the lane at `index` and counts it against that lane. */
  stamp(message: Uint8Array, index: number): Uint8Array {
    const lane = this.lanes[index]!;
    const stamped = this.sender.stamp(message, index, lane.bytes);
    lane.bytes += stamped.byteLength;
    return stamped;
  }

  refreshResting(now: number): void {
    for (const lane of this.lanes) lane.resting = lane.restUntil > now;
  }

  /** The recovery counts to the background (`onlyIfMoved`: skipped when they are as last told). */
  report(onlyIfMoved = false): void {
    this.recovery.duplicates = this.receiver.duplicates;
    const total = this.recovery.asked + this.recovery.resent + this.recovery.duplicates;
    if (onlyIfMoved && total === this.reportedRecovery) return;
    this.reportedRecovery = total;
    this.events.report({ ...this.recovery });
  }

  close(): void {
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.stallTimer = null;
  }

  private stallMs(): number {
    return Math.max(MIN_LANE_STALL_MS, 4 * (this.roundTripMs ?? 0));
  }

  /** While a gap waits: ask for what it lacks each time it has waited a stall's length, until it fills. */
  private armStallTimer(): void {
    this.stallTimer = setTimeout(() => {
      this.stallTimer = null;
      if (!this.events.current() || this.receiver.waitingSince === null) return;
      const request = this.receiver.resendRequest(performance.now(), this.stallMs());
      if (request) {
        this.recovery.asked += request.byteLength / LANE_HEADER_BYTES - 1;
        this.sendControl(request);
      }
      this.armStallTimer();
    }, this.stallMs());
  }

  /**
   * Lane control goes out at once, past the outbox (it unblocks the peer's whole connection), on the
   * lane the peer was last heard on: when one lane is stalled, the least queued may well be that one.
   */
  private sendControl(message: Uint8Array<ArrayBuffer>): void {
    const channel =
      this.lastHeard?.readyState === 'open' ? this.lastHeard : this.lanes[pickLane(this.lanes, Infinity, [])]?.channel;
    if (channel?.readyState === 'open') channel.send(message);
  }

  /**
   * Messages the peer lacks, sent again on other lanes than their first, and those lanes rest a
   * while. A message its lane's own buffer still holds when first asked for has not left this
   * browser: its lane is slow, not stalled, and it goes out in turn (sending it twice would only add
   * to the load); asked for again, a stall later, it is sent again wherever it is.
   */
  private resend(resends: readonly LaneResend[]): void {
    const now = performance.now();
    const lanes = this.lanes;
    const gone = resends.filter(
      ({ lane, laneBytesThrough, asks }) =>
        asks > 1 || lanes[lane]!.bytes - lanes[lane]!.bufferedAmount >= laneBytesThrough,
    );
    for (const { lane } of gone) lanes[lane]!.restUntil = now + STALLED_LANE_REST_MS;
    this.refreshResting(now);
    for (const { message, lane } of gone) {
      // The least queued lane that is neither its first nor resting (a resting one if no other is left).
      const index = pickLane(
        lanes,
        Infinity,
        lanes.map((other, otherIndex) => other.resting || otherIndex === lane),
      );
      if (index === lane || index === -1) continue; // no other lane to take it
      lanes[index]!.channel.send(message);
      lanes[index]!.bytes += message.byteLength;
      this.events.resent(message.byteLength);
      this.recovery.resent += 1;
    }
  }
}
