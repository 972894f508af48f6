import { joinBytes } from '../bytes';
import { PeerlaneError, toPeerlaneError } from '../errors';
import { MAX_REQUEST_BODY_BYTES } from '../protocol/limits';
import { FLAG_REQUEST_BODY, MAX_PAYLOAD_BYTES, type RequestHead, type ResponseHead } from '../protocol/frames';
import type { SessionLink } from './session-link';
import { REQUEST_BODY_WINDOW } from './stream-windows';

/**
 * The exit's half of a session: a request arrives as a head (and its body, credited back as it
 * comes), is handed whole to the exit handler, and its response goes back under the requester's
 * credit; CANCEL aborts the handler's signal.
 */
export interface ExitResponder {
  head(head: ResponseHead): void;
  /** Sends body bytes, waiting for credit; rejects with `cancelled` if the requester went away. */
  write(chunk: Uint8Array): Promise<void>;
  end(): void;
  error(error: PeerlaneError): void;
}

/**
 * `body`: the request's body (null for none), whole: it is collected before the handler runs. A
 * handler may be async: if it fails, the stream ends with an ERROR frame (category `internal` unless
 * the failure is a PeerlaneError), never silently.
 */
export type ExitHandler = (
  request: RequestHead,
  responder: ExitResponder,
  signal: AbortSignal,
  body?: Uint8Array<ArrayBuffer> | null,
) => void | Promise<void>;

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

export class ExitStreams {
  private readonly streams = new Map<number, ExitStream>();
  private readonly incoming = new Map<number, IncomingRequest>();

  constructor(
    private readonly link: SessionLink,
    /** Absent when this browser does not share its connection: every request is refused with `sharing_off`. */
    private readonly handler: ExitHandler | undefined,
    /** What each response stream may send before the requester's first CREDIT. */
    private readonly window: number,
  ) {}

  get size(): number {
    return this.streams.size;
  }

  requestHead(id: number, head: RequestHead, endsStream: boolean): void {
    if (endsStream) this.start(id, head, null);
    else if (this.incoming.has(id) || this.streams.has(id)) this.link.protocolError(`stream ${id} opened twice`);
    else this.incoming.set(id, { head, parts: [], bytes: 0, uncredited: 0 });
  }

  /** The request body's END: the rest of its credit goes back, and the request is served. */
  requestEnd(id: number): void {
    const request = this.incoming.get(id);
    if (!request) return; // cancelled or refused meanwhile
    this.incoming.delete(id);
    // The rest of the body's credit: the requester's upload reaches 100 % (no more bytes may follow END).
    if (request.uncredited > 0)
      this.link.sendFrame({ type: 'CREDIT', streamId: id, flags: FLAG_REQUEST_BODY, bytes: request.uncredited });
    this.start(id, request.head, joinBytes(request.parts, request.bytes));
  }

  cancel(id: number): void {
    this.incoming.delete(id);
    const stream = this.streams.get(id);
    if (stream) this.close(stream, new PeerlaneError('cancelled', 'requester cancelled'));
  }

  credit(id: number, bytes: number): void {
    const stream = this.streams.get(id);
    if (!stream) return; // late credit for a finished stream
    stream.credit += bytes;
    for (const waiter of stream.creditWaiters.splice(0)) waiter();
  }

  requestBody(id: number, data: Uint8Array): void {
    const request = this.incoming.get(id);
    if (!request) return; // late body after a cancel
    if (request.bytes + data.byteLength > MAX_REQUEST_BODY_BYTES) {
      this.incoming.delete(id);
      this.link.sendFrame({
        type: 'ERROR',
        streamId: id,
        flags: 0,
        error: { category: 'exit_cap_size', message: `request body over ${MAX_REQUEST_BODY_BYTES} bytes` },
      });
      return;
    }
    // A view into its frame, which nothing reuses: the parts are copied once, when END joins them.
    request.parts.push(data);
    request.bytes += data.byteLength;
    request.uncredited += data.byteLength;
    // Credit in halves of the window, as for responses, so CREDIT frames stay rare. The exit grants
    // as fast as bytes arrive, so a requester ahead of the credit it has heard back cannot be told
    // from one whose credit is in flight: credit paces an honest requester, and the body's one
    // bound is MAX_REQUEST_BODY_BYTES above (exit_cap_size).
    if (request.uncredited >= REQUEST_BODY_WINDOW / 2) {
      this.link.sendFrame({ type: 'CREDIT', streamId: id, flags: FLAG_REQUEST_BODY, bytes: request.uncredited });
      request.uncredited = 0;
    }
  }

  private start(id: number, request: RequestHead, body: Uint8Array<ArrayBuffer> | null): void {
    const handler = this.handler;
    if (!handler) {
      this.link.sendFrame({
        type: 'ERROR',
        streamId: id,
        flags: 0,
        error: { category: 'sharing_off', message: 'this peer does not share its connection' },
      });
      return;
    }
    if (this.streams.has(id)) {
      this.link.protocolError(`stream ${id} opened twice`);
      return;
    }
    const stream: ExitStream = {
      id,
      credit: this.window,
      creditWaiters: [],
      controller: new AbortController(),
      closed: false,
    };
    this.streams.set(id, stream);
    let headSent = false;
    const responder: ExitResponder = {
      head: (head) => {
        if (stream.closed || headSent) return;
        headSent = true;
        this.link.sendFrame({ type: 'RESPONSE_HEAD', streamId: id, flags: 0, head });
      },
      write: async (chunk) => {
        for (let offset = 0; offset < chunk.byteLength;) {
          if (stream.closed) throw stream.controller.signal.reason ?? new PeerlaneError('cancelled', 'stream closed');
          if (stream.credit <= 0) {
            await new Promise<void>((resolve) => stream.creditWaiters.push(resolve));
            continue;
          }
          const size = Math.min(MAX_PAYLOAD_BYTES, stream.credit, chunk.byteLength - offset);
          this.link.sendFrame({ type: 'BODY', streamId: id, flags: 0, data: chunk.subarray(offset, offset + size) });
          stream.credit -= size;
          offset += size;
        }
      },
      end: () => {
        if (stream.closed) return;
        this.link.sendFrame({ type: 'END', streamId: id, flags: 0 });
        this.close(stream, null);
      },
      error: (error) => {
        if (stream.closed) return;
        this.link.sendFrame({
          type: 'ERROR',
          streamId: id,
          flags: 0,
          error: { category: error.category, message: error.message },
        });
        this.close(stream, error);
      },
    };
    const serving = handler(request, responder, stream.controller.signal, body);
    serving?.catch((error: unknown) => responder.error(toPeerlaneError(error)));
  }

  private close(stream: ExitStream, error: PeerlaneError | null): void {
    if (stream.closed) return;
    stream.closed = true;
    this.streams.delete(stream.id);
    stream.controller.abort(error ?? new PeerlaneError('cancelled', 'stream finished'));
    for (const waiter of stream.creditWaiters.splice(0)) waiter();
  }

  /** Requests whose bodies were still arriving are forgotten. */
  dropIncoming(): void {
    this.incoming.clear();
  }

  /** Every request being served or still arriving ends with `error`, told to the requester (ERROR frames). */
  endAll(error: PeerlaneError): void {
    const payload = { category: error.category, message: error.message };
    for (const id of [...this.incoming.keys(), ...this.streams.keys()])
      this.link.sendFrame({ type: 'ERROR', streamId: id, flags: 0, error: payload });
    this.incoming.clear();
    this.abortAll(error);
  }

  abortAll(error: PeerlaneError): void {
    for (const stream of [...this.streams.values()]) this.close(stream, error);
  }
}
