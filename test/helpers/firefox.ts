import puppeteer, { type Browser } from 'puppeteer-core';
import { resolve } from 'node:path';

/**
 * Debian's firefox-esr over WebDriver BiDi with the built extension (DESIGN.md §8). The extension's
 * internal UUID is pinned by pref so tests can open its pages by URL.
 */
export const FIREFOX_EXTENSION_DIR = resolve('dist/firefox');
export const FIREFOX_EXTENSION_UUID = '5f1e3c9a-7d64-4b7e-9a55-2d3c0f6b8e11';
export const FIREFOX_EXTENSION_ID = 'peerlane@peerlane.dev';

export async function launchFirefoxWithExtension(): Promise<{ browser: Browser; baseUrl: string }> {
  const browser = await puppeteer.launch({
    browser: 'firefox',
    executablePath: process.env.FIREFOX_PATH ?? '/usr/bin/firefox-esr',
    headless: true,
    extraPrefsFirefox: {
      'extensions.webextensions.uuids': JSON.stringify({ [FIREFOX_EXTENSION_ID]: FIREFOX_EXTENSION_UUID }),
    },
  });
  await browser.installExtension(FIREFOX_EXTENSION_DIR);
  return { browser, baseUrl: `moz-extension://${FIREFOX_EXTENSION_UUID}` };
}
