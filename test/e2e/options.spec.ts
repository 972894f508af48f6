import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchWithExtension, waitForRoutedScripts, type ExtensionBrowser } from '../helpers/chromium';
import { DEFAULT_SETTINGS } from '../../extension/core/settings';
import { NIGHTS_AND_WEEKENDS } from '../../extension/core/exit/share-when';
import { closeAll } from '../helpers/close-all';

/** A person edits every setting on the options page; bad input is named, good input applies live. */
let browser: ExtensionBrowser;

beforeAll(async () => {
  browser = await launchWithExtension([]);
}, 60_000);

afterAll(async () => {
  await closeAll(browser);
});

const storedSettings = () => browser.worker.evaluate(async () => (await chrome.storage.local.get('settings')).settings);

describe('options page', () => {
  it('shows the defaults, refuses invalid values with named problems, and saves nothing then', async () => {
    const page = await browser.context.newPage();
    const before = await storedSettings();
    await page.goto(`chrome-extension://${browser.extensionId}/extension/ui/options.html`);
    await expect
      .poll(() => page.getByTestId('signalingUrl').inputValue(), { timeout: 5000 })
      .toBe('ws://127.0.0.1:8787');
    // The test's own resolver (helpers/chromium.ts): the only setting stored before the person's visit.
    expect(before).toEqual({ exitResolver: browser.resolver.url });
    expect(await page.getByTestId('exitResolver').inputValue()).toBe(browser.resolver.url);
    expect(await page.getByTestId('share').isChecked()).toBe(false);
    expect(await page.getByTestId('privateAllowList').inputValue()).toBe('');
    await page.getByTestId('signalingUrl').fill('http://wrong.example');
    await page.getByTestId('routedOrigins').fill('ftp://files.example');
    await page.getByTestId('queue.attemptTimeoutMs').fill('5');
    await page.getByTestId('privateAllowList').fill('127.0.0.0/8');
    await page.getByTestId('lanesPerExit').fill('9');
    await page.getByTestId('exitResolver').fill('http://dns.example/dns-query');
    await page.getByTestId('save').click();
    const problems = page.getByTestId('problems');
    await expect.poll(() => problems.textContent(), { timeout: 5000 }).toMatch(/signalingUrl/);
    expect(await problems.textContent()).toMatch(/routedOrigins/);
    expect(await problems.textContent()).toMatch(/attempt timeout must be at least 500/);
    expect(await problems.textContent()).toMatch(/127\.0\.0\.0\/8 is wider than a \/24/);
    expect(await problems.textContent()).toMatch(/connections per exit must be at most 8/);
    expect(await problems.textContent()).toMatch(/exitResolver: the resolver must use https:\/\//);
    expect(await storedSettings()).toEqual(before);
    await page.close();
  });

  it('saves every setting, and a routed site gets its scripts without a reload; reset restores defaults', async () => {
    const page = await browser.context.newPage();
    await page.goto(`chrome-extension://${browser.extensionId}/extension/ui/options.html`);
    await page.getByTestId('signalingUrl').fill('ws://127.0.0.1:9999');
    await page.getByTestId('signalingToken').fill('alice.1999999999.c2lnbmF0dXJl');
    await page.getByTestId('relayOnly').check();
    await page.getByTestId('stunServers').fill('stun:stun.example.net:3478, stuns:stun.example.org:5349');
    await page.getByTestId('lanesPerExit').fill('4');
    await page.getByTestId('autoLanes').uncheck();
    await page.getByTestId('share').check();
    await page.getByTestId('routedOrigins').fill('https://Example.com/some/path\nhttp://app.peerlane.test:8080');
    await page.getByTestId('privateAllowList').fill('127.0.0.2/32, 127.0.0.3/32');
    await page.getByTestId('exitMethods').getByLabel('POST').check();
    await page.getByTestId('queue.maxQueued').fill('40');
    await page.getByTestId('exitCaps.rateMBps').fill('0.5');
    await page.getByTestId('exitPorts').fill('80, 443 8080,8443, 3000');
    await page.getByTestId('exitResolver').fill('https://dns.quad9.net/dns-query');
    await page.getByTestId('queue.hedging').uncheck();
    await page.locator('input[name="shareWith"][value="both"]').check();
    await page.getByTestId('preferCircles').uncheck();
    await page.getByTestId('checkExitsPercent').fill('20');
    await page.getByTestId('cacheMaxMB').fill('64');
    await page.getByTestId('cacheFreshHours').fill('6');
    await page.getByTestId('exitCaps.monthlyGB').fill('50');
    await page.getByTestId('hours-evenings').click();
    await page.getByTestId('hour-0-3').uncheck(); // Sunday 3:00
    await page.getByTestId('shareWhen.pauseOnBattery').uncheck();
    await page.getByTestId('save').click();
    await expect.poll(() => page.getByTestId('saved').textContent(), { timeout: 5000 }).toMatch(/Saved/);
    expect(await storedSettings()).toEqual({
      signalingUrl: 'ws://127.0.0.1:9999',
      signalingToken: 'alice.1999999999.c2lnbmF0dXJl',
      relayOnly: true,
      stunServers: ['stun:stun.example.net:3478', 'stuns:stun.example.org:5349'],
      lanesPerExit: 4,
      autoLanes: false,
      share: true,
      shareWith: 'both',
      preferCircles: false,
      checkExitsPercent: 20,
      cacheMaxMB: 64,
      cacheFreshHours: 6,
      routedOrigins: ['https://example.com', 'http://app.peerlane.test:8080'],
      privateAllowList: ['127.0.0.2/32', '127.0.0.3/32'],
      exitMethods: ['GET', 'HEAD', 'POST'],
      exitPorts: [80, 443, 8080, 8443, 3000],
      exitResolver: 'https://dns.quad9.net/dns-query',
      sharePaused: false,
      exitCaps: { ...DEFAULT_SETTINGS.exitCaps, rateMBps: 0.5, monthlyGB: 50 },
      shareWhen: {
        weekHours: [NIGHTS_AND_WEEKENDS[0]! & ~(1 << 3), ...NIGHTS_AND_WEEKENDS.slice(1)],
        pauseOnBattery: false,
        pauseOnMetered: true,
        yieldToBrowsing: true,
      },
      queue: { ...DEFAULT_SETTINGS.queue, maxQueued: 40, hedging: false },
    });
    await waitForRoutedScripts(browser);
    const matches = await browser.worker.evaluate(async () =>
      (await chrome.scripting.getRegisteredContentScripts()).flatMap((script) => script.matches ?? []),
    );
    expect(new Set(matches)).toEqual(new Set(['https://example.com/*', 'http://app.peerlane.test/*']));
    await page.getByTestId('reset').click();
    await expect.poll(() => page.getByTestId('saved').textContent(), { timeout: 5000 }).toMatch(/Defaults/);
    expect(await storedSettings()).toEqual(DEFAULT_SETTINGS);
    await page.setViewportSize({ width: 800, height: 720 });
    await page.screenshot({ path: 'test/artifacts/options.png', fullPage: true });
    await page.close();
  });
});
