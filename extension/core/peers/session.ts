import { joinBytes } from '../bytes';
import { PeerlaneError, toPeerlaneError } from '../errors';
import { decodeFrame, encodeFrame } from '../protocol/codec';
import { MAX_REQUEST_BODY_BYTES } from '../protocol/limits';
import {
  FLAG_END_STREAM,
  FLAG_HELLO_REPLY,
  FLAG_REQUEST_BODY,
  MAX_PAYLOAD_BYTES,
  PROTOCOL_VERSION,
  REQUEST_BODY_CREDIT,
  type Frame,
  type Hello,
  type RequestHead,
  type ResponseHead,
} from '../protocol/frames';

/**
 * One multiplexed conversation with one peer over one data channel: stream ids, per-stream credit
 * windows and the request/response state machines of both roles. Pure: bytes in through `receive`,
 * bytes out through `send`; the host owns the channel and its bufferedAmount backpressure.
 */
export const DEFAULT_STREAM_WINDOW = 256 * 1024;
/**
 * A response stream's window grows from DEFAULT_STREAM_WINDOW up to this when it is what limits the
 * transfer (see `acknowledge`): a fixed 256 KiB caps one stream at 5 MB/s at 50 ms and 1.7 MB/s at
 * 150 ms whatever the path could carry. Measured over the emulated 50 Mbit/s, 50 ms path
 * (`npm run bench:wan`): one 20 MB GET 1.35 MB/s at 256 KiB, 2.0 MB/s at 2 MiB.
 */
export const MAX_STREAM_WINDOW = 8 * 1024 * 1024;
/** The sum of every response stream's window on one session: bounds what a requester may buffer for one peer. */
export const MAX_SESSION_WINDOW = 32 * 1024 * 1024;
/**
 * A response that is not known to be small is given up to this much window as soon as its head
 * arrives (a quarter of what the session has left) when its peer is striped: growing from 256 KiB
 * by the round-trip rule (`acknowledge`) tracks rate × RTT, but over striped lanes one stalled
 * association holds the whole stream for its retransmission timer (a second or more) and the window
 * must cover that. Measured over the emulated 50 Mbit/s, 50 ms path on eight lanes (`npm run
 * bench:wan`, same session, A/B): one 20 MB GET with 1 % loss 1.44–1.69 MB/s growing from 256 KiB,
 * 1.84–1.99 from the head's window; without loss 1.69–2.84 against 2.52–3.79. On one lane the
 * growing window keeps SCTP from filling the router's queue: there it stays as it was.
 */
export const HEAD_STREAM_WINDOW = 4 * 1024 * 1024;
/**
 * A request body's window: what a requester may send ahead of the exit's CREDIT. The first window
 * goes with the head (a small POST waits for no round trip); the exit returns credit as bytes arrive.
 */
export const REQUEST_BODY_WINDOW = 256 * 1024;

export interface OpenOptions {
  /** Request body bytes the exit has taken so far (its CREDIT), rising to the whole body: upload progress. */
  onUploaded?(bytes: number): void;
}

export interface ResponseStream {
  readonly head: ResponseHead;
  /** Next body chunk, or null at the end. Reading grants the exit credit to send more. */
  read(): Promise<Uint8Array | null>;
  /** Chunks that `read()` would return without waiting: lets a consumer batch without adding latency. */
  readonly bufferedChunks: number;
  /** Settles when the response has ended (resolve) or failed/was cancelled (reject). */
  readonly done: Promise<void>;
}

export interface ExitResponder {
  head(head: ResponseHead): void;
  /** Sends body bytes, waiting for credit; rejects with `cancelled` if the requester went away. */
  write(chunk: Uint8Array): Promise<void>;
  end(): void;
  error(error: PeerlaneError): void;
}

/** `body`: the request's body (null for none), whole: it is collected before the handler runs. */
export type ExitHandler = (request: RequestHead, responder: ExitResponder, signal: AbortSignal, body?: Uint8Array<ArrayBuffer> | null) => void;

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

interface RequesterStream {
  id: number;
  chunks: Uint8Array[];
  /** Sum of `chunks` byte lengths, kept rather than re-summed on every BODY frame. */
  bufferedBytes: number;
  ended: boolean;
  failure: PeerlaneError | null;
  wake: (() => void) | null;
  unacknowledged: number;
  /** This stream's window: starts at the session's, doubles while it limits the stream. */
  window: number;
  /** When the last CREDIT went back (-Infinity: none yet). */
  lastCreditAt: number;
  onHead: (head: ResponseHead) => void;
  onFail: (error: PeerlaneError) => void;
  finish: (error: PeerlaneError | null) => void;
  /** The request body's side, while it is being sent under the exit's credit. */
  upload: RequestUpload | null;
}

interface RequestUpload {
  credit: number;
  /** Bytes the exit has credited back (it has them). */
  taken: number;
  wake: (() => void) | null;
  onUploaded?: (bytes: number) => void;
}

/** A request whose body is still arriving: served once its END is in. */
interface IncomingRequest {
  head: RequestHead;
  parts: Uint8Array[];
  bytes: number;
  /** Bytes received and not yet credited back to the requester. */
  uncredited: number;
}

interface ExitStream {
  id: number;
  credit: number;
  creditWaiters: (() => void)[];
  controller: AbortController;
  closed: boolean;
}

export class PeerSession {
  private readonly requesterStreams = new Map<number, RequesterStream>();
  private readonly exitStreams = new Map<number, ExitStream>();
  private readonly incoming = new Map<number, IncomingRequest>();
  private readonly window: number;
  /** Sum of the requester streams' windows (MAX_SESSION_WINDOW bounds their growth). */
  private windowsInUse = 0;
  private nextStreamId = 1;
  private closedWith: PeerlaneError | null = null;
  remoteHello: Hello | null = null;
  private helloWaiters: (() => void)[] = [];

  constructor(private readonly options: PeerSessionOptions) {
    this.window = options.streamWindow ?? DEFAULT_STREAM_WINDOW;
    this.sendFrame({ type: 'HELLO', streamId: 0, flags: 0, hello: options.hello });
  }

  /** Bytes this requester lets its peer have in flight right now, over every response stream (≤ the session bound). */
  get responseWindowBytes(): number {
    return this.windowsInUse;
  }

  get openStreams(): number {
    return this.requesterStreams.size + this.exitStreams.size;
  }

  private sendFrame(frame: Frame): void {
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

  /** Liveness and round-trip probe; the answer arrives through `onPong`. */
  ping(nonce: number): void {
    this.sendFrame({ type: 'PING', streamId: 0, flags: 0, nonce });
  }

  /**
   * Requester role: sends a request (with its body, if any, in BODY frames after the head) and
   * resolves with the response head (its body streams after).
   */
  open(request: RequestHead, signal: AbortSignal, body: Uint8Array | null = null, options: OpenOptions = {}): Promise<ResponseStream> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    if (signal.aborted) return Promise.reject(toPeerlaneError(signal.reason, 'cancelled'));
    const id = this.nextStreamId++;
    return new Promise<ResponseStream>((resolveHead, rejectHead) => {
      let resolveDone: () => void = () => undefined;
      let rejectDone: (error: PeerlaneError) => void = () => undefined;
      const done = new Promise<void>((resolve, reject) => {
        resolveDone = resolve;
        rejectDone = reject;
      });
      done.catch(() => undefined); // observed through read() as well; never an unhandled rejection
      const stream: RequesterStream = {
        id,
        chunks: [],
        bufferedBytes: 0,
        ended: false,
        failure: null,
        wake: null,
        unacknowledged: 0,
        window: this.window,
        lastCreditAt: -Infinity,
        upload: null,
        onHead: (head) => {
          this.widenForBody(stream, head);
          resolveHead(this.responseStream(stream, head, done));
        },
        onFail: (error) => rejectHead(error),
        finish: (error) => {
          if (this.requesterStreams.delete(id)) this.windowsInUse -= stream.window;
          signal.removeEventListener('abort', onAbort);
          if (error) {
            stream.failure = error;
            stream.onFail(error);
            rejectDone(error);
          } else {
            stream.ended = true;
            resolveDone();
          }
          stream.wake?.();
          stream.upload?.wake?.();
        },
      };
      const onAbort = (): void => {
        if (!this.requesterStreams.has(id)) return;
        this.sendFrame({ type: 'CANCEL', streamId: id, flags: 0 });
        stream.finish(toPeerlaneError(signal.reason, 'cancelled'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.requesterStreams.set(id, stream);
      this.windowsInUse += stream.window;
      const hasBody = body !== null && body.byteLength > 0;
      this.sendFrame({ type: 'REQUEST_HEAD', streamId: id, flags: hasBody ? 0 : FLAG_END_STREAM, head: request });
      if (!hasBody) return;
      if (this.remoteHello?.capabilities.includes(REQUEST_BODY_CREDIT)) {
        stream.upload = { credit: REQUEST_BODY_WINDOW, taken: 0, wake: null, onUploaded: options.onUploaded };
        void this.sendRequestBody(stream, body);
        return;
      }
      // A peer that grants no request credit (older builds): the whole body at once, paced only by
      // the channel's bufferedAmount. Bounded all the same (MAX_REQUEST_BODY_BYTES, checked where it entered).
      for (let offset = 0; offset < body.byteLength; offset += MAX_PAYLOAD_BYTES) {
        this.sendFrame({ type: 'BODY', streamId: id, flags: FLAG_REQUEST_BODY, data: body.subarray(offset, offset + MAX_PAYLOAD_BYTES) });
      }
      this.sendFrame({ type: 'END', streamId: id, flags: FLAG_REQUEST_BODY });
      options.onUploaded?.(body.byteLength);
    });
  }

  /**
   * A response head arrived: unless its Content-Length says the body fits the window it has, the
   * stream's window widens to HEAD_STREAM_WINDOW or a quarter of the session's unused bound, the
   * extra going to the exit as one CREDIT. A small response costs no frame.
   */
  private widenForBody(stream: RequesterStream, head: ResponseHead): void {
    const length = head.headers.find(([name]) => name.toLowerCase() === 'content-length')?.[1];
    if (length !== undefined && Number(length) <= stream.window) return;
    const unused = (this.options.maxSessionWindow ?? MAX_SESSION_WINDOW) - this.windowsInUse;
    const wanted = typeof this.options.headStreamWindow === 'function' ? this.options.headStreamWindow() : (this.options.headStreamWindow ?? HEAD_STREAM_WINDOW);
    const extra = Math.min(wanted, Math.max(stream.window, Math.floor(unused / 4))) - stream.window;
    if (extra <= 0) return;
    stream.window += extra;
    this.windowsInUse += extra;
    this.sendFrame({ type: 'CREDIT', streamId: stream.id, flags: 0, bytes: extra });
  }

  /** A request body under the exit's credit: a window ahead, then as the exit takes it; stops when the stream ends. */
  private async sendRequestBody(stream: RequesterStream, body: Uint8Array): Promise<void> {
    const upload = stream.upload!;
    for (let offset = 0; offset < body.byteLength; ) {
      if (!this.requesterStreams.has(stream.id) || this.closedWith) return;
      if (upload.credit <= 0) {
        await new Promise<void>((resolve) => {
          upload.wake = resolve;
        });
        upload.wake = null;
        continue;
      }
      const size = Math.min(MAX_PAYLOAD_BYTES, upload.credit, body.byteLength - offset);
      this.sendFrame({ type: 'BODY', streamId: stream.id, flags: FLAG_REQUEST_BODY, data: body.subarray(offset, offset + size) });
      upload.credit -= size;
      offset += size;
    }
    if (this.requesterStreams.has(stream.id)) this.sendFrame({ type: 'END', streamId: stream.id, flags: FLAG_REQUEST_BODY });
  }

  /** The exit took `bytes` more of a request body: send on, and say how far the upload got. */
  private requestBodyCredited(streamId: number, bytes: number): void {
    const upload = this.requesterStreams.get(streamId)?.upload;
    if (!upload) return; // late credit for a finished stream
    upload.credit += bytes;
    upload.taken += bytes;
    upload.onUploaded?.(upload.taken);
    upload.wake?.();
  }

  private responseStream(stream: RequesterStream, head: ResponseHead, done: Promise<void>): ResponseStream {
    return {
      head,
      done,
      get bufferedChunks() {
        return stream.chunks.length;
      },
      read: async () => {
        for (;;) {
          const chunk = stream.chunks.shift();
          if (chunk) {
            stream.bufferedBytes -= chunk.byteLength;
            this.acknowledge(stream, chunk.byteLength);
            return chunk;
          }
          if (stream.failure) throw stream.failure;
          if (stream.ended) return null;
          await new Promise<void>((resolve) => {
            stream.wake = resolve;
          });
          stream.wake = null;
        }
      },
    };
  }

  /**
   * Credit goes back in batches of half a window, so CREDIT frames stay rare. When half a window was
   * read within two round trips of the previous credit, the window, not the path or the reader, is
   * what limits the stream (it lets at most a window per round trip through): it doubles, the extra
   * credit riding on this CREDIT, up to MAX_STREAM_WINDOW and the session's MAX_SESSION_WINDOW
   * (the auto-tuning QUIC and HTTP/2 receivers use).
   */
  private acknowledge(stream: RequesterStream, bytes: number): void {
    stream.unacknowledged += bytes;
    if (stream.unacknowledged < stream.window / 2 || !this.requesterStreams.has(stream.id)) return;
    let credit = stream.unacknowledged;
    const now = this.options.now?.();
    const roundTrip = this.options.roundTripMs?.() ?? null;
    if (now !== undefined && roundTrip !== null) {
      const growth = Math.min(stream.window, MAX_STREAM_WINDOW - stream.window, (this.options.maxSessionWindow ?? MAX_SESSION_WINDOW) - this.windowsInUse);
      if (now - stream.lastCreditAt < 2 * roundTrip && growth > 0) {
        stream.window += growth;
        this.windowsInUse += growth;
        credit += growth;
      }
      stream.lastCreditAt = now;
    }
    this.sendFrame({ type: 'CREDIT', streamId: stream.id, flags: 0, bytes: credit });
    stream.unacknowledged = 0;
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
      this.sendFrame({ type: 'ERROR', streamId: 0, flags: 0, error: { category: typed.category, message: typed.message } });
      return;
    }
    this.dispatch(frame);
  }

  private protocolError(message: string): void {
    const error = new PeerlaneError('protocol_error', message);
    this.options.onProtocolError?.(error);
  }

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
          if (this.remoteHello) this.abortExitStreams(new PeerlaneError('peer_lost', 'peer restarted'));
          this.sendFrame({ type: 'HELLO', streamId: 0, flags: FLAG_HELLO_REPLY, hello: this.options.hello });
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
        if (frame.flags & FLAG_END_STREAM) this.startExitStream(frame.streamId, frame.head, null);
        else if (this.incoming.has(frame.streamId) || this.exitStreams.has(frame.streamId)) this.protocolError(`stream ${frame.streamId} opened twice`);
        else this.incoming.set(frame.streamId, { head: frame.head, parts: [], bytes: 0, uncredited: 0 });
        return;
      case 'CANCEL': {
        this.incoming.delete(frame.streamId);
        const stream = this.exitStreams.get(frame.streamId);
        if (stream) this.closeExitStream(stream, new PeerlaneError('cancelled', 'requester cancelled'));
        return;
      }
      case 'CREDIT': {
        if (frame.flags & FLAG_REQUEST_BODY) {
          this.requestBodyCredited(frame.streamId, frame.bytes);
          return;
        }
        const stream = this.exitStreams.get(frame.streamId);
        if (!stream) return; // late credit for a finished stream
        stream.credit += frame.bytes;
        for (const waiter of stream.creditWaiters.splice(0)) waiter();
        return;
      }
      case 'RESPONSE_HEAD': {
        const stream = this.requesterStreams.get(frame.streamId);
        if (stream) stream.onHead(frame.head);
        return;
      }
      case 'BODY': {
        if (frame.flags & FLAG_REQUEST_BODY) {
          this.receiveRequestBody(frame.streamId, frame.data);
          return;
        }
        const stream = this.requesterStreams.get(frame.streamId);
        if (!stream) return; // late body after a cancel
        if (stream.bufferedBytes + frame.data.byteLength > stream.window) {
          this.sendFrame({ type: 'CANCEL', streamId: stream.id, flags: 0 });
          stream.finish(new PeerlaneError('protocol_error', 'peer sent more than the credit window'));
          return;
        }
        stream.chunks.push(frame.data.slice());
        stream.bufferedBytes += frame.data.byteLength;
        stream.wake?.();
        return;
      }
      case 'END': {
        if (frame.flags & FLAG_REQUEST_BODY) {
          const request = this.incoming.get(frame.streamId);
          if (!request) return; // cancelled or refused meanwhile
          this.incoming.delete(frame.streamId);
          // The rest of the body's credit: the requester's upload reaches 100 % (no more bytes may follow END).
          if (request.uncredited > 0) this.sendFrame({ type: 'CREDIT', streamId: frame.streamId, flags: FLAG_REQUEST_BODY, bytes: request.uncredited });
          this.startExitStream(frame.streamId, request.head, joinBytes(request.parts, request.bytes));
          return;
        }
        this.requesterStreams.get(frame.streamId)?.finish(null);
        return;
      }
      case 'ERROR': {
        if (frame.streamId === 0) {
          this.protocolError(`peer reported ${frame.error.category}: ${frame.error.message}`);
          return;
        }
        this.requesterStreams.get(frame.streamId)?.finish(new PeerlaneError(frame.error.category, frame.error.message));
        return;
      }
    }
  }

  private receiveRequestBody(id: number, data: Uint8Array): void {
    const request = this.incoming.get(id);
    if (!request) return; // late body after a cancel
    if (request.bytes + data.byteLength > MAX_REQUEST_BODY_BYTES) {
      this.incoming.delete(id);
      this.sendFrame({ type: 'ERROR', streamId: id, flags: 0, error: { category: 'exit_cap_size', message: `request body over ${MAX_REQUEST_BODY_BYTES} bytes` } });
      return;
    }
    // A view into its frame, which nothing reuses: the parts are copied once, when END joins them.
    request.parts.push(data);
    request.bytes += data.byteLength;
    request.uncredited += data.byteLength;
    if (request.uncredited > REQUEST_BODY_WINDOW && this.remoteHello?.capabilities.includes(REQUEST_BODY_CREDIT)) {
      // More than a window ahead of the credit given, by a peer that said it honours it.
      this.incoming.delete(id);
      this.sendFrame({ type: 'ERROR', streamId: id, flags: 0, error: { category: 'protocol_error', message: 'request body sent past its credit window' } });
      return;
    }
    // Credit in halves of the window, as for responses, so CREDIT frames stay rare.
    if (request.uncredited >= REQUEST_BODY_WINDOW / 2) {
      this.sendFrame({ type: 'CREDIT', streamId: id, flags: FLAG_REQUEST_BODY, bytes: request.uncredited });
      request.uncredited = 0;
    }
  }

  private startExitStream(id: number, request: RequestHead, body: Uint8Array<ArrayBuffer> | null): void {
    const handler = this.options.exitHandler;
    if (!handler) {
      this.sendFrame({ type: 'ERROR', streamId: id, flags: 0, error: { category: 'sharing_off', message: 'this peer does not share its connection' } });
      return;
    }
    if (this.exitStreams.has(id)) {
      this.protocolError(`stream ${id} opened twice`);
      return;
    }
    const stream: ExitStream = { id, credit: this.window, creditWaiters: [], controller: new AbortController(), closed: false };
    this.exitStreams.set(id, stream);
    let headSent = false;
    const responder: ExitResponder = {
      head: (head) => {
        if (stream.closed || headSent) return;
        headSent = true;
        this.sendFrame({ type: 'RESPONSE_HEAD', streamId: id, flags: 0, head });
      },
      write: async (chunk) => {
        for (let offset = 0; offset < chunk.byteLength; ) {
          if (stream.closed) throw stream.controller.signal.reason ?? new PeerlaneError('cancelled', 'stream closed');
          if (stream.credit <= 0) {
            await new Promise<void>((resolve) => stream.creditWaiters.push(resolve));
            continue;
          }
          const size = Math.min(MAX_PAYLOAD_BYTES, stream.credit, chunk.byteLength - offset);
          this.sendFrame({ type: 'BODY', streamId: id, flags: 0, data: chunk.subarray(offset, offset + size) });
          stream.credit -= size;
          offset += size;
        }
      },
      end: () => {
        if (stream.closed) return;
        this.sendFrame({ type: 'END', streamId: id, flags: 0 });
        this.closeExitStream(stream, null);
      },
      error: (error) => {
        if (stream.closed) return;
        this.sendFrame({ type: 'ERROR', streamId: id, flags: 0, error: { category: error.category, message: error.message } });
        this.closeExitStream(stream, error);
      },
    };
    handler(request, responder, stream.controller.signal, body);
  }

  private closeExitStream(stream: ExitStream, error: PeerlaneError | null): void {
    if (stream.closed) return;
    stream.closed = true;
    this.exitStreams.delete(stream.id);
    stream.controller.abort(error ?? new PeerlaneError('cancelled', 'stream finished'));
    for (const waiter of stream.creditWaiters.splice(0)) waiter();
  }

  private abortExitStreams(error: PeerlaneError): void {
    for (const stream of [...this.exitStreams.values()]) this.closeExitStream(stream, error);
  }

  /** The channel is gone: every stream of both roles fails with `error` (usually peer_lost). */
  close(error: PeerlaneError): void {
    if (this.closedWith) return;
    this.incoming.clear();
    this.abortExitStreams(error);
    for (const stream of [...this.requesterStreams.values()]) stream.finish(error);
    this.closedWith = error;
    for (const wake of this.helloWaiters.splice(0)) wake();
  }
}
