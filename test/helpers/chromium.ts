import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext, type Page, type Worker } from 'playwright-core';
import { expect } from 'vitest';
import { POPUP_PORT_NAME, popupStateSchema, type PopupState } from '../../extension/core/channels/popup-channel';
import type { Settings } from '../../extension/core/settings';
import { answersFromHostRules, startDohServer, type DohServer } from './doh-server';

/**
 * Debian's Chromium with the built extension, headless, as ARCHITECTURE.md ("Measured facts") says. Host names are mapped
 * per browser so a test can prove which browser reached the origin. The exit looks names up before it
 * connects (DNS over HTTPS): each browser gets a resolver on loopback that answers as its host rules
 * do (doh-server.ts), set as its `exitResolver`.
 */
/** The built extension; PEERLANE_CHROME_EXTENSION_DIR points a bench at another build (an A/B of two commits). */
export const CHROME_EXTENSION_DIR = resolve(process.env.PEERLANE_CHROME_EXTENSION_DIR ?? 'dist/chrome');

export interface ExtensionBrowser {
  context: BrowserContext;
  worker: Worker;
  extensionId: string;
  /** The resolver this browser's exit asks (answering as `hostRules` map); unreachable from inside a network namespace. */
  resolver: DohServer;
  setSettings(settings: Partial<Settings>): Promise<void>;
  close(): Promise<void>;
}

/**
 * `profileDir`: a profile the caller keeps (a browser restart reopens it); a fresh one, removed at
 * close, by default. `executablePath`: e.g. a wrapper that starts Chromium in a network namespace.
 */
export async function launchWithExtension(
  hostRules: string[],
  extraArgs: string[] = [],
  profileDir?: string,
  executablePath?: string,
): Promise<ExtensionBrowser> {
  const userDataDir = profileDir ?? (await mkdtemp(join(tmpdir(), 'peerlane-chromium-')));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: executablePath ?? process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--disable-extensions-except=${CHROME_EXTENSION_DIR}`,
      `--load-extension=${CHROME_EXTENSION_DIR}`,
      `--host-resolver-rules=${hostRules.join(', ')}`,
      // Debugging: every context's console (offscreen document included) on stderr, shown with DEBUG=pw:browser.
      ...(process.env.PEERLANE_CHROMIUM_LOG ? ['--enable-logging=stderr', '--v=0'] : []),
      ...extraArgs,
    ],
  });
  const worker = context.serviceWorkers()[0] ?? (await context.waitForEvent('serviceworker', { timeout: 20_000 }));
  const extensionId = new URL(worker.url()).host;
  const resolver = await startDohServer(answersFromHostRules(hostRules));
  const setSettings = async (change: Partial<Settings>): Promise<void> => {
    await worker.evaluate(async (partial) => {
      const stored = (await chrome.storage.local.get('settings')).settings ?? {};
      await chrome.storage.local.set({ settings: { ...stored, ...partial } });
    }, change);
  };
  await setSettings({ exitResolver: resolver.url });
  return {
    context,
    worker,
    extensionId,
    resolver,
    setSettings,
    close: async () => {
      await context.close();
      await resolver.close();
      if (!profileDir) await rm(userDataDir, { recursive: true, force: true });
    },
  };
}

/** Waits (bounded) until the background has registered the routed-site scripts. */
export async function waitForRoutedScripts(browser: ExtensionBrowser, timeoutMs = 10_000): Promise<void> {
  await browser.worker.evaluate(async (deadlineMs) => {
    const deadline = Date.now() + deadlineMs;
    while (Date.now() < deadline) {
      const scripts = await chrome.scripting.getRegisteredContentScripts();
      if (scripts.length >= 2) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error('routed scripts were not registered');
  }, timeoutMs);
}

/**
 * The background's state as the popup receives it (same Port, same schema), read from an extension
 * page of `browser`. Tests compare what they did with what the background says.
 */
export async function backgroundState(browser: ExtensionBrowser): Promise<PopupState> {
  let page = extensionPages.get(browser);
  if (!page || page.isClosed()) {
    page = await browser.context.newPage();
    await page.goto(`chrome-extension://${browser.extensionId}/extension/ui/options.html`);
    extensionPages.set(browser, page);
  }
  const raw = await page.evaluate(
    (name) =>
      new Promise<unknown>((resolve, reject) => {
        const port = chrome.runtime.connect({ name });
        const timer = setTimeout(() => reject(new Error('no state from the background within 5 s')), 5000);
        port.onMessage.addListener((message: { state?: unknown }) => {
          clearTimeout(timer);
          port.disconnect();
          resolve(message.state);
        });
      }),
    POPUP_PORT_NAME,
  );
  return popupStateSchema.parse(raw);
}
const extensionPages = new WeakMap<ExtensionBrowser, Page>();

/** Polls `probe` until `accept` holds (bounded); for hooks, where expect.poll is not available. */
export async function waitFor<T>(
  probe: () => Promise<T>,
  accept: (value: T) => boolean,
  what: string,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await probe();
    if (accept(last)) return last;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last value ${JSON.stringify(last)}`);
}

/** Stops the extension's service worker the way Chrome does when idle (DevTools Protocol). */
export async function stopServiceWorker(browser: ExtensionBrowser): Promise<boolean> {
  const helper = await browser.context.newPage();
  await helper.goto(`chrome-extension://${browser.extensionId}/extension/ui/options.html`);
  const cdp = await browser.context.newCDPSession(helper);
  const statuses: string[] = [];
  let versionId: string | null = null;
  cdp.on('ServiceWorker.workerVersionUpdated', (event) => {
    for (const version of event.versions) {
      if (!version.scriptURL.startsWith(`chrome-extension://${browser.extensionId}/`)) continue;
      versionId ??= version.versionId;
      statuses.push(version.runningStatus);
    }
  });
  await cdp.send('ServiceWorker.enable');
  await expect.poll(() => versionId, { timeout: 5000 }).not.toBeNull();
  await cdp.send('ServiceWorker.stopWorker', { versionId: versionId! });
  await expect.poll(() => statuses.includes('stopped'), { timeout: 5000 }).toBe(true);
  await cdp.detach();
  await helper.close();
  return true;
}
