import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS } from '../../extension/core/settings';
import { backgroundState, type ExtensionBrowser } from '../helpers/chromium';
import { startPeerPair, type PeerPair } from '../helpers/peer-pair';
import { closeAll } from '../helpers/close-all';

/**
 * Sharing that follows the sharer's life, in two real Chromium: hours of the week chosen on the
 * options page, a monthly quota, backing off while the sharer browses; each shows in the popup's
 * Sharing tab as the reason, and the requester is refused meanwhile and served again after.
 */
let pair: PeerPair;
let exit: ExtensionBrowser;
let page: Page;
let popup: Page;

beforeAll(async () => {
  pair = await startPeerPair();
  exit = pair.exit;
  page = await pair.requester.context.newPage();
  await page.goto(`${pair.appOrigin}/app`);
  popup = await exit.context.newPage();
  await popup.goto(`chrome-extension://${exit.extensionId}/extension/ui/popup.html`);
  await popup.getByTestId('tab-sharing').click();
}, 90_000);

afterAll(async () => {
  await closeAll(pair);
});

function fetchText(url: string): Promise<string> {
  return page.evaluate(async (target) => {
    let bytes = 0;
    try {
      const response = await fetch(target);
      const reader = response.body!.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        bytes += value.byteLength;
      }
      return `${response.status} ${bytes}`;
    } catch (error) {
      return `error after ${bytes} bytes: ${String(error)} ${String((error as { cause?: { message?: string } }).cause?.message ?? '')}`;
    }
  }, url);
}

/** How the requester sees the exit: 'paused' once the exit's updated HELLO said so on the live session. */
const expectExitSeenAs = (health: string) =>
  expect
    .poll(
      async () => (await backgroundState(pair.requester)).peers.find((peer) => peer.remoteRole === 'exit')?.health,
      { timeout: 10_000 },
    )
    .toBe(health);

const served = () =>
  expect.poll(() => fetchText(`${pair.dataOrigin}/small.txt`), { timeout: 20_000, interval: 500 }).toMatch(/^200 /);

describe("sharing that follows the sharer's life", () => {
  it('the browser reports the device: Chromium tells battery and connection, so they can pause sharing', async () => {
    const { device } = (await backgroundState(exit)).sharingNow;
    expect(typeof device.onBattery).toBe('boolean');
    expect(typeof device.metered).toBe('boolean');
    // Headless on mains, not metered: sharing is on.
    expect((await backgroundState(exit)).sharingNow.pause).toBeNull();
  });

  it('outside the hours chosen on the options page, the exit pauses and says why; every hour again, it serves', async () => {
    const options = await exit.context.newPage();
    await options.goto(`chrome-extension://${exit.extensionId}/extension/ui/options.html`);
    await expect.poll(() => options.getByTestId('hour-0-0').isChecked()).toBe(true);
    // This hour and the next (the test may cross an hour boundary).
    const now = new Date();
    const later = new Date(now.getTime() + 3_600_000);
    for (const at of [now, later]) await options.getByTestId(`hour-${at.getDay()}-${at.getHours()}`).uncheck();
    await options.getByTestId('save').click();
    await expect.poll(async () => (await backgroundState(exit)).sharingNow.pause, { timeout: 10_000 }).toBe('schedule');
    await expect
      .poll(() => popup.getByTestId('sharing-condition').textContent())
      .toMatch(/outside the hours you chose/);
    await popup.screenshot({ path: 'test/artifacts/popup-sharing-schedule.png', fullPage: true });
    // The paused exit is still connected and said so on the session: the requester refuses at once,
    // with the reason, and nothing reaches the exit.
    await expectExitSeenAs('paused');
    const exitBefore = (await backgroundState(exit)).stats;
    expect(await fetchText(`${pair.dataOrigin}/small.txt`)).toMatch(
      /\(sharing_off\): every exit this browser is connected to has paused sharing/,
    );
    const exitAfter = (await backgroundState(exit)).stats;
    expect([exitAfter.refusedByCategory, exitAfter.sharedRequests]).toEqual([
      exitBefore.refusedByCategory,
      exitBefore.sharedRequests,
    ]);

    await options.getByTestId('hours-all').click();
    await options.getByTestId('save').click();
    await expect.poll(async () => (await backgroundState(exit)).sharingNow.pause, { timeout: 10_000 }).toBeNull();
    await expect.poll(async () => popup.getByTestId('sharing-condition').isHidden()).toBe(true);
    await served();
    await options.close();
  });

  it('a monthly quota all but used pauses sharing until it is raised', async () => {
    await exit.setSettings({ exitCaps: { ...DEFAULT_SETTINGS.exitCaps, monthlyGB: 0.001 } }); // 1 MB
    await expect.poll(async () => (await backgroundState(exit)).settings.exitCaps.monthlyGB).toBe(0.001);
    // 960 kB of the 1 MB: served, and what is left is less than one chunk.
    expect(await fetchText(`${pair.dataOrigin}/bytes/960000`)).toBe('200 960000');
    await expect
      .poll(async () => (await backgroundState(exit)).sharingNow.pause, { timeout: 10_000 })
      .toBe('monthly_quota');
    await expect
      .poll(() => popup.getByTestId('sharing-condition').textContent())
      .toMatch(/this month's quota is used up/);
    expect(await popup.getByTestId('month-label').textContent()).toBe('this month, of 1.0 MB');
    await expectExitSeenAs('paused');
    expect(await fetchText(`${pair.dataOrigin}/small.txt`)).toMatch(
      /\(sharing_off\): every exit this browser is connected to has paused sharing/,
    );

    await exit.setSettings({ exitCaps: DEFAULT_SETTINGS.exitCaps });
    await expect.poll(async () => (await backgroundState(exit)).sharingNow.pause, { timeout: 10_000 }).toBeNull();
    await served();
  });

  it('while the sharer browses, the exit backs off (a quarter of its bandwidth) and says so; quiet again, it stops', async () => {
    const body = `${pair.dataOrigin}/bytes/1500000`;
    /** Milliseconds to fetch `body` through the exit, whole. */
    const timed = async (): Promise<number> => {
      const started = Date.now();
      expect(await fetchText(body)).toBe('200 1500000');
      return Date.now() - started;
    };
    const quiet = await timed();
    const browsing = await exit.context.newPage();
    await browsing.goto(`${pair.dataOrigin}/app`);
    // The sharer keeps browsing: a request from their tab every 300 ms.
    await browsing.evaluate(
      () => void setInterval(() => void fetch('/small.txt?browsing').catch(() => undefined), 300),
    );
    await expect
      .poll(async () => (await backgroundState(exit)).sharingNow.backingOff, { timeout: 5_000, interval: 100 })
      .toBe(true);
    await expect
      .poll(() => popup.getByTestId('sharing-condition').textContent())
      .toMatch(/Backing off while you browse/);
    await popup.screenshot({ path: 'test/artifacts/popup-sharing-backing-off.png', fullPage: true });
    // Still serving meanwhile (a back-off, not a pause), at a quarter of the cap: side by side with the
    // quiet transfer above, the same body takes well over twice as long.
    expect((await backgroundState(exit)).sharingNow.pause).toBeNull();
    const backingOff = await timed();
    console.log(
      `[share-when] 1.5 MB through the exit: ${quiet} ms quiet, ${backingOff} ms while the sharer browses (cap ${DEFAULT_SETTINGS.exitCaps.rateMBps} MB/s, a quarter while browsing)`,
    );
    expect(backingOff).toBeGreaterThan(2 * quiet);
    expect((await backgroundState(exit)).sharingNow.backingOff).toBe(true);
    await browsing.close();
    await expect.poll(async () => (await backgroundState(exit)).sharingNow.backingOff, { timeout: 15_000 }).toBe(false);
  });
});
