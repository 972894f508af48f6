import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PopupState } from '../../extension/core/channels/popup-channel';
import { DEFAULT_SETTINGS } from '../../extension/core/settings';
import { startSignalingServer, type SignalingServer } from '../../signaling-server/server';
import {
  backgroundState,
  launchWithExtension,
  stopServiceWorker,
  waitFor,
  waitForRoutedScripts,
  type ExtensionBrowser,
} from '../helpers/chromium';
import { startOriginServer, type OriginServer, DEV_ORIGIN_ADDRESS } from '../helpers/origin-server';
import {
  runBytes as pageRunBytes,
  runResults as pageRunResults,
  startRuns as startPageRuns,
  type RunRequest,
} from '../helpers/page-runs';
import { closeAll } from '../helpers/close-all';

/**
 * The queue under faults, in three real Chromium instances: one requester, two exits. Each exit maps
 * the fixture hosts to its own origin port, so the origin's log tells which exit carried a request.
 */
const PACED_BYTES = 512 * 1024;
let origin: OriginServer;
let signaling: SignalingServer;
let exits: { browser: ExtensionBrowser; originAddress: string; name: string }[] = [];
let requester: ExtensionBrowser;
let appOrigin: string;
let page: Page;
const dataUrl = (path: string) => `http://origin.peerlane.test:${origin.port}${path}`;
const hedgeUrl = (path: string) => `http://hedge.peerlane.test:${origin.port}${path}`;

/** Exit B reaches the origin on this address, so the origin's log tells the two exits apart. */
const SECOND_EXIT_ADDRESS = '127.0.0.6';
/** The origin answers `/hedge/*` late on this address: exit A reaches it there, so A is the slow exit. */
const SLOW_HEDGE_ADDRESS = '127.0.0.7';

async function launchExit(name: string, originAddress: string, hedgeAddress: string, methods: string[]) {
  const browser = await launchWithExtension([
    `MAP origin.peerlane.test ${originAddress}`,
    `MAP hedge.peerlane.test ${hedgeAddress}`,
  ]);
  await browser.setSettings({
    signalingUrl: signaling.url,
    share: true,
    privateAllowList: [`${originAddress}/32`, `${hedgeAddress}/32`],
    exitMethods: methods as typeof DEFAULT_SETTINGS.exitMethods,
    exitPorts: [...DEFAULT_SETTINGS.exitPorts, origin.port],
  });
  return { browser, originAddress, name };
}

const exitPeers = (state: PopupState) => state.peers.filter((peer) => peer.remoteRole === 'exit');

beforeAll(async () => {
  origin = await startOriginServer({
    bigBytes: PACED_BYTES,
    postDelayMs: 4000,
    hedgeDelayMs: 5000,
    hedgeDelayOn: [SLOW_HEDGE_ADDRESS],
    alsoListenOn: [SECOND_EXIT_ADDRESS, SLOW_HEDGE_ADDRESS],
  });
  signaling = await startSignalingServer({ port: 0 });
  appOrigin = `http://app.peerlane.test:${origin.port}`;
  exits = await Promise.all([
    // Exit A reaches /hedge/* only through the slow origin: it is the slow exit.
    launchExit('A', DEV_ORIGIN_ADDRESS, SLOW_HEDGE_ADDRESS, ['GET', 'HEAD', 'POST']),
    launchExit('B', SECOND_EXIT_ADDRESS, DEV_ORIGIN_ADDRESS, ['GET', 'HEAD', 'POST']),
  ]);
  requester = await launchWithExtension([
    'MAP origin.peerlane.test ~NOTFOUND',
    'MAP hedge.peerlane.test ~NOTFOUND',
    'MAP app.peerlane.test 127.0.0.1',
  ]);
  // No exit checks here: a hedge loser drawn for one is read to its end on purpose (exit-checks.ts),
  // which the hedge test would take for a loser left running (it failed CI that way, 1 run in 7).
  await requester.setSettings({ signalingUrl: signaling.url, routedOrigins: [appOrigin], checkExitsPercent: 0 });
  await waitForRoutedScripts(requester);
  await waitFor(
    async () => exitPeers(await backgroundState(requester)).length,
    (count) => count === 2,
    'two exit peers',
  );
  page = await requester.context.newPage();
  await page.goto(`${appOrigin}/app`);
}, 90_000);

afterAll(async () => {
  await closeAll(requester);
  await Promise.all(exits.map((exit) => exit.browser.close().catch(() => undefined)));
  await closeAll(signaling, origin);
});

/** The requester's queue settings: the defaults with `changes`, once its background has them. */
async function useQueueSettings(changes: Partial<typeof DEFAULT_SETTINGS.queue>): Promise<void> {
  const queue = { ...DEFAULT_SETTINGS.queue, ...changes };
  await requester.setSettings({ queue });
  await expect.poll(async () => (await backgroundState(requester)).settings.queue, { timeout: 5000 }).toEqual(queue);
}

const startRuns = (requests: RunRequest[]) => startPageRuns(page, requests);
const runResults = (keys: string[]) => pageRunResults(page, keys);
const runBytes = (keys: string[]) => pageRunBytes(page, keys);

describe('the request queue under faults, in real browsers', () => {
  it('with lanes chosen by the path (the default, up to 8), an exit on loopback keeps one connection', async () => {
    const state = await backgroundState(requester);
    expect(state.settings).toMatchObject({ autoLanes: true, lanesPerExit: 8 });
    // Its first connection measured a sub-millisecond round trip (under 10 ms): no further lanes.
    expect(exitPeers(state).map((peer) => peer.lanes)).toEqual([1, 1]);
  });

  it('a slow exit triggers a hedge on the other exit; the hedge wins and the loser is cancelled', async () => {
    // Teach the queue what a normal time to first byte is (the hedge waits the recent p95).
    const warm = Array.from({ length: 12 }, (_, index) => ({
      key: `warm${index}`,
      url: dataUrl(`/small.txt?w=${index}`),
    }));
    for (const request of warm) {
      await startRuns([request]);
      await runResults([request.key]);
    }
    const hedged = Array.from({ length: 4 }, (_, index) => ({
      key: `hedge${index}`,
      url: hedgeUrl(`/hedge/${index}`),
    }));
    const started = Date.now();
    await startRuns(hedged);
    const results = await runResults(hedged.map((request) => request.key));
    const elapsed = Date.now() - started;
    for (const [key, result] of Object.entries(results))
      expect(result, key).toMatchObject({ status: 200, text: `hedge /hedge/${key.slice(5)}` });
    // Every answer came from the fast exit well before the slow origin's 5 s delay.
    expect(elapsed).toBeLessThan(4000);
    // The stats count a request once the background has logged it, a moment after the page read its end.
    await expect
      .poll(async () => (await backgroundState(requester)).stats.hedgesWon, { timeout: 5000 })
      .toBeGreaterThanOrEqual(1);
    const logged = (await backgroundState(requester)).log.filter((entry) => entry.url.includes('/hedge/'));
    expect(logged.some((entry) => entry.hedged && entry.hedgeWon === true)).toBe(true);
    // CANCEL reached the slow exit: it ended the losing attempt as cancelled, whether before its fetch
    // went out (a busy machine looks the name up slower than the hedge's 50 ms) or during it.
    await expect
      .poll(
        async () =>
          (await backgroundState(exits[0]!.browser)).log.some(
            (entry) => entry.role === 'exit' && entry.url.includes('/hedge/') && entry.outcome === 'cancelled',
          ),
        { timeout: 10_000 },
      )
      .toBe(true);
    // And every losing request that did reach the slow origin had its connection closed before the
    // origin's late answer: the exit's fetch was aborted, not left to run.
    const reachedSlowOrigin = () =>
      origin.requests.filter((request) => request.address === SLOW_HEDGE_ADDRESS && request.path.startsWith('/hedge/'))
        .length;
    await expect.poll(() => origin.hedgeAbandoned(), { timeout: 10_000 }).toBe(reachedSlowOrigin());
  }, 90_000);

  it('a full queue answers 503 with Retry-After at once and loses nothing it admitted', async () => {
    await useQueueSettings({ maxQueued: 4, perPeerConcurrency: 1, hedging: false });
    const before = (await backgroundState(requester)).stats.rejected;
    const burst = Array.from({ length: 12 }, (_, index) => ({
      key: `burst${index}`,
      url: dataUrl(`/paced.bin?ms=1500&b=${index}`),
    }));
    await startRuns(burst);
    const results = Object.values(await runResults(burst.map((request) => request.key)));
    const served = results.filter((result) => 'status' in result && result.status === 200);
    const refused = results.filter((result) => 'status' in result && result.status === 503);
    expect(served.length + refused.length).toBe(12);
    expect(refused.length).toBeGreaterThanOrEqual(1);
    // Two exits × one slot + four waiting: everything admitted completes, byte for byte.
    expect(served.length).toBeGreaterThanOrEqual(6);
    for (const result of served) expect(result).toMatchObject({ sha256: origin.bigSha256 });
    for (const result of refused)
      expect(result).toMatchObject({ headers: { 'retry-after': '1', 'x-peerlane-error': 'queue_full' } });
    const after = (await backgroundState(requester)).stats;
    expect(after.rejected - before).toBe(refused.length);
    await useQueueSettings({});
  }, 90_000);

  it('a download that outlasts the request timeout completes: the timeout counts to the head, the body keeps moving', async () => {
    // 2 s to a response; the body takes about 6 s. Before, the whole request had 2 s and failed as timeout.
    await useQueueSettings({ requestTimeoutMs: 2000, hedging: false });
    await startRuns([{ key: 'long', url: dataUrl('/paced.bin-long?ms=6000') }]);
    expect((await runResults(['long'])).long).toMatchObject({ status: 200, sha256: origin.bigSha256 });
    // The log entry is written once the page has read the end: wait for it.
    const entry = await waitFor(
      async () => (await backgroundState(requester)).log.find((each) => each.url.endsWith('/paced.bin-long')),
      (found) => found !== undefined,
      'the long download in the request log',
    );
    expect(entry).toMatchObject({ role: 'requester', outcome: 'ok', attempts: 1, resumed: 0 });
    expect(entry?.transferMs).toBeGreaterThan(4000);
    await useQueueSettings({});
  }, 60_000);

  it('a body that stalls at its exit is cancelled there after the stall limit and resumed from the other exit, whole', async () => {
    await useQueueSettings({ stallTimeoutMs: 2000, hedging: false });
    const url = dataUrl(`/paced.bin-stall?ms=1000&stallAfter=${PACED_BYTES / 2}`);
    const started = Date.now();
    await startRuns([{ key: 'stalled', url }]);
    expect((await runResults(['stalled'])).stalled).toMatchObject({ status: 200, sha256: origin.bigSha256 });
    // Half the body in ~0.5 s, 2 s of stall, then the rest from the other exit: well before any request timeout.
    expect(Date.now() - started).toBeLessThan(10_000);
    const asked = origin.requests.filter((request) => request.path.startsWith('/paced.bin-stall'));
    expect(asked.map((request) => request.headers.range ?? 'whole')).toEqual(['whole', `bytes=${PACED_BYTES / 2}-`]);
    expect(new Set(asked.map((request) => request.address)).size).toBe(2);
    const entry = await waitFor(
      async () =>
        (await backgroundState(requester)).log.find(
          (each) => each.url.endsWith('/paced.bin-stall') && each.role === 'requester' && each.resumed > 0,
        ),
      (found) => found !== undefined,
      'the stalled download in the request log',
    );
    expect(entry).toMatchObject({ outcome: 'ok', resumed: 1 });
    await useQueueSettings({});
  }, 60_000);

  it('an exit whose person turns sharing off mid-transfer ends the download with sharing_off; it resumes from the other exit within 2 s, whole, by one Range request', async () => {
    await useQueueSettings({ hedging: false });
    const url = dataUrl('/paced.bin-share-off?ms=4000');
    await startRuns([{ key: 'shareOff', url }]);
    await expect
      .poll(async () => (await runBytes(['shareOff']))[0], { timeout: 10_000, interval: 50 })
      .toBeGreaterThan(0);
    const first = origin.requests.find((request) => request.path.startsWith('/paced.bin-share-off'))!;
    const serving = exits.find((exit) => exit.originAddress === first.address)!;
    const turnedOffAt = Date.now();
    await serving.browser.setSettings({ share: false });
    await expect
      .poll(() => origin.requests.filter((request) => request.path.startsWith('/paced.bin-share-off')).length, {
        timeout: 10_000,
        interval: 20,
      })
      .toBe(2);
    // The other exit was asked for the rest within 2 s of the change: no timeout was waited for.
    expect(Date.now() - turnedOffAt).toBeLessThan(2000);
    expect((await runResults(['shareOff'])).shareOff).toMatchObject({ status: 200, sha256: origin.bigSha256 });
    const asked = origin.requests.filter((request) => request.path.startsWith('/paced.bin-share-off'));
    expect(asked[1]!.address).not.toBe(serving.originAddress);
    expect(asked[1]!.headers.range).toMatch(/^bytes=[1-9]\d*-$/);
    const entry = await waitFor(
      async () =>
        (await backgroundState(requester)).log.find(
          (each) => each.url.endsWith('/paced.bin-share-off') && each.role === 'requester',
        ),
      (found) => found !== undefined,
      'the download in the request log',
    );
    expect(entry).toMatchObject({ outcome: 'ok', resumed: 1 });
    // The exit ended its stream with sharing_off, told to the requester, rather than cutting the connection under it.
    const served = (await backgroundState(serving.browser)).log.filter(
      (each) => each.role === 'exit' && each.url.endsWith('/paced.bin-share-off'),
    );
    expect(served.map((each) => each.outcome)).toEqual(['sharing_off']);
    // Sharing again: the requester finds it again, as it found it first.
    await serving.browser.setSettings({ share: true });
    await waitFor(
      async () => exitPeers(await backgroundState(requester)).length,
      (count) => count === 2,
      'two exit peers again',
      30_000,
    );
    await useQueueSettings({});
  }, 90_000);

  it('an exit killed mid-transfer: idempotent GETs complete via the other, a POST fails clearly and reaches the origin once', async () => {
    const gets = Array.from({ length: 10 }, (_, index) => ({
      key: `get${index}`,
      url: dataUrl(`/paced.bin?ms=5000&k=${index}`),
    }));
    const posts = Array.from({ length: 2 }, (_, index) => ({
      key: `post${index}`,
      url: dataUrl(`/post-slow?p=${index}`),
      method: 'POST',
    }));
    const postsBefore = origin.postCount();
    await startRuns([...posts, ...gets]);
    // Wait until every GET streams and both POSTs reached the origin: the kill lands mid-transfer.
    await expect
      .poll(async () => (await runBytes(gets.map((request) => request.key))).every((bytes) => bytes > 0), {
        timeout: 20_000,
        interval: 100,
      })
      .toBe(true);
    await expect.poll(() => origin.postCount() - postsBefore, { timeout: 10_000, interval: 100 }).toBe(2);
    const postAddresses = posts.map(
      (post) =>
        origin.requests.find((request) => request.method === 'POST' && post.url.endsWith(request.path))!.address,
    );
    const victim = exits.find((exit) => postAddresses.includes(exit.originAddress))!;
    const survivor = exits.find((exit) => exit !== victim)!;
    const carriedByVictim = new Set(
      origin.requests
        .filter((request) => request.address === victim.originAddress && /[?&]k=\d+/.test(request.path))
        .map((request) => request.path),
    );
    expect(carriedByVictim.size).toBeGreaterThan(0);
    await victim.browser.close();
    exits = [survivor];
    const results = await runResults([...gets, ...posts].map((request) => request.key));
    for (const request of gets)
      expect(results[request.key], request.key).toMatchObject({ status: 200, sha256: origin.bigSha256 });
    // The POST that was on the lost exit fails as peer_lost; the other one is answered.
    const outcome = (result: (typeof results)[string] | undefined): string | number | undefined =>
      result && 'error' in result ? /could not route this request \((\w+)\)/.exec(result.error)?.[1] : result?.status;
    expect(posts.map((request) => outcome(results[request.key]))).toEqual(
      postAddresses.map((address) => (address === victim.originAddress ? 'peer_lost' : 200)),
    );
    // Never repeated: each POST reached the origin exactly once, even after the failure was final.
    expect(origin.postCount() - postsBefore).toBe(2);
    const state = await backgroundState(requester);
    expect(state.stats.resumes).toBeGreaterThanOrEqual(1);
    expect(state.log.filter((entry) => entry.resumed > 0 && entry.outcome === 'ok').length).toBeGreaterThanOrEqual(1);
    expect(exitPeers(state).length).toBe(1);
  }, 120_000);

  it('the service worker stopped mid-flight: repeatable requests complete, the rest fail clearly, nothing hangs or repeats; counters and log survive', async () => {
    const streaming = Array.from({ length: 2 }, (_, index) => ({
      key: `stream${index}`,
      url: dataUrl(`/paced.bin?ms=6000&s=${index}`),
    }));
    const waiting = Array.from({ length: 2 }, (_, index) => ({
      key: `waiting${index}`,
      url: dataUrl(`/delay/2500?w=${index}`),
    }));
    const post = { key: 'post-restart', url: dataUrl('/post-slow?restart'), method: 'POST' };
    const postsBefore = origin.postCount();
    await startRuns([...streaming, ...waiting, post]);
    await expect
      .poll(async () => (await runBytes(streaming.map((request) => request.key))).every((bytes) => bytes > 0), {
        timeout: 20_000,
        interval: 100,
      })
      .toBe(true);
    await expect.poll(() => origin.postCount() - postsBefore, { timeout: 10_000, interval: 100 }).toBe(1);
    await expect
      .poll(() => origin.requests.filter((request) => request.path.startsWith('/delay/')).length, {
        timeout: 10_000,
        interval: 100,
      })
      .toBe(2);
    // What was counted is persisted (at most 250 ms behind); wait for it, then stop the worker.
    const before = await backgroundState(requester);
    await expect
      .poll(
        () =>
          requester.worker.evaluate(
            async () =>
              (
                JSON.parse(((await chrome.storage.local.get('stats')).stats as string | undefined) ?? '{}') as {
                  completed?: number;
                }
              ).completed ?? 0,
          ),
        { timeout: 5000 },
      )
      .toBe(before.stats.completed);
    const stopped = await stopServiceWorker(requester);
    expect(stopped).toBe(true);

    const started = Date.now();
    const results = await runResults([...streaming, ...waiting, post].map((request) => request.key));
    // None hangs: every request settled well within its own timeout.
    expect(Date.now() - started).toBeLessThan(20_000);
    for (const request of waiting)
      expect(results[request.key], request.key).toMatchObject({
        status: 200,
        text: `delayed ${new URL(request.url).pathname}${new URL(request.url).search}`,
      });
    for (const request of streaming)
      expect('error' in results[request.key]! && results[request.key]).toMatchObject({
        error: expect.stringMatching(/\(background_restarted\)/),
      });
    expect(results[post.key]).toMatchObject({ error: expect.stringMatching(/\(background_restarted\)/) });
    expect(origin.postCount() - postsBefore).toBe(1);

    const after = await backgroundState(requester);
    expect(after.backgroundStartedAt).toBeGreaterThan(before.backgroundStartedAt);
    expect(after.stats.backgroundStarts).toBe(before.stats.backgroundStarts + 1);
    expect(after.stats.completed).toBeGreaterThanOrEqual(before.stats.completed + waiting.length);
    expect(after.stats.hedgesWon).toBeGreaterThanOrEqual(before.stats.hedgesWon);
    const survivors = new Set(after.log.map((entry) => entry.id));
    expect(before.log.slice(0, 10).every((entry) => survivors.has(entry.id))).toBe(true);

    const popup = await requester.context.newPage();
    await popup.setViewportSize({ width: 360, height: 900 });
    await popup.goto(`chrome-extension://${requester.extensionId}/extension/ui/popup.html`);
    await expect
      .poll(() => popup.getByTestId('background-started').textContent(), { timeout: 5000 })
      .toMatch(/restarted 1×/);
    expect(await popup.getByTestId('request-log').locator('li').count()).toBeGreaterThan(0);
    await popup.screenshot({ path: 'test/artifacts/popup-after-restart.png', fullPage: true });
    await popup.close();
  }, 90_000);
});
