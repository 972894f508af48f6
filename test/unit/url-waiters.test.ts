import { describe, expect, it } from 'vitest';
import { UrlWaiters } from '../../extension/background/platform/url-waiters';

/** The exit's matching of webRequest events to its own fetches (pure; the browsers feed it events). */
const URL = 'http://origin.example/delay';
const none = { ip: null as string | null };

describe('matching webRequest events to fetches', () => {
  it("an aborted fetch's error never answers another fetch of the same URL", async () => {
    const waiters = new UrlWaiters(none);
    const first = new AbortController();
    const second = new AbortController();
    const firstWait = waiters.wait(URL, first.signal, 5000);
    const secondWait = waiters.wait(URL, second.signal, 5000);
    waiters.bind(URL, 'req-1');
    waiters.bind(URL, 'req-2');
    first.abort();
    await expect(firstWait()).resolves.toEqual(none);
    // The browser reports the aborted request's error after its waiter has gone.
    waiters.settle(URL, none, 'req-1');
    waiters.settle(URL, { ip: '127.0.0.2' }, 'req-2');
    await expect(secondWait()).resolves.toEqual({ ip: '127.0.0.2' });
  });

  it("answers each fetch with its own request's event, in whatever order they come", async () => {
    const waiters = new UrlWaiters(none);
    const a = waiters.wait(URL, new AbortController().signal, 5000);
    const b = waiters.wait(URL, new AbortController().signal, 5000);
    waiters.bind(URL, 'a');
    waiters.bind(URL, 'b');
    waiters.settle(URL, { ip: '192.0.2.2' }, 'b');
    waiters.settle(URL, { ip: '192.0.2.1' }, 'a');
    await expect(a()).resolves.toEqual({ ip: '192.0.2.1' });
    await expect(b()).resolves.toEqual({ ip: '192.0.2.2' });
  });

  it('falls back to the oldest unbound waiter when no request was bound, and times out closed', async () => {
    const waiters = new UrlWaiters(none);
    const unbound = waiters.wait(URL, new AbortController().signal, 5000);
    waiters.settle(URL, { ip: '192.0.2.9' }, 'never-bound');
    await expect(unbound()).resolves.toEqual({ ip: '192.0.2.9' });
    const silent = waiters.wait(URL, new AbortController().signal, 20);
    await expect(silent()).resolves.toEqual(none);
  });
});
