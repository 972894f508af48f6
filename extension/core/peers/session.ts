import { PeerlaneError, toPeerlaneError } from '../errors';
import { decodeFrame, encodeFrame } from '../protocol/codec';
import {
  FLAG_END_STREAM,
  FLAG_HELLO_REPLY,
  FLAG_HELLO_UPDATE,
  FLAG_REQUEST_BODY,
  PROTOCOL_VERSION,
  type Frame,
  type Hello,
  type RequestHead,
} from '../protocol/frames';
import { ExitStreams, type ExitHandler } from './exit-streams';
import { RequesterStreams, type OpenOptions, type ResponseStream } from './requester-streams';
import type { SessionLink } from './session-link';
import { DEFAULT_STREAM_WINDOW } from './stream-windows';

export * from './stream-windows';
export type { ExitHandler, ExitResponder } from './exit-streams';
export type { OpenOptions, ResponseStream } from './requester-streams';

/**
 * One multiplexed conversation with one peer over one data channel. This file is the session
 * itself: the HELLO exchange, PING/PONG, decoding each frame and handing it to the role it belongs
 * to, and closing. The requester's streams are requester-streams.ts, the exit's exit-streams.ts;
 * stream-windows.ts holds the credit windows both keep. Pure: bytes in through `receive`, bytes
 * out through `send`; the host owns the channel and its bufferedAmount backpressure.
 */
export interface PeerSessionOptions {
  send(frame: Uint8Array): void;
  /** Present when this side serves requests (the local browser shares its connection). */
  exitHandler?: ExitHandler;
  hello: Hello;
  /** The starting (and, without a round-trip estimate, the only) window of each response stream. */
  streamWindow?: number;
  /** Milliseconds, monotonic: when credits go back, to tell whether the window limits the stream. */
  now?: () => number;
  /** The latest round trip to this peer (PING/PONG), or null before the first: windows grow only with one. */
  roundTripMs?: () => number | null;
  /** Bound on the sum of response windows (default MAX_SESSION_WINDOW). */
  maxSessionWindow?: number;
  /**
   * The window a response not known to be small gets once its head arrives (default
   * HEAD_STREAM_WINDOW), read at each head: the host says DEFAULT_STREAM_WINDOW for a peer on one lane.
   */
  headStreamWindow?: number | (() => number);
  onProtocolError?(error: PeerlaneError): void;
  onHello?(hello: Hello): void;
  onPong?(nonce: number): void;
}

export class PeerSession implements SessionLink {
  private readonly requester: RequesterStreams;
  private readonly exit: ExitStreams;
  closedWith: PeerlaneError | null = null;
  remoteHello: Hello | null = null;
  private helloWaiters: (() => void)[] = [];
  /** What this side last said it is and carries (the HELLO it answers with). */
  private hello: Hello;

  constructor(private readonly options: PeerSessionOptions) {
    const window = options.streamWindow ?? DEFAULT_STREAM_WINDOW;
    this.requester = new RequesterStreams(this, {
      window,
      now: options.now,
      roundTripMs: options.roundTripMs,
      maxSessionWindow: options.maxSessionWindow,
      headStreamWindow: options.headStreamWindow,
    });
    this.exit = new ExitStreams(this, options.exitHandler, window);
    this.hello = options.hello;
    this.sendFrame({ type: 'HELLO', streamId: 0, flags: 0, hello: options.hello });
  }

  /** Bytes this requester lets its peer have in flight right now, over every response stream (≤ the session bound). */
  get responseWindowBytes(): number {
    return this.requester.windowBytes;
  }

  get openStreams(): number {
    return this.requester.size + this.exit.size;
  }

  sendFrame(frame: Frame): void {
    if (this.closedWith) return;
    this.options.send(encodeFrame(frame));
  }

  /**
   * The peer's HELLO (what it carries and grants), waiting for it on a channel that just opened:
   * it is the first frame each side sends, so the wait is at most about one trip.
   */
  async whenHello(signal: AbortSignal): Promise<Hello> {
    while (!this.remoteHello) {
      if (this.closedWith) throw this.closedWith;
      if (signal.aborted) throw toPeerlaneError(signal.reason, 'cancelled');
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          signal.removeEventListener('abort', wake);
          resolve();
        };
        this.helloWaiters.push(wake);
        signal.addEventListener('abort', wake, { once: true });
      });
    }
    return this.remoteHello;
  }

  /**
   * What this side carries changed (capacity, methods, a pause): the peer hears it on the live
   * session, whose streams go on. A changed setting never closes a session.
   */
  updateHello(hello: Hello): void {
    this.hello = hello;
    this.sendFrame({ type: 'HELLO', streamId: 0, flags: FLAG_HELLO_REPLY | FLAG_HELLO_UPDATE, hello });
  }

  /**
   * This side stopped serving (its person turned sharing off): every request it serves ends now
   * with `error` in an ERROR frame, so the requester retries or resumes elsewhere at once instead
   * of waiting for a timeout.
   */
  endServed(error: PeerlaneError): void {
    this.exit.endAll(error);
  }

  /** Liveness and round-trip probe; the answer arrives through `onPong`. */
  ping(nonce: number): void {
    this.sendFrame({ type: 'PING', streamId: 0, flags: 0, nonce });
  }

  /**
   * Requester role: sends a request (with its body, if any, in BODY frames after the head) and
   * resolves with the response head (its body streams after).
   */
  open(
    request: RequestHead,
    signal: AbortSignal,
    body: Uint8Array | null = null,
    options: OpenOptions = {},
  ): Promise<ResponseStream> {
    return this.requester.open(request, signal, body, options);
  }

  /** Feeds one data-channel message. Malformed input is answered with ERROR, never thrown. */
  receive(bytes: Uint8Array): void {
    if (this.closedWith) return;
    let frame: Frame;
    try {
      frame = decodeFrame(bytes);
    } catch (error) {
      const typed = toPeerlaneError(error, 'frame_malformed');
      this.options.onProtocolError?.(typed);
      this.sendFrame({
        type: 'ERROR',
        streamId: 0,
        flags: 0,
        error: { category: typed.category, message: typed.message },
      });
      return;
    }
    this.dispatch(frame);
  }

  protocolError(message: string): void {
    const error = new PeerlaneError('protocol_error', message);
    this.options.onProtocolError?.(error);
  }

  /** Each frame to the role it belongs to: requests, request bodies and credit for responses to the exit; responses and request-body credit to the requester. */
  private dispatch(frame: Frame): void {
    switch (frame.type) {
      case 'HELLO':
        if (frame.hello.version !== PROTOCOL_VERSION) {
          this.close(new PeerlaneError('frame_version', `peer speaks protocol ${frame.hello.version}`));
          return;
        }
        if (!(frame.flags & FLAG_HELLO_REPLY)) {
          // A new session of the peer's: a second one means its background restarted (or rebuilt
          // the session), and its old streams are gone. Either way it is answered with ours: the
          // HELLO our session sent when it began may have reached one of the peer's that is gone.
          if (this.remoteHello) this.exit.abortAll(new PeerlaneError('peer_lost', 'peer restarted'));
          this.sendFrame({ type: 'HELLO', streamId: 0, flags: FLAG_HELLO_REPLY, hello: this.hello });
        }
        this.remoteHello = frame.hello;
        for (const wake of this.helloWaiters.splice(0)) wake();
        this.options.onHello?.(frame.hello);
        return;
      case 'PING':
        this.sendFrame({ type: 'PONG', streamId: 0, flags: 0, nonce: frame.nonce });
        return;
      case 'PONG':
        this.options.onPong?.(frame.nonce);
        return;
      case 'REQUEST_HEAD':
        this.exit.requestHead(frame.streamId, frame.head, (frame.flags & FLAG_END_STREAM) !== 0);
        return;
      case 'CANCEL':
        this.exit.cancel(frame.streamId);
        return;
      case 'CREDIT':
        if (frame.flags & FLAG_REQUEST_BODY) this.requester.requestBodyCredited(frame.streamId, frame.bytes);
        else this.exit.credit(frame.streamId, frame.bytes);
        return;
      case 'RESPONSE_HEAD':
        this.requester.responseHead(frame.streamId, frame.head);
        return;
      case 'BODY':
        if (frame.flags & FLAG_REQUEST_BODY) this.exit.requestBody(frame.streamId, frame.data);
        else this.requester.responseBody(frame.streamId, frame.data);
        return;
      case 'END':
        if (frame.flags & FLAG_REQUEST_BODY) this.exit.requestEnd(frame.streamId);
        else this.requester.finish(frame.streamId, null);
        return;
      case 'ERROR':
        if (frame.streamId === 0) this.protocolError(`peer reported ${frame.error.category}: ${frame.error.message}`);
        else this.requester.finish(frame.streamId, new PeerlaneError(frame.error.category, frame.error.message));
        return;
    }
  }

  /** The channel is gone: every stream of both roles fails with `error` (usually peer_lost). */
  close(error: PeerlaneError): void {
    if (this.closedWith) return;
    this.exit.dropIncoming();
    this.exit.abortAll(error);
    this.requester.failAll(error);
    this.closedWith = error;
    for (const wake of this.helloWaiters.splice(0)) wake();
  }
}
