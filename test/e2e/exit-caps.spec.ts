import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS } from '../../extension/core/settings';
import { backgroundState, waitFor, type ExtensionBrowser } from '../helpers/chromium';
import { startPeerPair, type PeerPair } from '../helpers/peer-pair';
import { closeAll } from '../helpers/close-all';

/** What a sharer lends, capped, in two real Chromium: size, bandwidth, pause, and what the popup says. */
let pair: PeerPair;
let exit: ExtensionBrowser;
let requester: ExtensionBrowser;
let page: Page;
let dataOrigin: string;

beforeAll(async () => {
  pair = await startPeerPair({ bigBytes: 256 * 1024 });
  ({ exit, requester, dataOrigin } = pair);
  page = await requester.context.newPage();
  await page.goto(`${pair.appOrigin}/app`);
}, 90_000);

afterAll(async () => {
  await closeAll(pair);
});

/** Fetches in the page; reports bytes read, elapsed ms, and the error if any. */
function fetchBody(url: string): Promise<{ status: number | null; bytes: number; ms: number; error: string | null }> {
  return page.evaluate(async (target) => {
    const started = performance.now();
    let bytes = 0;
    let status: number | null = null;
    try {
      const response = await fetch(target);
      status = response.status;
      const reader = response.body!.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        bytes += value.byteLength;
      }
      return { status, bytes, ms: performance.now() - started, error: null };
    } catch (error) {
      const cause = (error as { cause?: { message?: string } }).cause?.message;
      return {
        status,
        bytes,
        ms: performance.now() - started,
        error: cause ? `${String(error)} ${cause}` : String(error),
      };
    }
  }, url);
}

const setCaps = async (caps: Partial<typeof DEFAULT_SETTINGS.exitCaps>) => {
  await exit.setSettings({ exitCaps: { ...DEFAULT_SETTINGS.exitCaps, ...caps } });
  await waitFor(
    async () => (await backgroundState(exit)).settings.exitCaps,
    (stored) => Object.entries(caps).every(([key, value]) => stored[key as keyof typeof stored] === value),
    'caps applied',
  );
};

describe('exit caps in real browsers', () => {
  it('a body over the size cap is refused before any byte when declared, and cut at the cap when not', async () => {
    await setCaps({ maxResponseMB: 0.1 });
    const declared = await fetchBody(`${dataOrigin}/big.bin`);
    expect(declared).toMatchObject({ status: null, bytes: 0 });
    expect(declared.error).toMatch(/\(exit_cap_size\)/);
    const undeclared = await fetchBody(`${dataOrigin}/chunked/400000`);
    expect(undeclared.status).toBe(200);
    expect(undeclared.bytes).toBeLessThanOrEqual(100_000);
    expect(undeclared.error).toMatch(/\(exit_cap_size\)/);
    expect((await backgroundState(exit)).stats.refusedByCategory.exit_cap_size).toBe(2);
    await setCaps({ maxResponseMB: DEFAULT_SETTINGS.exitCaps.maxResponseMB });
  }, 60_000);

  it('the bandwidth cap holds over a ~10 s transfer', async () => {
    const rate = 200_000;
    await setCaps({ rateMBps: rate / 1_000_000 });
    const size = 2_000_000;
    const result = await fetchBody(`${dataOrigin}/bytes/${size}`);
    expect(result).toMatchObject({ status: 200, bytes: size, error: null });
    // One second of burst, then the cap: (size − rate) / rate seconds.
    const expectedMs = ((size - rate) / rate) * 1000;
    const achieved = size / (result.ms / 1000);
    console.log(
      `[exit-caps] cap ${rate} B/s: ${size} B in ${Math.round(result.ms)} ms (expected ≈ ${Math.round(expectedMs)} ms), ${Math.round(achieved)} B/s overall`,
    );
    expect(result.ms / expectedMs).toBeGreaterThan(0.9);
    expect(result.ms / expectedMs).toBeLessThan(1.25);
    await setCaps({ rateMBps: DEFAULT_SETTINGS.exitCaps.rateMBps });
  }, 60_000);

  it('the sharer pauses from the popup: the requester hears it and refuses with sharing_off, sending nothing; served again after resume', async () => {
    const popup = await exit.context.newPage();
    await popup.goto(`chrome-extension://${exit.extensionId}/extension/ui/popup.html`);
    await popup.getByTestId('tab-sharing').click();
    expect(await popup.getByTestId('quota-label').textContent()).toBe('shared today, of 1.0 GB');
    expect(await popup.getByTestId('rate-cap-label').textContent()).toBe('sharing now, cap 2.0 MB/s');
    await popup.getByTestId('pause-toggle').click();
    await expect.poll(async () => (await backgroundState(exit)).settings.sharePaused).toBe(true);
    await expect.poll(() => popup.getByTestId('pause-toggle').getAttribute('aria-pressed')).toBe('true');
    // The paused exit's updated HELLO reaches the requester on the live session.
    await expect
      .poll(async () => (await backgroundState(requester)).peers.find((peer) => peer.remoteRole === 'exit')?.health)
      .toBe('paused');
    const servedBefore = (await backgroundState(exit)).stats.sharedRequests;
    const paused = await fetchBody(`${dataOrigin}/small.txt`);
    expect(paused.error).toMatch(/\(sharing_off\): every exit this browser is connected to has paused sharing/);
    const exitAfter = (await backgroundState(exit)).stats;
    expect([exitAfter.sharedRequests, exitAfter.refusedByCategory.sharing_off]).toEqual([servedBefore, undefined]);
    await popup.screenshot({ path: 'test/artifacts/popup-exit-paused.png', fullPage: true });
    await popup.getByTestId('pause-toggle').click();
    await expect.poll(async () => (await backgroundState(exit)).settings.sharePaused).toBe(false);
    await expect
      .poll(async () => (await fetchBody(`${dataOrigin}/small.txt`)).status, { timeout: 15_000, interval: 500 })
      .toBe(200);
    await popup.close();
  }, 60_000);
});
