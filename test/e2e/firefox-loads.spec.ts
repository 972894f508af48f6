import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'puppeteer-core';
import { DEFAULT_SETTINGS } from '../../extension/core/settings';
import { startSignalingServer, type SignalingServer } from '../../signaling-server/server';
import { seriousViolations } from '../helpers/axe';
import { launchFirefoxWithExtension, openFirefoxExtensionPage } from '../helpers/firefox';
import { closeAll } from '../helpers/close-all';

/**
 * The Firefox build loads and its background page runs: with default settings it reaches the
 * signaling server at the default address; its popup and options render the background's state
 * in both themes, by keyboard, with no serious axe violation. (Routing traffic through Firefox is
 * the Firefox-parity issue.)
 */
let signaling: SignalingServer;
let firefox: { browser: Browser; baseUrl: string };

beforeAll(async () => {
  const { port } = new URL(DEFAULT_SETTINGS.signalingUrl);
  try {
    signaling = await startSignalingServer({ host: '127.0.0.1', port: Number(port) });
  } catch (error) {
    throw new Error(
      `port ${port} is busy (is \`npm start\` running?): the Firefox load test needs the default signaling address. ${String(error)}`,
      { cause: error },
    );
  }
  firefox = await launchFirefoxWithExtension({ colorScheme: 'light' });
}, 60_000);

afterAll(async () => {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- unset when beforeAll failed
  await closeAll(firefox?.browser, signaling);
});

describe('Firefox build', () => {
  it('loads, and its background page registers with the signaling server', async () => {
    // Bounded wait: the background connects on start; no event reaches the test from inside Firefox.
    const deadline = Date.now() + 20_000;
    let health = { peers: 0, exits: 0 };
    while (Date.now() < deadline && health.peers < 1) {
      health = (await (await fetch(`http://127.0.0.1:${signaling.port}/healthz`)).json()) as typeof health;
      if (health.peers < 1) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(health).toMatchObject({ peers: 1, exits: 0 }); // sharing is off after install
  });

  it('popup and options render the background state in both themes, by keyboard, with no serious axe violation', async () => {
    for (const theme of ['light', 'dark'] as const) {
      if (theme === 'dark') {
        // Media emulation needs CDP; a second Firefox with the theme forced by pref stands in.
        await firefox.browser.close();
        firefox = await launchFirefoxWithExtension({ colorScheme: 'dark' });
      }
      const popup = await openFirefoxExtensionPage(
        firefox.browser,
        `${firefox.baseUrl}/extension/ui/popup.html`,
        'document.documentElement.dataset.firstRenderMs',
      );
      expect(await popup.evaluate(() => matchMedia('(prefers-color-scheme: dark)').matches)).toBe(theme === 'dark');
      // State pushed by the background: signaling comes online within the bounded wait.
      await popup.waitForFunction(() => document.querySelector('[data-testid="signaling"]')?.textContent === 'online', {
        timeout: 20_000,
      });
      expect(await popup.evaluate(() => document.querySelector('[data-testid="tab-requests"]')?.textContent)).toBe(
        'Requests',
      );
      for (const tab of ['requests', 'peers', 'sharing', 'log']) {
        await popup.click(`[data-testid="tab-${tab}"]`);
        expect(
          await popup.evaluate(
            (name) => !document.querySelector<HTMLElement>(`[data-testid="panel-${name}"]`)!.hidden,
            tab,
          ),
        ).toBe(true);
        await popup.screenshot({ path: `test/artifacts/firefox-popup-${tab}-${theme}.png` });
        expect(await seriousViolations(popup), `firefox ${tab} ${theme}`).toEqual([]);
      }
      await popup.focus('[data-testid="tab-log"]');
      await popup.keyboard.press('Home');
      expect(
        await popup.evaluate(() =>
          document.querySelector('[data-testid="tab-requests"]')?.getAttribute('aria-selected'),
        ),
      ).toBe('true');
      await popup.close();

      const options = await openFirefoxExtensionPage(
        firefox.browser,
        `${firefox.baseUrl}/extension/ui/options.html`,
        `document.querySelector('[data-testid="signalingUrl"]')?.value === ${JSON.stringify(DEFAULT_SETTINGS.signalingUrl)}`,
      );
      await options.setViewport({ width: 800, height: 900 });
      await options.screenshot({ path: `test/artifacts/firefox-options-${theme}.png`, fullPage: true });
      expect(await seriousViolations(options), `firefox options ${theme}`).toEqual([]);
      await options.close();
    }
  }, 90_000);
});
