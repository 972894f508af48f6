import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS } from '../../extension/core/settings';
import { backgroundState, type ExtensionBrowser } from '../helpers/chromium';
import { startPeerPair, type PeerPair } from '../helpers/peer-pair';

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
  await pair?.close();
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

const served = () => expect.poll(() => fetchText(`${pair.dataOrigin}/small.txt`), { timeout: 20_000, interval: 500 }).toMatch(/^200 /);

describe('sharing that follows the sharer\'s life', () => {
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
    await expect.poll(() => popup.getByTestId('sharing-condition').textContent()).toMatch(/outside the hours you chose/);
    await popup.screenshot({ path: 'test/artifacts/popup-sharing-schedule.png', fullPage: true });
    expect(await fetchText(`${pair.dataOrigin}/small.txt`)).toMatch(/sharing_off|no_peers/);
    expect((await backgroundState(exit)).stats.refusedByCategory.sharing_off ?? 0).toBeGreaterThanOrEqual(0);

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
    await expect.poll(async () => (await backgroundState(exit)).sharingNow.pause, { timeout: 10_000 }).toBe('monthly_quota');
    await expect.poll(() => popup.getByTestId('sharing-condition').textContent()).toMatch(/this month's quota is used up/);
    expect(await popup.getByTestId('month-label').textContent()).toBe('this month, of 1.0 MB');
    expect(await fetchText(`${pair.dataOrigin}/small.txt`)).toMatch(/sharing_off|exit_cap_quota|no_peers/);

    await exit.setSettings({ exitCaps: DEFAULT_SETTINGS.exitCaps });
    await expect.poll(async () => (await backgroundState(exit)).sharingNow.pause, { timeout: 10_000 }).toBeNull();
    await served();
  });

  it('while the sharer browses, the exit backs off (a quarter of its bandwidth) and says so; quiet again, it stops', async () => {
    const browsing = await exit.context.newPage();
    await browsing.goto(`${pair.dataOrigin}/app`);
    await expect.poll(async () => (await backgroundState(exit)).sharingNow.backingOff, { timeout: 5_000, interval: 100 }).toBe(true);
    await expect.poll(() => popup.getByTestId('sharing-condition').textContent()).toMatch(/Backing off while you browse/);
    await popup.screenshot({ path: 'test/artifacts/popup-sharing-backing-off.png', fullPage: true });
    // Still serving meanwhile (a back-off, not a pause).
    expect((await backgroundState(exit)).sharingNow.pause).toBeNull();
    await browsing.close();
    await expect.poll(async () => (await backgroundState(exit)).sharingNow.backingOff, { timeout: 15_000 }).toBe(false);
  });
});
