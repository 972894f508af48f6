import { readFile } from 'node:fs/promises';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS, parseSettings } from '../../extension/core/settings';
import type { SignalingServer } from '../../signaling-server/server';
import { backgroundState, type ExtensionBrowser } from '../helpers/chromium';
import { seriousViolations } from '../helpers/axe';
import { startPeerPair, type PeerPair } from '../helpers/peer-pair';
import { closeAll } from '../helpers/close-all';

/**
 * The popup and options as a person uses them, while real traffic flows between two Chromium:
 * the numbers match the background's, tabs work by mouse and keyboard, the log filters and copies,
 * both themes are photographed, and axe-core finds no serious accessibility violation.
 */
const THEMES = ['light', 'dark'] as const;
const TABS = ['requests', 'peers', 'sharing', 'log'] as const;

let pair: PeerPair;
let exit: ExtensionBrowser;
let requester: ExtensionBrowser;
let signaling: SignalingServer;

beforeAll(async () => {
  pair = await startPeerPair({ bigBytes: 256 * 1024 });
  ({ exit, requester, signaling } = pair);
  // Real traffic: successes, one refusal (exits carry GET/HEAD only by default), a larger body.
  const page = await requester.context.newPage();
  await page.goto(`${pair.appOrigin}/app`);
  await page.evaluate(async (base) => {
    for (let index = 0; index < 8; index += 1) await (await fetch(`${base}/small.txt?i=${index}`)).text();
    await fetch(`${base}/small.txt`, { method: 'POST' }).catch(() => undefined);
    await (await fetch(`${base}/big.bin`)).arrayBuffer();
  }, pair.dataOrigin);
  await page.close();
}, 90_000);

afterAll(async () => {
  await closeAll(pair);
});

async function openExtensionPage(
  browser: ExtensionBrowser,
  path: string,
  width: number,
  height: number,
): Promise<Page> {
  const page = await browser.context.newPage();
  await page.setViewportSize({ width, height });
  await page.goto(`chrome-extension://${browser.extensionId}/extension/ui/${path}`);
  return page;
}

describe('the popup and options a person uses', () => {
  it('popup numbers match the background while traffic flows; tabs, log filter and copy work', async () => {
    const popup = await openExtensionPage(requester, 'popup.html', 360, 640);
    const firstRenderMs = await popup
      .waitForFunction(() => document.documentElement.dataset.firstRenderMs)
      .then((handle) => handle.jsonValue());
    const marks = await popup.evaluate(() => ({ ...document.documentElement.dataset }));
    console.log(
      `[dashboard] popup script started at ${marks.scriptStartMs} ms, state arrived at ${marks.stateArrivedMs} ms, first render at ${firstRenderMs} ms after navigation start`,
    );
    const state = await backgroundState(requester);
    await expect
      .poll(async () => Number(await popup.getByTestId('completed').textContent()))
      .toBe(state.stats.completed);
    expect(state.stats.completed).toBeGreaterThanOrEqual(9);
    expect(Number(await popup.getByTestId('failed').textContent())).toBe(state.stats.failed);
    expect(state.stats.failed).toBeGreaterThanOrEqual(1);
    expect(await popup.getByTestId('failures').textContent()).toMatch(/method refused 1/);
    expect(await popup.getByTestId('latency-p50').textContent()).toMatch(/\d+ ms|\d\.\d s/);
    // The sparkline draws once the timeline has two samples (one per second).
    await expect
      .poll(() => popup.locator('#spark-queue path').first().getAttribute('d'), { timeout: 5000 })
      .toMatch(/^M[\d.]+,[\d.]+ L/);

    // While a request is in flight, the open popup shows it, as the background counts it, and then its completion.
    const live = await requester.context.newPage();
    await live.goto(`${pair.appOrigin}/app`);
    const completedBefore = Number(await popup.getByTestId('completed').textContent());
    const slow = live.evaluate(async (url) => (await fetch(url)).text(), `${pair.dataOrigin}/delay/2500`);
    await expect
      .poll(async () => Number(await popup.getByTestId('inflight').textContent()), { timeout: 5000, interval: 50 })
      .toBe(1);
    expect((await backgroundState(requester)).stats.inflight).toBe(1);
    expect(await slow).toBe('delayed /delay/2500');
    await expect
      .poll(async () => Number(await popup.getByTestId('completed').textContent()), { timeout: 5000 })
      .toBe(completedBefore + 1);
    expect(Number(await popup.getByTestId('inflight').textContent())).toBe(0);
    expect((await backgroundState(requester)).stats.completed).toBe(completedBefore + 1);
    await live.close();

    // Keyboard: arrow keys move between tabs and show the right panel.
    await popup.getByTestId('tab-requests').focus();
    await popup.keyboard.press('ArrowRight');
    expect(await popup.getByTestId('tab-peers').getAttribute('aria-selected')).toBe('true');
    expect(await popup.getByTestId('panel-peers').isVisible()).toBe(true);
    expect(await popup.getByTestId('panel-requests').isVisible()).toBe(false);
    expect(await popup.getByTestId('peer-list').locator('li').count()).toBe(1);
    expect(await popup.getByTestId('peer-list').textContent()).toMatch(/healthy|warming up/);

    await popup.getByTestId('tab-log').click();
    const logged = (await backgroundState(requester)).log;
    await expect.poll(async () => popup.getByTestId('request-log').locator('li').count()).toBe(logged.length);
    await popup.getByTestId('log-filter').selectOption('failed');
    const failedEntries = logged.filter((entry) => entry.outcome !== 'ok');
    expect(await popup.getByTestId('request-log').locator('li').count()).toBe(failedEntries.length);
    expect(await popup.getByTestId('request-log').textContent()).toMatch(/method refused/);
    await popup.getByTestId('log-copy').click();
    await expect
      .poll(() => popup.getByTestId('log-count').textContent())
      .toMatch(new RegExp(`Copied ${failedEntries.length} entries`));
    // Read the clipboard as a person would: paste into a text field (the options page's, not saved).
    const options = await openExtensionPage(requester, 'options.html', 800, 600);
    const field = options.getByTestId('routedOrigins');
    await field.fill('');
    await field.focus();
    await options.keyboard.press('Control+V');
    const copied = JSON.parse(await field.inputValue()) as { id: string; outcome: string }[];
    expect(copied.map((entry) => entry.id)).toEqual(failedEntries.map((entry) => entry.id));
    await options.close();
    await popup.close();
  }, 60_000);

  it('every popup panel and the options page, in both themes: screenshots, and no serious axe violation', async () => {
    for (const [name, browser] of [
      ['requester', requester],
      ['exit', exit],
    ] as const) {
      const popup = await openExtensionPage(browser, 'popup.html', 360, 640);
      await popup.waitForFunction(() => document.documentElement.dataset.firstRenderMs);
      for (const theme of THEMES) {
        await popup.emulateMedia({ colorScheme: theme });
        for (const tab of TABS) {
          await popup.getByTestId(`tab-${tab}`).click();
          await popup.screenshot({ path: `test/artifacts/popup-${name}-${tab}-${theme}.png`, fullPage: true });
          expect(await seriousViolations(popup), `${name} ${tab} ${theme}`).toEqual([]);
        }
      }
      await popup.close();
    }
    const options = await openExtensionPage(requester, 'options.html', 800, 900);
    for (const theme of THEMES) {
      await options.emulateMedia({ colorScheme: theme });
      await options.screenshot({ path: `test/artifacts/options-${theme}.png`, fullPage: true });
      expect(await seriousViolations(options), `options ${theme}`).toEqual([]);
    }
    await options.close();
  }, 90_000);

  it('options export the stored settings as JSON and import them back, refusing a bad file whole', async () => {
    const options = await openExtensionPage(requester, 'options.html', 800, 900);
    await expect.poll(() => options.getByTestId('signalingUrl').inputValue()).toBe(signaling.url);
    const [download] = await Promise.all([options.waitForEvent('download'), options.getByTestId('export').click()]);
    expect(download.suggestedFilename()).toBe('peerlane-settings.json');
    const exported = parseSettings(JSON.parse(await readFile(await download.path(), 'utf8')));
    expect(exported).toEqual((await backgroundState(requester)).settings);

    const changed = { ...exported, queue: { ...exported.queue, maxQueued: 77 } };
    await options
      .getByTestId('import')
      .setInputFiles({ name: 'mine.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(changed)) });
    await expect.poll(() => options.getByTestId('saved').textContent()).toMatch(/Imported and applied mine\.json/);
    await expect.poll(async () => (await backgroundState(requester)).settings.queue.maxQueued).toBe(77);
    expect(await options.getByTestId('queue.maxQueued').inputValue()).toBe('77');

    const bad = { ...changed, signalingUrl: 'http://nope', queue: { ...changed.queue, maxAttempts: 9 } };
    await options
      .getByTestId('import')
      .setInputFiles({ name: 'bad.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(bad)) });
    await expect.poll(() => options.getByTestId('problems').textContent()).toMatch(/bad\.json was not imported/);
    expect(await options.getByTestId('problems').textContent()).toMatch(/signalingUrl/);
    expect(await options.getByTestId('problems').textContent()).toMatch(/attempts must be at most 5/);
    await options
      .getByTestId('import')
      .setInputFiles({ name: 'junk.json', mimeType: 'application/json', buffer: Buffer.from('{ not json') });
    await expect.poll(() => options.getByTestId('problems').textContent()).toMatch(/junk\.json is not JSON/);
    expect((await backgroundState(requester)).settings.queue.maxQueued).toBe(77);
    await requester.setSettings({ queue: DEFAULT_SETTINGS.queue });
    await options.close();
  }, 60_000);
});
