import { PeerlaneError, toPeerlaneError } from '../errors';
import {
  FLAG_END_STREAM,
  FLAG_REQUEST_BODY,
  MAX_PAYLOAD_BYTES,
  REQUEST_BODY_CREDIT,
  type RequestHead,
  type ResponseHead,
} from '../protocol/frames';
import type { SessionLink } from './session-link';
import { HEAD_STREAM_WINDOW, MAX_SESSION_WINDOW, MAX_STREAM_WINDOW, REQUEST_BODY_WINDOW } from './stream-windows';

/**
 * The requester's half of a session: each request it opens is a stream that sends its head (and its
 * body under the exit's credit), then buffers the response body and grants credit as it is read,
 * widening the window while it is what limits the transfer.
 */
export interface OpenOptions {
  /** Request body bytes the exit has taken so far (its CREDIT), rising to the whole body: upload progress. */
  onUploaded?: (bytes: number) => void;
}

export interface ResponseStream {
  readonly head: ResponseHead;
  /** Next body chunk, or null at the end. Reading grants the exit credit to send more. */
  read(): Promise<Uint8Array | null>;
  /** Chunks that `read()` would return without waiting: lets a consumer batch without adding latency. */
  readonly bufferedChunks: number;
  /** Settles when the response has ended (resolve) or failed/was cancelled (reject). */
  readonly done: Promise<void>;
  /** Stops this body at the exit (CANCEL) and fails its reads with `reason`; nothing once it has ended. */
  cancel(reason: PeerlaneError): void;
}

export interface RequesterStreamsConfig {
  /** The starting window of each response stream. */
  window: number;
  now?: () => number;
  roundTripMs?: () => number | null;
  maxSessionWindow?: number;
  headStreamWindow?: number | (() => number);
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

export class RequesterStreams {
  private readonly streams = new Map<number, RequesterStream>();
  /** Sum of the streams' windows (MAX_SESSION_WINDOW bounds their growth). */
  private windowsInUse = 0;
  private nextStreamId = 1;

  constructor(
    private readonly link: SessionLink,
    private readonly config: RequesterStreamsConfig,
  ) {}

  /** Bytes this requester lets its peer have in flight right now, over every response stream. */
  get windowBytes(): number {
    return this.windowsInUse;
  }

  get size(): number {
    return this.streams.size;
  }

  /**
   * Sends a request (with its body, if any, in BODY frames after the head) and resolves with the
   * response head (its body streams after).
   */
  open(
    request: RequestHead,
    signal: AbortSignal,
    body: Uint8Array | null = null,
    options: OpenOptions = {},
  ): Promise<ResponseStream> {
    if (this.link.closedWith) return Promise.reject(this.link.closedWith);
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
        window: this.config.window,
        lastCreditAt: -Infinity,
        upload: null,
        onHead: (head) => {
          this.widenForBody(stream, head);
          resolveHead(this.responseStream(stream, head, done));
        },
        onFail: (error) => rejectHead(error),
        finish: (error) => {
          if (this.streams.delete(id)) this.windowsInUse -= stream.window;
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
        if (!this.streams.has(id)) return;
        this.link.sendFrame({ type: 'CANCEL', streamId: id, flags: 0 });
        stream.finish(toPeerlaneError(signal.reason, 'cancelled'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.streams.set(id, stream);
      this.windowsInUse += stream.window;
      const hasBody = body !== null && body.byteLength > 0;
      this.link.sendFrame({ type: 'REQUEST_HEAD', streamId: id, flags: hasBody ? 0 : FLAG_END_STREAM, head: request });
      if (!hasBody) return;
      if (this.link.remoteHello?.capabilities.includes(REQUEST_BODY_CREDIT)) {
        stream.upload = { credit: REQUEST_BODY_WINDOW, taken: 0, wake: null, onUploaded: options.onUploaded };
        void this.sendRequestBody(stream, body);
        return;
      }
      // A peer that grants no request credit (older builds): the whole body at once, paced only by
      // the channel's bufferedAmount. Bounded all the same (MAX_REQUEST_BODY_BYTES, checked where it entered).
      for (let offset = 0; offset < body.byteLength; offset += MAX_PAYLOAD_BYTES) {
        this.link.sendFrame({
          type: 'BODY',
          streamId: id,
          flags: FLAG_REQUEST_BODY,
          data: body.subarray(offset, offset + MAX_PAYLOAD_BYTES),
        });
      }
      this.link.sendFrame({ type: 'END', streamId: id, flags: FLAG_REQUEST_BODY });
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
    const unused = (this.config.maxSessionWindow ?? MAX_SESSION_WINDOW) - this.windowsInUse;
    const wanted =
      typeof this.config.headStreamWindow === 'function'
        ? this.config.headStreamWindow()
        : (this.config.headStreamWindow ?? HEAD_STREAM_WINDOW);
    const extra = Math.min(wanted, Math.max(stream.window, Math.floor(unused / 4))) - stream.window;
    if (extra <= 0) return;
    stream.window += extra;
    this.windowsInUse += extra;
    this.link.sendFrame({ type: 'CREDIT', streamId: stream.id, flags: 0, bytes: extra });
  }

  /** A request body under the exit's credit: a window ahead, then as the exit takes it; stops when the stream ends. */
  private async sendRequestBody(stream: RequesterStream, body: Uint8Array): Promise<void> {
    const upload = stream.upload!;
    for (let offset = 0; offset < body.byteLength;) {
      if (!this.streams.has(stream.id) || this.link.closedWith) return;
      if (upload.credit <= 0) {
        await new Promise<void>((resolve) => {
          upload.wake = resolve;
        });
        upload.wake = null;
        continue;
      }
      const size = Math.min(MAX_PAYLOAD_BYTES, upload.credit, body.byteLength - offset);
      this.link.sendFrame({
        type: 'BODY',
        streamId: stream.id,
        flags: FLAG_REQUEST_BODY,
        data: body.subarray(offset, offset + size),
      });
      upload.credit -= size;
      offset += size;
    }
    if (this.streams.has(stream.id))
      this.link.sendFrame({ type: 'END', streamId: stream.id, flags: FLAG_REQUEST_BODY });
  }

  /** The exit took `bytes` more of a request body: send on, and say how far the upload got. */
  requestBodyCredited(streamId: number, bytes: number): void {
    const upload = this.streams.get(streamId)?.upload;
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
      cancel: (reason) => {
        if (!this.streams.has(stream.id)) return;
        this.link.sendFrame({ type: 'CANCEL', streamId: stream.id, flags: 0 });
        stream.finish(reason);
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
    if (stream.unacknowledged < stream.window / 2 || !this.streams.has(stream.id)) return;
    let credit = stream.unacknowledged;
    const now = this.config.now?.();
    const roundTrip = this.config.roundTripMs?.() ?? null;
    if (now !== undefined && roundTrip !== null) {
      const growth = Math.min(
        stream.window,
        MAX_STREAM_WINDOW - stream.window,
        (this.config.maxSessionWindow ?? MAX_SESSION_WINDOW) - this.windowsInUse,
      );
      if (now - stream.lastCreditAt < 2 * roundTrip && growth > 0) {
        stream.window += growth;
        this.windowsInUse += growth;
        credit += growth;
      }
      stream.lastCreditAt = now;
    }
    this.link.sendFrame({ type: 'CREDIT', streamId: stream.id, flags: 0, bytes: credit });
    stream.unacknowledged = 0;
  }

  responseHead(streamId: number, head: ResponseHead): void {
    this.streams.get(streamId)?.onHead(head);
  }

  responseBody(streamId: number, data: Uint8Array): void {
    const stream = this.streams.get(streamId);
    if (!stream) return; // late body after a cancel
    if (stream.bufferedBytes + data.byteLength > stream.window) {
      this.link.sendFrame({ type: 'CANCEL', streamId: stream.id, flags: 0 });
      stream.finish(new PeerlaneError('protocol_error', 'peer sent more than the credit window'));
      return;
    }
    stream.chunks.push(data.slice());
    stream.bufferedBytes += data.byteLength;
    stream.wake?.();
  }

  /** END (null) or a stream's ERROR. */
  finish(streamId: number, error: PeerlaneError | null): void {
    this.streams.get(streamId)?.finish(error);
  }

  failAll(error: PeerlaneError): void {
    for (const stream of [...this.streams.values()]) stream.finish(error);
  }
}
