import type { Page } from 'playwright-core';
import type { Page as FirefoxPage } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS } from '../../extension/core/settings';
import { backgroundState, waitFor } from '../helpers/chromium';
import { closeAll } from '../helpers/close-all';
import { launchFirefoxPeer, openFirefoxExtensionPage, type FirefoxPeer } from '../helpers/firefox';
import { DEV_ORIGIN_ADDRESS } from '../helpers/origin-server';
import { routedRequesterFor } from '../helpers/peer-pair';
import { REQUESTER_HOST_RULES, startStage, type Stage } from '../helpers/stage';

/**
 * Sharing conditions on a Firefox exit, as share-when.spec.ts does on Chromium: hours of the week
 * unticked on its options page pause it (its popup names why; a Chromium requester hears it on the
 * live session and refuses at once with sharing_off, sending nothing), all hours again serve; a monthly quota all but used pauses it
 * until raised. Firefox tells neither battery nor metered connections (the browser does not say).
 */
let stage: Stage;
let exit: FirefoxPeer;
let routed: Awaited<ReturnType<typeof routedRequesterFor>> | undefined;
let page: Page;
let popup: FirefoxPage;
let dataOrigin: string;

beforeAll(async () => {
  stage = await startStage();
  dataOrigin = stage.dataOrigin;
  exit = await launchFirefoxPeer(['loopback.peerlane.test'], { resolveOthersTo: DEV_ORIGIN_ADDRESS });
  await exit.setSettings(stage.exitSettings());
  routed = await routedRequesterFor(exit, stage.signaling.url, stage.appOrigin, REQUESTER_HOST_RULES);
  page = routed.page;
  popup = await openFirefoxExtensionPage(
    exit.browser,
    `${exit.baseUrl}/extension/ui/popup.html`,
    'document.readyState === "complete"',
  );
  await popup.click('[data-testid="tab-sharing"]');
}, 90_000);

afterAll(async () => {
  // The routed requester closes its exit with it.
  await closeAll(routed ?? exit);
  await stage.close();
});

/** A routed GET in the requester's page: "status bytes", or the error with its category. */
function fetchText(url: string): Promise<string> {
  return page.evaluate(async (target) => {
    try {
      const response = await fetch(target);
      return `${response.status} ${(await response.arrayBuffer()).byteLength}`;
    } catch (error) {
      return `error: ${String(error)} ${String((error as { cause?: { message?: string } }).cause?.message ?? '')}`;
    }
  }, url);
}

const conditionShown = (): Promise<string> =>
  popup.$eval('[data-testid="sharing-condition"]', (element) => element.textContent).catch(() => '');

const pauseIs = (pause: string | null, what: string) =>
  waitFor(
    async () => (await exit.state()).sharingNow.pause,
    (now) => now === pause,
    what,
    10_000,
  );

/** How the Chromium requester sees the Firefox exit: 'paused' once the exit's updated HELLO said so. */
const expectExitSeenAs = (health: string) =>
  expect
    .poll(
      async () => (await backgroundState(routed!.requester)).peers.find((peer) => peer.remoteRole === 'exit')?.health,
      { timeout: 10_000 },
    )
    .toBe(health);

const served = () =>
  expect.poll(() => fetchText(`${dataOrigin}/small.txt`), { timeout: 20_000, interval: 500 }).toMatch(/^200 /);

describe("sharing that follows the sharer's life, on a Firefox exit", () => {
  it('Firefox does not tell battery or metered connections: those conditions stay unknown and sharing is on', async () => {
    const { device, pause } = (await exit.state()).sharingNow;
    expect(device).toEqual({ onBattery: null, metered: null });
    expect(pause).toBeNull();
  });

  it('outside the hours chosen on its options page, the exit pauses and says why; every hour again, it serves', async () => {
    const options = await openFirefoxExtensionPage(
      exit.browser,
      `${exit.baseUrl}/extension/ui/options.html`,
      'document.querySelector(\'[data-testid="hour-0-0"]\')?.checked === true',
    );
    // This hour and the next (the test may cross an hour boundary).
    const now = new Date();
    for (const at of [now, new Date(now.getTime() + 3_600_000)])
      await options.click(`[data-testid="hour-${at.getDay()}-${at.getHours()}"]`);
    await options.click('[data-testid="save"]');
    await pauseIs('schedule', 'the schedule pausing the exit');
    await waitFor(conditionShown, (text) => /outside the hours you chose/.test(text), 'the reason in the popup');
    // Said on the live session: the requester refuses at once, and nothing reaches the exit.
    await expectExitSeenAs('paused');
    const exitBefore = (await exit.state()).stats;
    expect(await fetchText(`${dataOrigin}/small.txt`)).toMatch(
      /\(sharing_off\): every exit this browser is connected to has paused sharing/,
    );
    const exitAfter = (await exit.state()).stats;
    expect([exitAfter.refusedByCategory, exitAfter.sharedRequests]).toEqual([
      exitBefore.refusedByCategory,
      exitBefore.sharedRequests,
    ]);

    await options.click('[data-testid="hours-all"]');
    await options.click('[data-testid="save"]');
    await pauseIs(null, 'sharing again');
    await served();
    await options.close();
  });

  it('a monthly quota all but used pauses sharing until it is raised', async () => {
    await exit.setSettings({ exitCaps: { ...DEFAULT_SETTINGS.exitCaps, monthlyGB: 0.001 } }); // 1 MB
    await waitFor(
      async () => (await exit.state()).settings.exitCaps.monthlyGB,
      (gb) => gb === 0.001,
      'the quota saved',
    );
    expect(await fetchText(`${dataOrigin}/bytes/960000`)).toBe('200 960000');
    await pauseIs('monthly_quota', 'the quota pausing the exit');
    await waitFor(conditionShown, (text) => /this month's quota is used up/.test(text), 'the reason in the popup');
    await expectExitSeenAs('paused');
    expect(await fetchText(`${dataOrigin}/small.txt`)).toMatch(
      /\(sharing_off\): every exit this browser is connected to has paused sharing/,
    );

    await exit.setSettings({ exitCaps: DEFAULT_SETTINGS.exitCaps });
    await pauseIs(null, 'sharing again');
    await served();
  });
});
