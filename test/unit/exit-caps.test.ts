import { describe, expect, it } from 'vitest';
import { PeerlaneError } from '../../extension/core/errors';
import { ExitCaps, MB, type ExitCapsOptions } from '../../extension/core/exit/caps';
import { FairBandwidth } from '../../extension/core/exit/fair-share';
import { createExitHandler, type ExitFetcher, type ExitOutcome } from '../../extension/core/exit/exit-service';
import { DEFAULT_EXIT_POLICY } from '../../extension/core/exit/policy';
import type { ExitResponder } from '../../extension/core/peers/session';
import { FakeClock, flush } from '../helpers/fake-clock';

const caps = (overrides: Partial<ExitCapsOptions> = {}): ExitCapsOptions => ({
  maxResponseBytes: 25 * MB,
  maxConcurrent: 6,
  bytesPerSecond: 2 * MB,
  dailyBytes: 1000 * MB,
  monthlyBytes: 20_000 * MB,
  ...overrides,
});

describe('fair bandwidth (deficit round robin)', () => {
  it('holds the rate over 10 s of sends in uneven chunks, and a cancel stops the wait', async () => {
    const clock = new FakeClock();
    const bandwidth = new FairBandwidth(clock, () => 100_000);
    const signal = new AbortController().signal;
    let sent = 0;
    const chunks = [16_384, 65_536, 1_000, 30_000];
    // 1.1 MB in total: 100 kB of burst, then 1 MB at 100 kB/s.
    const sender = (async () => {
      for (let index = 0; sent < 1_100_000; index += 1) {
        const size = Math.min(chunks[index % chunks.length]!, 1_100_000 - sent);
        await bandwidth.send('a', size, signal);
        sent += size;
      }
    })();
    for (let step = 0; step < 1200 && sent < 1_100_000; step += 1) {
      clock.advance(10);
      await flush();
    }
    await sender;
    expect(clock.now()).toBeGreaterThanOrEqual(10_000 - 700);
    expect(clock.now()).toBeLessThanOrEqual(10_000 + 700);

    const controller = new AbortController();
    const waiting = bandwidth
      .send('a', 500_000, controller.signal)
      .then(() => bandwidth.send('a', 10, controller.signal));
    controller.abort();
    await expect(waiting).rejects.toMatchObject({ category: 'cancelled' });
  });

  it('splits the rate evenly between a requester with six streams and one with one', async () => {
    const clock = new FakeClock();
    const bandwidth = new FairBandwidth(clock, () => 100_000);
    const stop = new AbortController();
    const bytes = { busy: 0, light: 0 };
    const stream = async (requester: 'busy' | 'light') => {
      for (let sends = 0; sends < 10_000; sends += 1) {
        await bandwidth.send(requester, 16_384, stop.signal).catch(() => undefined);
        if (stop.signal.aborted) return;
        bytes[requester] += 16_384;
      }
    };
    const streams = [...Array.from({ length: 6 }, () => stream('busy')), stream('light')];
    for (let step = 0; step < 20_000; step += 1) {
      clock.advance(1);
      await flush();
    }
    stop.abort();
    await Promise.all(streams);
    // 20 s at 100 kB/s: each requester about half, whatever its number of streams.
    const share = bytes.light / (bytes.light + bytes.busy);
    expect(share).toBeGreaterThan(0.45);
    expect(share).toBeLessThan(0.55);
    expect(bytes.light + bytes.busy).toBeGreaterThan(1_900_000);
  });
});

describe('exit caps', () => {
  it('admits up to the concurrency cap, refuses over the daily quota, and frees slots', () => {
    let used = 0;
    const limits = caps({ maxConcurrent: 2, dailyBytes: 1000 });
    const exit = new ExitCaps(
      new FakeClock(),
      () => limits,
      () => used,
    );
    expect(exit.admit('a')).toBeNull();
    expect(exit.admit('a')).toBeNull();
    expect(exit.admit('a')?.category).toBe('exit_cap_concurrency');
    exit.release('a');
    expect(exit.admit('a')).toBeNull();
    exit.release('a');
    exit.release('a');
    used = 1000;
    expect(exit.admit('a')?.category).toBe('exit_cap_quota');
  });

  it('one busy requester cannot keep another out: once refused, the other gets an equal share', () => {
    const clock = new FakeClock();
    const exit = new ExitCaps(
      clock,
      () => caps({ maxConcurrent: 6 }),
      () => 0,
    );
    for (let index = 0; index < 6; index += 1) expect(exit.admit('busy')).toBeNull();
    expect(exit.admit('light')?.category).toBe('exit_cap_concurrency');
    // A slot frees; the busy requester, now over its share of 3, is refused, and the slot waits for light.
    exit.release('busy');
    expect(exit.admit('busy')?.message).toMatch(/fair share \(3\)/);
    expect(exit.admit('light')).toBeNull();
    // Light's wish expires after a while without refusals; then busy may use free slots again.
    exit.release('light');
    clock.advance(6_000);
    expect(exit.admit('busy')).toBeNull();
  });
});

/** Runs the exit handler with caps against a fetcher that streams `body` in 10 kB chunks. */
async function serve(limits: ExitCapsOptions, body: number, declareLength: boolean, usedToday = 0) {
  const clock = new FakeClock();
  const fetcher: ExitFetcher = async () => ({
    head: { status: 200, statusText: 'OK', headers: declareLength ? [['content-length', String(body)]] : [] },
    body: (async function* () {
      for (let offset = 0; offset < body; offset += 10_000) yield new Uint8Array(Math.min(10_000, body - offset));
    })(),
  });
  const outcomes: ExitOutcome[] = [];
  let written = 0;
  let headSent = false;
  let failure: string | null = null;
  const responder: ExitResponder = {
    head: () => {
      headSent = true;
    },
    write: async (chunk) => {
      written += chunk.byteLength;
    },
    end: () => undefined,
    error: (error) => {
      failure = error.category;
    },
  };
  const exit = new ExitCaps(
    clock,
    () => limits,
    () => usedToday + written,
  );
  const handler = createExitHandler(
    fetcher,
    () => ({ ...DEFAULT_EXIT_POLICY }),
    { bytesSent: () => undefined, finished: (_request, outcome) => outcomes.push(outcome) },
    exit,
    'requester-1',
  );
  void handler(
    { method: 'GET', url: 'https://example.com/file', headers: [] },
    responder,
    new AbortController().signal,
  );
  for (let step = 0; step < 200 && outcomes.length === 0; step += 1) {
    clock.advance(100);
    await flush();
  }
  return { headSent, written, failure, outcome: outcomes[0], inUse: exit.inUse };
}

describe('exit handler under caps', () => {
  it('refuses a declared oversize body before any byte, and cuts an undeclared one at the cap', async () => {
    const declared = await serve(caps({ maxResponseBytes: 50_000 }), 80_000, true);
    expect(declared).toMatchObject({ headSent: false, written: 0, failure: 'exit_cap_size' });
    const undeclared = await serve(caps({ maxResponseBytes: 50_000 }), 80_000, false);
    expect(undeclared).toMatchObject({ headSent: true, written: 50_000, failure: 'exit_cap_size' });
    expect(undeclared.inUse).toBe(0);
  });

  it('stops at the daily quota mid-response', async () => {
    const result = await serve(caps({ dailyBytes: 1_000_000 }), 80_000, false, 970_000);
    expect(result).toMatchObject({ written: 30_000, failure: 'exit_cap_quota' });
  });

  it('a stream ended under its fetch (the signal aborted, the body simply stops) is logged with the reason, never as served', async () => {
    const controller = new AbortController();
    const outcomes: ExitOutcome[] = [];
    const handler = createExitHandler(
      async (_request, signal) => ({
        head: { status: 200, statusText: 'OK', headers: [] },
        // As a host's reader does when its fetch is aborted: the body ends, no error.
        body: (async function* () {
          yield new Uint8Array(1000);
          if (!signal.aborted) yield new Uint8Array(1000);
        })(),
      }),
      () => ({ ...DEFAULT_EXIT_POLICY }),
      { bytesSent: () => undefined, finished: (_request, outcome) => outcomes.push(outcome) },
      undefined,
      'requester-1',
    );
    const responder: ExitResponder = {
      head: () => undefined,
      write: async () => {
        controller.abort(new PeerlaneError('sharing_off', 'this peer stopped sharing its connection'));
      },
      end: () => undefined,
      error: () => undefined,
    };
    await handler({ method: 'GET', url: 'https://example.com/file', headers: [] }, responder, controller.signal);
    await expect.poll(() => outcomes).toHaveLength(1);
    expect(outcomes[0]).toMatchObject({ status: 200, bytes: 1000, error: { category: 'sharing_off' } });
  });

  it('serves within every cap', async () => {
    const result = await serve(caps(), 80_000, true);
    expect(result).toMatchObject({
      headSent: true,
      written: 80_000,
      failure: null,
      outcome: { bytes: 80_000, error: null },
    });
  });
});
