import { describe, expect, it } from 'vitest';
import { PeerlaneError } from '../../extension/core/errors';
import { createExitHandler, type ExitFetcher } from '../../extension/core/exit/exit-service';
import { DEFAULT_EXIT_POLICY } from '../../extension/core/exit/policy';
import {
  MAX_STREAM_WINDOW,
  PeerSession,
  REQUEST_BODY_WINDOW,
  type ExitHandler,
} from '../../extension/core/peers/session';
import { decodeFrame, encodeFrame } from '../../extension/core/protocol/codec';
import {
  FLAG_HELLO_REPLY,
  FLAG_REQUEST_BODY,
  MAX_PAYLOAD_BYTES,
  REQUEST_BODY_CREDIT,
  type Frame,
} from '../../extension/core/protocol/frames';
import { MAX_REQUEST_BODY_BYTES } from '../../extension/core/protocol/limits';
import { flush } from '../helpers/fake-clock';

const hello = (role: 'requester' | 'exit', capabilities: string[] = []) => ({
  version: 1,
  role,
  capabilities,
  exitCapacity: 6,
});

/** Two sessions joined back to back; every frame crosses on a microtask, like a channel message. */
function pair(
  exitHandler: ExitHandler,
  streamWindow = 64 * 1024,
  timing: {
    now?: () => number;
    roundTripMs?: () => number | null;
    maxSessionWindow?: number;
    headStreamWindow?: number | (() => number);
  } = {},
  capabilities: string[] = [],
) {
  const toExit: Uint8Array[] = [];
  /** requestBodyAhead: the most request-body bytes ever sent beyond the exit's credit for them. */
  const wire = {
    requesterSent: 0,
    exitSent: 0,
    creditGranted: 0,
    requestBodySent: 0,
    requestBodyCredited: 0,
    requestBodyAhead: 0,
  };
  let exit: PeerSession | null = null;
  let requester: PeerSession | null = null;
  requester = new PeerSession({
    hello: hello('requester', capabilities),
    streamWindow,
    ...timing,
    send: (frame) => {
      wire.requesterSent += 1;
      const decoded = decodeFrame(frame);
      if (decoded.type === 'CREDIT') wire.creditGranted += decoded.bytes;
      if (decoded.type === 'BODY' && decoded.flags & FLAG_REQUEST_BODY) {
        wire.requestBodySent += decoded.data.byteLength;
        wire.requestBodyAhead = Math.max(wire.requestBodyAhead, wire.requestBodySent - wire.requestBodyCredited);
      }
      if (exit) queueMicrotask(() => exit?.receive(frame));
      else toExit.push(frame);
    },
  });
  exit = new PeerSession({
    hello: hello('exit', capabilities),
    streamWindow,
    exitHandler,
    send: (frame) => {
      wire.exitSent += frame.byteLength;
      const decoded = decodeFrame(frame);
      if (decoded.type === 'CREDIT' && decoded.flags & FLAG_REQUEST_BODY) wire.requestBodyCredited += decoded.bytes;
      queueMicrotask(() => requester.receive(frame));
    },
  });
  for (const frame of toExit.splice(0)) exit.receive(frame);
  return { requester, exit, wire };
}

async function readAll(stream: { read(): Promise<Uint8Array | null> }): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for (let chunk = await stream.read(); chunk; chunk = await stream.read()) parts.push(chunk);
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

describe('peer session', () => {
  it('carries a request and a 1 MB streamed body split into ≤16 KiB frames', async () => {
    const body = new Uint8Array(1_000_000).map((_, index) => index % 251);
    const { requester } = pair(async (request, responder) => {
      responder.head({ status: 200, statusText: 'OK', headers: [['x-url', request.url]] });
      for (let offset = 0; offset < body.length; offset += 100_000)
        await responder.write(body.subarray(offset, offset + 100_000));
      responder.end();
    });
    const response = await requester.open(
      { method: 'GET', url: 'https://example.com/', headers: [] },
      new AbortController().signal,
    );
    expect(response.head.headers).toEqual([['x-url', 'https://example.com/']]);
    expect(await readAll(response)).toEqual(body);
    await expect(response.done).resolves.toBeUndefined();
  });

  it('a reader that stops reading stops the exit after one credit window', async () => {
    const window = 64 * 1024;
    let written = 0;
    const { requester, wire } = pair(
      async (_request, responder) => {
        responder.head({ status: 200, statusText: 'OK', headers: [] });
        for (let i = 0; i < 100; i += 1) {
          await responder.write(new Uint8Array(8 * 1024));
          written += 8 * 1024;
        }
        responder.end();
      },
      window,
      { headStreamWindow: window },
    );
    const response = await requester.open(
      { method: 'GET', url: 'https://example.com/', headers: [] },
      new AbortController().signal,
    );
    for (let i = 0; i < 20; i += 1) await flush();
    expect(written).toBe(window);
    expect(wire.exitSent).toBeLessThan(window + 4096);
    await response.read();
    for (let i = 0; i < 20; i += 1) await flush();
    expect(written).toBe(window); // one 8 KiB read is under half a window: no credit yet
    for (let i = 0; i < 4; i += 1) await response.read();
    for (let i = 0; i < 20; i += 1) await flush();
    expect(written).toBeGreaterThan(window);
  });

  describe('response windows that follow the path', () => {
    const BODY = 4 * 1024 * 1024;
    const WINDOW = 64 * 1024;
    const streamed: ExitHandler = async (_request, responder) => {
      responder.head({ status: 200, statusText: 'OK', headers: [] });
      for (let offset = 0; offset < BODY; offset += 32 * 1024) await responder.write(new Uint8Array(32 * 1024));
      responder.end();
    };
    async function readThrough(
      timing: { now?: () => number; roundTripMs?: () => number | null },
      onRead: () => void = () => undefined,
    ) {
      // Without the head's widening: the round-trip rule alone.
      const { requester, wire } = pair(streamed, WINDOW, { ...timing, headStreamWindow: WINDOW });
      const response = await requester.open(
        { method: 'GET', url: 'https://example.com/', headers: [] },
        new AbortController().signal,
      );
      let read = 0;
      for (let chunk = await response.read(); chunk; chunk = await response.read()) {
        read += chunk.byteLength;
        onRead();
      }
      return { read, window: WINDOW + wire.creditGranted - read };
    }

    it('a window that limits the stream (half of it read within two round trips) doubles, up to MAX_STREAM_WINDOW', async () => {
      const { read, window } = await readThrough({ now: () => 0, roundTripMs: () => 50 });
      expect(read).toBe(BODY);
      // 64 KiB doubled on each credit while the whole body went by in no time at all.
      expect(window).toBeGreaterThanOrEqual(1024 * 1024);
      expect(window).toBeLessThanOrEqual(MAX_STREAM_WINDOW);
    });

    it('a reader slower than the window keeps it: no more credit than it read', async () => {
      let clock = 0;
      // 10 ms per 16 KiB read: half a window (32 KiB) takes 20 ms, past two 5 ms round trips.
      const { read, window } = await readThrough({ now: () => clock, roundTripMs: () => 5 }, () => (clock += 10));
      expect(read).toBe(BODY);
      expect(window).toBeLessThanOrEqual(WINDOW);
    });

    it('without a round-trip estimate the window stays as configured', async () => {
      const { window } = await readThrough({ now: () => 0, roundTripMs: () => null });
      expect(window).toBeLessThanOrEqual(WINDOW);
    });

    it('a response not known to be small gets the head window at once, in one CREDIT; one whose length fits gets none', async () => {
      const head = 1024 * 1024;
      const sized =
        (length: number | null): ExitHandler =>
        async (_request, responder) => {
          responder.head({
            status: 200,
            statusText: 'OK',
            headers: length === null ? [] : [['Content-Length', String(length)]],
          });
          await responder.write(new Uint8Array(length ?? 1000));
          responder.end();
        };
      for (const [length, extra] of [
        [null, head - WINDOW],
        [2 * WINDOW, head - WINDOW],
        [WINDOW, 0],
        [10, 0],
      ] as const) {
        const { requester, wire } = pair(sized(length), WINDOW, { headStreamWindow: head });
        const response = await requester.open(
          { method: 'GET', url: 'https://example.com/', headers: [] },
          new AbortController().signal,
        );
        expect(wire.creditGranted).toBe(extra);
        expect(requester.responseWindowBytes).toBe(WINDOW + extra);
        await readAll(response);
        expect(requester.responseWindowBytes).toBe(0);
      }
    });

    it('the head window is read at each head: a peer that became striped widens its next responses', async () => {
      let striped = false;
      const { requester, wire } = pair(streamed, WINDOW, { headStreamWindow: () => (striped ? 1024 * 1024 : WINDOW) });
      await requester.open({ method: 'GET', url: 'https://example.com/', headers: [] }, new AbortController().signal);
      expect(wire.creditGranted).toBe(0);
      striped = true;
      await requester.open({ method: 'GET', url: 'https://example.com/', headers: [] }, new AbortController().signal);
      expect(wire.creditGranted).toBe(1024 * 1024 - WINDOW);
    });

    it('the exit may send the whole head window before the requester reads a byte, and not a byte more', async () => {
      const head = 1024 * 1024;
      let written = 0;
      const { requester } = pair(
        async (_request, responder) => {
          responder.head({ status: 200, statusText: 'OK', headers: [] });
          for (let i = 0; i < 256; i += 1) {
            await responder.write(new Uint8Array(8 * 1024));
            written += 8 * 1024;
          }
          responder.end();
        },
        WINDOW,
        { headStreamWindow: head },
      );
      await requester.open({ method: 'GET', url: 'https://example.com/', headers: [] }, new AbortController().signal);
      for (let i = 0; i < 200; i += 1) await flush();
      expect(written).toBe(head);
    });

    it('widening takes a quarter of what the session has unused, so many streams stay within its bound', async () => {
      const bound = 4 * 1024 * 1024;
      const { requester } = pair(streamed, WINDOW, { maxSessionWindow: bound, headStreamWindow: 2 * 1024 * 1024 });
      const windows: number[] = [];
      for (let index = 0; index < 12; index += 1) {
        const before = requester.responseWindowBytes;
        await requester.open({ method: 'GET', url: 'https://example.com/', headers: [] }, new AbortController().signal);
        windows.push(requester.responseWindowBytes - before);
      }
      // The first: a quarter of the 4 MiB its own 64 KiB left unused (under the 2 MiB cap); each later one a quarter of what is left, never under the stream's own.
      expect(windows[0]).toBe((bound - WINDOW) / 4);
      expect(windows.every((window, index) => index === 0 || window <= windows[index - 1]!)).toBe(true);
      expect(windows.at(-1)).toBe(WINDOW);
      expect(requester.responseWindowBytes).toBeLessThanOrEqual(bound + 12 * WINDOW);
    });

    it('grown windows stay within the session bound across the streams of one peer', async () => {
      const bound = 2 * 1024 * 1024;
      const { requester } = pair(streamed, WINDOW, { now: () => 0, roundTripMs: () => 50, maxSessionWindow: bound });
      const streams = await Promise.all(
        Array.from({ length: 8 }, () =>
          requester.open({ method: 'GET', url: 'https://example.com/', headers: [] }, new AbortController().signal),
        ),
      );
      let largest = 0;
      const reads = await Promise.all(
        streams.map(async (stream) => {
          let read = 0;
          for (let chunk = await stream.read(); chunk; chunk = await stream.read()) {
            read += chunk.byteLength;
            largest = Math.max(largest, requester.responseWindowBytes);
          }
          return read;
        }),
      );
      expect(reads.reduce((sum, bytes) => sum + bytes, 0)).toBe(8 * BODY);
      // Alone, each stream grows past 1 MiB (the first case); together they stop at the bound.
      expect(largest).toBeGreaterThan(8 * WINDOW);
      expect(largest).toBeLessThanOrEqual(bound);
      expect(requester.responseWindowBytes).toBe(0);
    });
  });

  it('cancellation reaches the exit handler as an aborted signal', async () => {
    let exitSignal: AbortSignal | null = null;
    const { requester } = pair((_request, responder, signal) => {
      exitSignal = signal;
      responder.head({ status: 200, statusText: 'OK', headers: [] });
    });
    const controller = new AbortController();
    const response = await requester.open(
      { method: 'GET', url: 'https://example.com/', headers: [] },
      controller.signal,
    );
    controller.abort(new PeerlaneError('cancelled', 'page went away'));
    await flush();
    expect(exitSignal!.aborted).toBe(true);
    await expect(response.read()).rejects.toMatchObject({ category: 'cancelled' });
  });

  it('an exit error arrives typed, with its message', async () => {
    const { requester } = pair((_request, responder) =>
      responder.error(new PeerlaneError('destination_refused', 'private address 127.0.0.1 is refused')),
    );
    await expect(
      requester.open({ method: 'GET', url: 'http://x/', headers: [] }, new AbortController().signal),
    ).rejects.toMatchObject({
      category: 'destination_refused',
      message: 'private address 127.0.0.1 is refused',
    });
  });

  it("cancelling a response stream stops it at the exit (its handler's signal aborts) and fails its reads with the reason", async () => {
    let exitSignal: AbortSignal | null = null;
    const { requester } = pair((_request, responder, signal) => {
      exitSignal = signal;
      responder.head({ status: 200, statusText: 'OK', headers: [] });
    });
    const response = await requester.open(
      { method: 'GET', url: 'https://example.com/', headers: [] },
      new AbortController().signal,
    );
    response.cancel(new PeerlaneError('attempt_timeout', 'stalled'));
    await expect(response.read()).rejects.toMatchObject({ category: 'attempt_timeout', message: 'stalled' });
    await flush();
    expect(exitSignal).toMatchObject({ aborted: true });
  });

  it('an async exit handler that fails ends its stream with a typed ERROR, before and after the head', async () => {
    const beforeHead = pair(async () => {
      await Promise.resolve();
      throw new PeerlaneError('exit_fetch_failed', 'the fetch broke');
    });
    await expect(
      beforeHead.requester.open(
        { method: 'GET', url: 'https://example.com/', headers: [] },
        new AbortController().signal,
      ),
    ).rejects.toMatchObject({ category: 'exit_fetch_failed', message: 'the fetch broke' });
    const midBody = pair(async (_request, responder) => {
      responder.head({ status: 200, statusText: 'OK', headers: [] });
      await responder.write(new Uint8Array(10));
      throw new Error('a bug in the handler');
    });
    const response = await midBody.requester.open(
      { method: 'GET', url: 'https://example.com/', headers: [] },
      new AbortController().signal,
    );
    await expect(readAll(response)).rejects.toMatchObject({ category: 'internal', message: 'a bug in the handler' });
  });

  it('an updated HELLO reaches the peer on the live session: the stream under way goes on and nothing is answered back', async () => {
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    const heard: number[] = [];
    const requesterSent: Frame[] = [];
    let exit: PeerSession | null = null;
    const requester = new PeerSession({
      hello: hello('requester'),
      send: (frame) => {
        requesterSent.push(decodeFrame(frame));
        queueMicrotask(() => exit?.receive(frame));
      },
      onHello: (said) => heard.push(said.exitCapacity),
    });
    exit = new PeerSession({
      hello: hello('exit'),
      exitHandler: async (_request, responder) => {
        responder.head({ status: 200, statusText: 'OK', headers: [] });
        await responder.write(new TextEncoder().encode('first half, '));
        await released;
        await responder.write(new TextEncoder().encode('second half'));
        responder.end();
      },
      send: (frame) => queueMicrotask(() => requester.receive(frame)),
    });
    await flush();
    const response = await requester.open(
      { method: 'GET', url: 'http://x/', headers: [] },
      new AbortController().signal,
    );
    const hellosBefore = requesterSent.filter((frame) => frame.type === 'HELLO').length;
    const heardBefore = heard.length;
    exit.updateHello({ ...hello('exit'), exitCapacity: 0 });
    await flush();
    expect(requester.remoteHello).toMatchObject({ role: 'exit', exitCapacity: 0 });
    expect(heard.slice(heardBefore)).toEqual([0]);
    expect(requesterSent.filter((frame) => frame.type === 'HELLO')).toHaveLength(hellosBefore);
    release();
    expect(new TextDecoder().decode(await readAll(response))).toBe('first half, second half');
  });

  it('a peer that stops serving ends each stream it serves with an ERROR of that category, at once', async () => {
    const { requester, exit } = pair(async (_request, responder, signal) => {
      responder.head({ status: 200, statusText: 'OK', headers: [] });
      await responder.write(new Uint8Array(1000));
      // The handler's fetch would go on: only the session's end stops it.
      await new Promise((resolve) => signal.addEventListener('abort', resolve));
    });
    const signal = new AbortController().signal;
    const responses = await Promise.all([
      requester.open({ method: 'GET', url: 'http://x/a', headers: [] }, signal),
      requester.open({ method: 'GET', url: 'http://x/b', headers: [] }, signal),
    ]);
    exit.endServed(new PeerlaneError('sharing_off', 'this peer stopped sharing its connection'));
    for (const response of responses)
      await expect(readAll(response)).rejects.toMatchObject({
        category: 'sharing_off',
        message: 'this peer stopped sharing its connection',
      });
    expect(exit.openStreams).toBe(0);
  });

  it('a peer that does not share answers sharing_off', async () => {
    const sent: Uint8Array[] = [];
    const notSharing = new PeerSession({ hello: hello('requester'), send: (frame) => sent.push(frame) });
    const requester = new PeerSession({ hello: hello('requester'), send: (frame) => notSharing.receive(frame) });
    const opened = requester.open({ method: 'GET', url: 'http://x/', headers: [] }, new AbortController().signal);
    for (const frame of sent.splice(0)) requester.receive(frame);
    await expect(opened).rejects.toMatchObject({ category: 'sharing_off' });
  });

  it('garbage is answered with a typed ERROR frame and the session keeps working', async () => {
    const replies: Uint8Array[] = [];
    const errors: string[] = [];
    const session = new PeerSession({
      hello: hello('exit'),
      send: (frame) => replies.push(frame),
      onProtocolError: (error) => errors.push(error.category),
    });
    replies.length = 0;
    session.receive(new Uint8Array([1, 99, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]));
    session.receive(new Uint8Array([7]));
    expect(errors).toEqual(['frame_unknown_type', 'frame_truncated']);
    expect(replies.map((frame) => decodeFrame(frame).type)).toEqual(['ERROR', 'ERROR']);
  });

  it('closing the session fails open streams with peer_lost and aborts served ones', async () => {
    let exitSignal: AbortSignal | null = null;
    const { requester, exit } = pair((_request, responder, signal) => {
      exitSignal = signal;
      responder.head({ status: 200, statusText: 'OK', headers: [] });
    });
    const response = await requester.open(
      { method: 'GET', url: 'https://example.com/', headers: [] },
      new AbortController().signal,
    );
    requester.close(new PeerlaneError('peer_lost', 'data channel closed'));
    exit.close(new PeerlaneError('peer_lost', 'data channel closed'));
    await expect(response.read()).rejects.toMatchObject({ category: 'peer_lost' });
    expect(exitSignal!.aborted).toBe(true);
    await expect(
      requester.open({ method: 'GET', url: 'https://example.com/', headers: [] }, new AbortController().signal),
    ).rejects.toMatchObject({
      category: 'peer_lost',
    });
  });
});

describe('exit service', () => {
  const okFetcher =
    (seen: { url?: string; headers?: [string, string][] }): ExitFetcher =>
    async (request) => {
      seen.url = request.url;
      seen.headers = request.headers;
      return {
        head: {
          status: 200,
          statusText: 'OK',
          headers: [
            ['content-type', 'text/plain'],
            ['set-cookie', 'a=b'],
          ],
        },
        body: (async function* () {
          yield new TextEncoder().encode('hello');
        })(),
      };
    };

  it('forwards only allow-listed request headers and never Set-Cookie', async () => {
    const seen: { url?: string; headers?: [string, string][] } = {};
    const served: number[] = [];
    const handler = createExitHandler(okFetcher(seen), () => DEFAULT_EXIT_POLICY, {
      bytesSent: () => undefined,
      finished: (_request, outcome) => served.push(outcome.bytes),
    });
    const { requester } = pair(handler);
    const response = await requester.open(
      {
        method: 'GET',
        url: 'https://example.com/a',
        headers: [
          ['Accept', 'text/plain'],
          ['Cookie', 'secret'],
          ['Authorization', 'Bearer x'],
          ['Host', 'evil'],
        ],
      },
      new AbortController().signal,
    );
    expect(new TextDecoder().decode(await readAll(response))).toBe('hello');
    expect(seen.headers).toEqual([['Accept', 'text/plain']]);
    expect(response.head.headers).toEqual([['content-type', 'text/plain']]);
    expect(served).toEqual([5]);
  });

  it('refuses by policy before fetching and counts the refusal', async () => {
    const seen: { url?: string } = {};
    const refused: string[] = [];
    const handler = createExitHandler(okFetcher(seen), () => DEFAULT_EXIT_POLICY, {
      bytesSent: () => undefined,
      finished: (_request, outcome) => outcome.error && refused.push(outcome.error.category),
    });
    const { requester } = pair(handler);
    await expect(
      requester.open({ method: 'GET', url: 'http://127.0.0.1/', headers: [] }, new AbortController().signal),
    ).rejects.toMatchObject({ category: 'destination_refused' });
    await expect(
      requester.open({ method: 'POST', url: 'https://example.com/', headers: [] }, new AbortController().signal),
    ).rejects.toMatchObject({ category: 'method_refused' });
    expect(seen.url).toBeUndefined();
    expect(refused).toEqual(['destination_refused', 'method_refused']);
  });
});

describe('request bodies', () => {
  it('a request body reaches the exit whole, over several BODY frames', async () => {
    const upload = new Uint8Array(200_000).map((_, index) => (index * 7) % 256);
    let received: Uint8Array | null | undefined;
    const { requester } = pair((request, responder, _signal, body) => {
      received = body;
      responder.head({ status: 201, statusText: 'Created', headers: [['x-method', request.method]] });
      responder.end();
    });
    const response = await requester.open(
      { method: 'POST', url: 'https://example.com/up', headers: [['content-type', 'application/octet-stream']] },
      new AbortController().signal,
      upload,
    );
    expect(response.head.status).toBe(201);
    expect(received).toEqual(upload);
    const empty = await requester.open(
      { method: 'GET', url: 'https://example.com/', headers: [] },
      new AbortController().signal,
    );
    expect(empty.head.status).toBe(201);
    expect(received).toBeNull();
  });

  describe("under the exit's credit (peers that say REQUEST_BODY_CREDIT)", () => {
    it('a 2 MB body arrives whole, never more than a window ahead of the credit, with progress rising to the whole before the head', async () => {
      const upload = new Uint8Array(2 * 1024 * 1024).map((_, index) => (index * 13) % 256);
      let received: Uint8Array | null | undefined;
      const { requester, wire } = pair(
        (_request, responder, _signal, body) => {
          received = body;
          responder.head({ status: 201, statusText: 'Created', headers: [] });
          responder.end();
        },
        64 * 1024,
        {},
        [REQUEST_BODY_CREDIT],
      );
      await flush(); // the HELLOs cross
      const progress: number[] = [];
      const response = await requester.open(
        { method: 'POST', url: 'https://example.com/up', headers: [] },
        new AbortController().signal,
        upload,
        { onUploaded: (bytes) => progress.push(bytes) },
      );
      expect(response.head.status).toBe(201);
      // Compared as buffers: toEqual walks 2 MB element by element for seconds.
      expect(Buffer.from(received!).equals(Buffer.from(upload))).toBe(true);
      expect(wire.requestBodyAhead).toBeLessThanOrEqual(REQUEST_BODY_WINDOW);
      expect(wire.requestBodyCredited).toBe(upload.byteLength);
      expect(progress.length).toBeGreaterThan(4);
      expect(progress).toEqual([...progress].sort((a, b) => a - b));
      expect(progress.at(-1)).toBe(upload.byteLength);
    });

    it('an exit that grants nothing gets one window and no END; each credit lets that much more go', async () => {
      const sent: Frame[] = [];
      const requester = new PeerSession({
        hello: hello('requester', [REQUEST_BODY_CREDIT]),
        send: (frame) => sent.push(decodeFrame(frame)),
      });
      requester.receive(
        encodeFrame({ type: 'HELLO', streamId: 0, flags: 0, hello: hello('exit', [REQUEST_BODY_CREDIT]) }),
      );
      const progress: number[] = [];
      void requester
        .open(
          { method: 'PUT', url: 'https://example.com/big', headers: [] },
          new AbortController().signal,
          new Uint8Array(1024 * 1024),
          { onUploaded: (bytes) => progress.push(bytes) },
        )
        .catch(() => undefined);
      await flush();
      const bodyBytes = () =>
        sent
          .flatMap((frame) => (frame.type === 'BODY' ? [frame.data.byteLength] : []))
          .reduce((sum, bytes) => sum + bytes, 0);
      expect(bodyBytes()).toBe(REQUEST_BODY_WINDOW);
      expect(sent.some((frame) => frame.type === 'END')).toBe(false);
      const streamId = sent.find((frame) => frame.type === 'REQUEST_HEAD')!.streamId;
      requester.receive(encodeFrame({ type: 'CREDIT', streamId, flags: FLAG_REQUEST_BODY, bytes: 100_000 }));
      await flush();
      expect(bodyBytes()).toBe(REQUEST_BODY_WINDOW + 100_000);
      expect(progress).toEqual([100_000]);
      // Credit without the flag is for the other direction (a response this side serves): no body moves.
      requester.receive(encodeFrame({ type: 'CREDIT', streamId, flags: 0, bytes: 100_000 }));
      await flush();
      expect(bodyBytes()).toBe(REQUEST_BODY_WINDOW + 100_000);
    });

    it('a request body is credited as it arrives, so a requester that ignores its credit is served; past MAX_REQUEST_BODY_BYTES it is refused with exit_cap_size and never served', async () => {
      const sent: Frame[] = [];
      let served = 0;
      const exit = new PeerSession({
        hello: hello('exit', [REQUEST_BODY_CREDIT]),
        exitHandler: () => {
          served += 1;
        },
        send: (frame) => sent.push(decodeFrame(frame)),
      });
      exit.receive(
        encodeFrame({ type: 'HELLO', streamId: 0, flags: 0, hello: hello('requester', [REQUEST_BODY_CREDIT]) }),
      );
      const chunk = new Uint8Array(MAX_PAYLOAD_BYTES);
      const sendBody = (streamId: number, bytes: number, head = true): void => {
        if (head)
          exit.receive(
            encodeFrame({
              type: 'REQUEST_HEAD',
              streamId,
              flags: 0,
              head: { method: 'POST', url: 'https://example.com/', headers: [] },
            }),
          );
        for (let offset = 0; offset < bytes; offset += chunk.byteLength)
          exit.receive(
            encodeFrame({
              type: 'BODY',
              streamId,
              flags: FLAG_REQUEST_BODY,
              data: chunk.subarray(0, Math.min(chunk.byteLength, bytes - offset)),
            }),
          );
      };
      const credited = (streamId: number): number =>
        sent.reduce(
          (sum, frame) => sum + (frame.type === 'CREDIT' && frame.streamId === streamId ? frame.bytes : 0),
          0,
        );
      // Half a window in, it is credited back, before the requester could have waited for anything.
      sendBody(1, REQUEST_BODY_WINDOW / 2);
      expect(credited(1)).toBeGreaterThanOrEqual(REQUEST_BODY_WINDOW / 2);
      // Two windows in all without waiting for any credit: the exit cannot tell it from credit in flight.
      sendBody(1, REQUEST_BODY_WINDOW * 2 - REQUEST_BODY_WINDOW / 2, false);
      // All but less than half a window (the rest goes with END).
      expect(credited(1)).toBeGreaterThan(REQUEST_BODY_WINDOW * 2 - REQUEST_BODY_WINDOW / 2);
      exit.receive(encodeFrame({ type: 'END', streamId: 1, flags: FLAG_REQUEST_BODY }));
      expect(credited(1)).toBe(REQUEST_BODY_WINDOW * 2);
      expect(served).toBe(1);
      sendBody(3, MAX_REQUEST_BODY_BYTES + 1);
      exit.receive(encodeFrame({ type: 'END', streamId: 3, flags: FLAG_REQUEST_BODY }));
      expect(sent.flatMap((frame) => (frame.type === 'ERROR' ? [[frame.streamId, frame.error.category]] : []))).toEqual(
        [[3, 'exit_cap_size']],
      );
      expect(served).toBe(1);
    });

    it("whenHello waits for the peer's HELLO on a channel that just opened, and fails when the session closes first", async () => {
      const requester = new PeerSession({ hello: hello('requester'), send: () => undefined });
      let seen: string[] | null = null;
      void requester.whenHello(new AbortController().signal).then((remote) => (seen = remote.methods ?? []));
      await flush();
      expect(seen).toBeNull();
      requester.receive(
        encodeFrame({ type: 'HELLO', streamId: 0, flags: 0, hello: { ...hello('exit'), methods: ['GET', 'HEAD'] } }),
      );
      await flush();
      expect(seen).toEqual(['GET', 'HEAD']);
      const lonely = new PeerSession({ hello: hello('requester'), send: () => undefined });
      const waiting = lonely.whenHello(new AbortController().signal);
      lonely.close(new PeerlaneError('peer_lost', 'channel closed'));
      await expect(waiting).rejects.toMatchObject({ category: 'peer_lost' });
      // An attempt given up (its timeout, the page's abort) stops waiting at once.
      const quiet = new PeerSession({ hello: hello('requester'), send: () => undefined });
      const controller = new AbortController();
      const given = quiet.whenHello(controller.signal);
      controller.abort(new PeerlaneError('attempt_timeout', 'exit sent no response'));
      await expect(given).rejects.toMatchObject({ category: 'attempt_timeout' });
    });

    it("every new session's HELLO is answered with ours (marked a reply, never answered again), so a peer that rebuilt its session learns what we carry", async () => {
      const sent: Frame[] = [];
      const exit = new PeerSession({
        hello: { ...hello('exit'), methods: ['GET'] },
        send: (frame) => sent.push(decodeFrame(frame)),
      });
      const hellos = () => sent.filter((frame) => frame.type === 'HELLO');
      expect(hellos()).toHaveLength(1);
      exit.receive(encodeFrame({ type: 'HELLO', streamId: 0, flags: 0, hello: hello('requester') }));
      expect(hellos()).toHaveLength(2);
      expect(hellos()[1]!.flags & FLAG_HELLO_REPLY).toBe(FLAG_HELLO_REPLY);
      exit.receive(encodeFrame({ type: 'HELLO', streamId: 0, flags: FLAG_HELLO_REPLY, hello: hello('requester') }));
      expect(hellos()).toHaveLength(2);
      // The peer rebuilt its session: the new one gets our HELLO even though ours went to the old one.
      exit.receive(encodeFrame({ type: 'HELLO', streamId: 0, flags: 0, hello: hello('requester') }));
      const rebuilt = new PeerSession({ hello: hello('requester'), send: () => undefined });
      rebuilt.receive(encodeFrame(hellos().at(-1)!));
      expect((await rebuilt.whenHello(new AbortController().signal)).methods).toEqual(['GET']);
    });

    it('an older peer (no REQUEST_BODY_CREDIT) gets the whole body at once, and the upload reports it whole', async () => {
      const sent: Frame[] = [];
      const requester = new PeerSession({
        hello: hello('requester', [REQUEST_BODY_CREDIT]),
        send: (frame) => sent.push(decodeFrame(frame)),
      });
      requester.receive(encodeFrame({ type: 'HELLO', streamId: 0, flags: 0, hello: hello('exit') }));
      const progress: number[] = [];
      void requester
        .open(
          { method: 'PUT', url: 'https://example.com/big', headers: [] },
          new AbortController().signal,
          new Uint8Array(1024 * 1024),
          { onUploaded: (bytes) => progress.push(bytes) },
        )
        .catch(() => undefined);
      await flush();
      expect(sent.filter((frame) => frame.type === 'BODY').length).toBeGreaterThan(1);
      expect(sent.some((frame) => frame.type === 'END')).toBe(true);
      expect(progress).toEqual([1024 * 1024]);
    });
  });

  it('both peers may number a stream 1: a request body and a response body never mix', async () => {
    // Each side serves the other: A's request 1 carries a body while B's request 1 gets a response body.
    let a: PeerSession | null = null;
    let b: PeerSession | null = null;
    const bodies: Record<string, Uint8Array | null | undefined> = {};
    const serve =
      (name: string): ExitHandler =>
      (_request, responder, _signal, body) => {
        bodies[name] = body;
        responder.head({ status: 200, statusText: 'OK', headers: [] });
        void responder.write(new TextEncoder().encode(`response from ${name}`)).then(() => responder.end());
      };
    a = new PeerSession({
      hello: hello('exit'),
      exitHandler: serve('a'),
      send: (frame) => queueMicrotask(() => b?.receive(frame)),
    });
    b = new PeerSession({
      hello: hello('exit'),
      exitHandler: serve('b'),
      send: (frame) => queueMicrotask(() => a.receive(frame)),
    });
    const [fromB, fromA] = await Promise.all([
      a.open(
        { method: 'POST', url: 'https://b.example/', headers: [] },
        new AbortController().signal,
        new TextEncoder().encode('upload from a'),
      ),
      b.open({ method: 'GET', url: 'https://a.example/', headers: [] }, new AbortController().signal),
    ]);
    expect(new TextDecoder().decode(await readAll(fromB))).toBe('response from b');
    expect(new TextDecoder().decode(await readAll(fromA))).toBe('response from a');
    expect(new TextDecoder().decode(bodies.b!)).toBe('upload from a');
    expect(bodies.a).toBeNull();
  });

  it('the exit forwards the body to its fetch', async () => {
    let seen: Uint8Array | null = null;
    const fetcher: ExitFetcher = async (request) => {
      seen = request.body;
      return { head: { status: 200, statusText: 'OK', headers: [] }, body: null };
    };
    const { requester } = pair(
      createExitHandler(fetcher, () => ({ ...DEFAULT_EXIT_POLICY, allowedMethods: ['GET', 'POST'] }), {
        bytesSent: () => undefined,
        finished: () => undefined,
      }),
    );
    const response = await requester.open(
      { method: 'POST', url: 'https://example.com/form', headers: [['content-type', 'application/json']] },
      new AbortController().signal,
      new TextEncoder().encode('{"a":1}'),
    );
    await response.done;
    expect(new TextDecoder().decode(seen!)).toBe('{"a":1}');
  });
});
