import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { resolve } from 'node:path';

/**
 * Debian's firefox-esr over WebDriver BiDi with the built extension (DESIGN.md §8). The extension's
 * internal UUID is pinned by pref so tests can open its pages by URL.
 */
export const FIREFOX_EXTENSION_DIR = resolve('dist/firefox');
export const FIREFOX_EXTENSION_UUID = '5f1e3c9a-7d64-4b7e-9a55-2d3c0f6b8e11';
export const FIREFOX_EXTENSION_ID = 'peerlane@peerlane.dev';

/** `colorScheme` forces the pages' prefers-color-scheme (BiDi has no media emulation). */
export async function launchFirefoxWithExtension(options: { colorScheme?: 'light' | 'dark' } = {}): Promise<{ browser: Browser; baseUrl: string }> {
  const browser = await puppeteer.launch({
    browser: 'firefox',
    executablePath: process.env.FIREFOX_PATH ?? '/usr/bin/firefox-esr',
    headless: true,
    // Firefox ≥ 153 lets WebDriver navigate to moz-extension:// pages only with system access.
    args: ['--remote-allow-system-access'],
    extraPrefsFirefox: {
      'extensions.webextensions.uuids': JSON.stringify({ [FIREFOX_EXTENSION_ID]: FIREFOX_EXTENSION_UUID }),
      ...(options.colorScheme ? { 'layout.css.prefers-color-scheme.content-override': options.colorScheme === 'dark' ? 0 : 1 } : {}),
    },
  });
  await browser.installExtension(FIREFOX_EXTENSION_DIR);
  return { browser, baseUrl: `moz-extension://${FIREFOX_EXTENSION_UUID}` };
}

/**
 * Opens an extension page. Firefox never reports an extension page's load over BiDi (goto would
 * hang), so navigation is started and the page's own ready marker is awaited instead.
 */
export async function openFirefoxExtensionPage(browser: Browser, url: string, readyExpression: string): Promise<Page> {
  const page = await browser.newPage();
  await page.setViewport({ width: 360, height: 640 });
  void page.goto(url).catch(() => undefined);
  await page.waitForFunction(readyExpression, { timeout: 15_000 });
  return page;
}
