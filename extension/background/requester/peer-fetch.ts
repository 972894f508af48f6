import { PeerlaneError } from '../../core/errors';
import type { RequestHead } from '../../core/protocol/frames';
import type { Priority } from '../../core/queue/request-queue';
import type { Requester } from './requester';

/**
 * One request through the queue as a streaming `Response` (Chrome's peer viewer): the head resolves
 * it, the body streams with the reader's pace as backpressure, an error before the head rejects
 * with the typed error. `signal` (or cancelling the body) cancels it at the exit.
 */
export function fetchThroughPeers(
  requester: Requester,
  head: RequestHead,
  priority: Priority,
  signal: AbortSignal,
): Promise<Response> {
  return new Promise<Response>((resolve, reject) => {
    const controller = new AbortController();
    signal.addEventListener('abort', () => controller.abort(signal.reason), { once: true });
    let body: ReadableStreamDefaultController<Uint8Array> | null = null;
    let pulled: (() => void) | null = null;
    controller.signal.addEventListener('abort', () => pulled?.(), { once: true });
    let headSent = false;
    const stream = new ReadableStream<Uint8Array>(
      {
        start: (streamController) => {
          body = streamController;
        },
        pull: () => {
          pulled?.();
          pulled = null;
        },
        cancel: () => controller.abort(new PeerlaneError('cancelled', 'the viewer stopped reading')),
      },
      { highWaterMark: 4 },
    );
    void requester.route(head, priority, controller.signal, null, {
      head: (response) => {
        headSent = true;
        const empty = response.status === 204 || response.status === 304 || head.method.toUpperCase() === 'HEAD';
        resolve(
          new Response(empty ? null : stream, {
            status: response.status < 200 ? 502 : response.status,
            statusText: response.statusText,
            headers: response.headers,
          }),
        );
      },
      chunk: async (bytes) => {
        if (!controller.signal.aborted) body?.enqueue(bytes);
        if ((body?.desiredSize ?? 1) <= 0 && !controller.signal.aborted)
          await new Promise<void>((resume) => (pulled = resume));
        return !controller.signal.aborted;
      },
      end: () => body?.close(),
      error: (error) => {
        if (!headSent) reject(error);
        else body?.error(error);
      },
    });
  });
}
