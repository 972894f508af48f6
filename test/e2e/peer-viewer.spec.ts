import pixelmatch from 'pixelmatch';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS } from '../../extension/core/settings';
import { startSignalingServer, type SignalingServer } from '../../signaling-server/server';
import { launchWithExtension, type ExtensionBrowser } from '../helpers/chromium';
import type { Page as FirefoxPage } from 'puppeteer-core';
import { launchFirefoxPeer, type FirefoxPeer } from '../helpers/firefox';
import {
  startOriginServer,
  type OriginServer,
  DEV_ORIGIN_ADDRESS,
  DEV_PRIVATE_ALLOW_LIST,
} from '../helpers/origin-server';
import { closeAll } from '../helpers/close-all';

/**
 * The peer viewer in Chromium: a requester that cannot resolve the fixture host opens it via peers.
 * A hostile page runs no script and reaches nothing except through the exit; a normal page renders
 * like the same page opened directly.
 */
let origin: OriginServer;
let signaling: SignalingServer;
let exit: ExtensionBrowser;
let requester: ExtensionBrowser;
let site: string;

beforeAll(async () => {
  origin = await startOriginServer();
  signaling = await startSignalingServer({ port: 0 });
  site = `http://origin.peerlane.test:${origin.port}`;
  exit = await launchWithExtension([`MAP origin.peerlane.test ${DEV_ORIGIN_ADDRESS}`]);
  await exit.setSettings({
    signalingUrl: signaling.url,
    share: true,
    privateAllowList: DEV_PRIVATE_ALLOW_LIST,
    exitPorts: [...DEFAULT_SETTINGS.exitPorts, origin.port],
  });
  requester = await launchWithExtension(['MAP origin.peerlane.test ~NOTFOUND']);
  // No routed site: the viewer's first request is what makes the requester look for exits.
  await requester.setSettings({ signalingUrl: signaling.url });
}, 60_000);

afterAll(async () => {
  await closeAll(requester, exit, signaling, origin);
});

/** Both images cut to the area they share (BiDi screenshots of a clipped area may come a few pixels short). */
function cropToCommon(a: PNG, b: PNG): [PNG, PNG] {
  const width = Math.min(a.width, b.width);
  const height = Math.min(a.height, b.height);
  const crop = (image: PNG): PNG => {
    const out = new PNG({ width, height });
    PNG.bitblt(image, out, 0, 0, width, height, 0, 0);
    return out;
  };
  return [crop(a), crop(b)];
}

/** Polls `probe` in a Firefox page until it holds (bounded): the viewer replaces its own document, so a wait on the first context would not see it. */
async function untilInPage(page: FirefoxPage, probe: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !(await page.evaluate(probe).catch(() => false)))
    await new Promise((resolve) => setTimeout(resolve, 200));
}

const viewerUrl = (target: string): string => {
  const url = new URL(target);
  return `chrome-extension://${requester.extensionId}/view/${url.protocol.slice(0, -1)}/${url.host}${url.pathname}${url.search}`;
};

describe('peer viewer (Chromium)', () => {
  it('shows a hostile page with no script run and nothing fetched except through the exit', async () => {
    const page = await requester.context.newPage();
    const response = await page.goto(viewerUrl(`${site}/hostile/index.html`));
    expect(response?.headers()['content-security-policy']).toMatch(/script-src 'none'/);
    await page.waitForSelector('#peerlane-viewer-banner');
    expect(await page.textContent('#title')).toBe('Hostile fixture');
    // The image came through peers (the requester cannot resolve the host at all).
    await page.waitForFunction(
      () => (document.querySelector<HTMLImageElement>('#img')?.naturalWidth ?? 0) > 0,
      undefined,
      { timeout: 15_000 },
    );
    expect(await page.textContent('#noscript')).toBe('noscript fallback shown');
    // Clicks: the javascript: link and the POST form do nothing; the normal link stays in the viewer.
    await page.click('#js-link');
    await page.click('#post-submit').catch(() => undefined);
    await page.goto(viewerUrl(`${site}/hostile/index.html`));
    await page.click('#next');
    await page.waitForURL(/\/view\/http\/origin\.peerlane\.test:\d+\/hostile\/next\.html$/);
    await page.waitForSelector('#peerlane-viewer-banner');
    // Give the traps every chance a page load gives them (load event, meta refresh at 0 s) before judging.
    await page.waitForLoadState('load');

    expect(await page.evaluate(() => document.documentElement.dataset.pwned)).toBeUndefined();
    expect(
      await requester.worker.evaluate(async () => (await chrome.storage.local.get('pwned')).pwned),
    ).toBeUndefined();
    const trapped = origin.requests
      .filter((request) => request.path.includes('/hostile/trap-'))
      .map((request) => request.path);
    expect(trapped, JSON.stringify(trapped)).toEqual([]);
    const seen = origin.requests.filter((request) => request.path.startsWith('/hostile/'));
    expect(seen.map((request) => request.path)).toEqual(
      expect.arrayContaining([
        '/hostile/index.html',
        '/hostile/img.png',
        '/hostile/style.css',
        '/hostile/imported.css',
        '/hostile/next.html',
      ]),
    );
    // Every request the origin saw was the exit's own fetch: no Origin, no cookie sent back.
    expect(seen.every((request) => request.headers.origin === undefined && request.headers.cookie === undefined)).toBe(
      true,
    );
    await page.screenshot({ path: 'test/artifacts/viewer-hostile.png' });
    await page.close();
  }, 90_000);

  it('each layer holds on its own: the CSP stops a script the sanitizer never saw, the worker refuses a script request the CSP never saw', async () => {
    const viewer = await requester.context.newPage();
    await viewer.goto(viewerUrl(`${site}/hostile/index.html`));
    await viewer.waitForSelector('#peerlane-viewer-banner');
    // Past the sanitizer: a script put straight into the DOM (as a parser bug might let through).
    await viewer.evaluate(() => {
      const script = document.createElement('script');
      script.textContent = "document.documentElement.dataset.pwned = 'csp'";
      document.head.append(script);
    });
    expect(await viewer.evaluate(() => document.documentElement.dataset.pwned)).toBeUndefined();
    await viewer.close();
    // Past the CSP: an extension page without it asks the worker for a viewer URL as a script.
    const options = await requester.context.newPage();
    await options.goto(`chrome-extension://${requester.extensionId}/extension/ui/options.html`);
    const status = await options.evaluate(
      (src) =>
        new Promise<string>((resolve) => {
          const script = document.createElement('script');
          script.src = src;
          script.onload = () => resolve('loaded');
          script.onerror = () => resolve('refused');
          document.head.append(script);
        }),
      `/view/http/origin.peerlane.test:${origin.port}/hostile/trap-layer.js`,
    );
    expect(status).toBe('refused');
    expect(origin.requests.some((request) => request.path.includes('trap-layer'))).toBe(false);
    await options.close();
  }, 60_000);

  it('renders a normal page like the direct rendering (pixel difference under 1 %)', async () => {
    const viewport = { width: 800, height: 600 };
    const direct = await exit.context.newPage();
    await direct.setViewportSize(viewport);
    await direct.goto(`${site}/normal/index.html`);
    await direct.waitForLoadState('load');
    const viewed = await requester.context.newPage();
    await viewed.setViewportSize(viewport);
    await viewed.goto(viewerUrl(`${site}/normal/index.html`));
    await viewed.waitForLoadState('load');
    await viewed.waitForFunction(
      () => [...document.images].every((image) => image.complete && image.naturalWidth > 0),
      undefined,
      { timeout: 15_000 },
    );
    // The banner is fixed at the bottom: compare everything above it.
    const clip = { x: 0, y: 0, width: viewport.width, height: viewport.height - 60 };
    const a = PNG.sync.read(await direct.screenshot({ clip }));
    const b = PNG.sync.read(await viewed.screenshot({ clip }));
    await viewed.screenshot({ path: 'test/artifacts/viewer-normal.png' });
    await direct.screenshot({ path: 'test/artifacts/viewer-normal-direct.png' });
    const diff = new PNG({ width: a.width, height: a.height });
    const different = pixelmatch(a.data, b.data, diff.data, a.width, a.height, { threshold: 0.1 });
    const ratio = different / (a.width * a.height);
    console.info(
      `viewer vs direct: ${different} of ${a.width * a.height} pixels differ (${(ratio * 100).toFixed(3)} %)`,
    );
    expect(ratio).toBeLessThan(0.01);
    // A GET form stays in the viewer: its fields become the target's query.
    await viewed.click('#search');
    await viewed.waitForURL(/\/view\/http\/origin\.peerlane\.test:\d+\/normal\/search\?q=peers$/);
    expect(await viewed.textContent('#results')).toBe('Results for peers');
    await direct.close();
    await viewed.close();
  }, 90_000);

  it("opens from the popup's field in a new tab", async () => {
    const popup = await requester.context.newPage();
    await popup.goto(`chrome-extension://${requester.extensionId}/extension/ui/popup.html`);
    await popup.waitForFunction(() => document.documentElement.dataset.firstRenderMs !== undefined);
    await popup.getByTestId('viewer-url').fill(`${site}/normal/index.html`);
    const opened = requester.context.waitForEvent('page');
    await popup.getByTestId('viewer-url').press('Enter');
    const tab = await opened;
    await tab.waitForSelector('#peerlane-viewer-banner');
    expect(tab.url()).toBe(viewerUrl(`${site}/normal/index.html`));
    expect(await tab.textContent('h1')).toBe('A normal page');
    await popup.screenshot({ path: 'test/artifacts/popup-viewer-field.png' });
    await tab.close();
    await popup.close();
  }, 60_000);

  it('answers a refused destination with a clear page and a retry link', async () => {
    const page = await requester.context.newPage();
    await page.goto(viewerUrl(`${site.replace(String(origin.port), '9999')}/hostile/index.html`));
    expect(await page.textContent('[data-testid="viewer-error"]')).toMatch(/exit refused this address/);
    expect(await page.getAttribute('[data-testid="viewer-retry"]', 'href')).toBe(
      '/view/http/origin.peerlane.test:9999/hostile/index.html',
    );
    await page.screenshot({ path: 'test/artifacts/viewer-error.png' });
    await page.close();
  }, 60_000);
});

describe('peer viewer (Firefox: a page fetching through the background)', () => {
  let firefox: FirefoxPeer;

  beforeAll(async () => {
    // No local names: the fixture host does not resolve in this Firefox, only the exit can reach it.
    firefox = await launchFirefoxPeer([]);
    await firefox.setSettings({ signalingUrl: signaling.url });
  }, 60_000);

  afterAll(async () => {
    await closeAll(firefox);
  });

  it('shows a hostile page with no script run and nothing fetched except through the exit', async () => {
    const before = origin.requests.length;
    const page = await firefox.browser.newPage();
    await page.setViewport({ width: 1024, height: 700 });
    // Extension pages never report their load over BiDi.
    void page
      .goto(`${firefox.baseUrl}/extension/ui/viewer.html?url=${encodeURIComponent(`${site}/hostile/index.html`)}`)
      .catch(() => undefined);
    await untilInPage(page, () => document.querySelector('#peerlane-viewer-banner') !== null);
    expect(await page.evaluate(() => document.querySelector('#title')?.textContent)).toBe('Hostile fixture');
    expect(await page.evaluate(() => document.querySelector('#noscript')?.textContent)).toBe('noscript fallback shown');
    expect(await page.evaluate(() => document.querySelector<HTMLImageElement>('#img')?.naturalWidth)).toBe(40);
    // The stylesheet (and the sheet it imports) came through peers and applies.
    expect(await page.evaluate(() => getComputedStyle(document.querySelector('#title')!).color)).toBe(
      'rgb(200, 30, 30)',
    );
    expect(await page.evaluate(() => getComputedStyle(document.querySelector('#title')!).fontStyle)).toBe('italic');
    await page.screenshot({ path: 'test/artifacts/viewer-hostile-firefox.png' });
    expect(await page.evaluate(() => document.documentElement.dataset.pwned)).toBeUndefined();
    const stored = await firefox.control.evaluate(() =>
      (
        globalThis as unknown as {
          browser: { storage: { local: { get(key: string): Promise<Record<string, unknown>> } } };
        }
      ).browser.storage.local.get('pwned'),
    );
    expect(stored.pwned).toBeUndefined();
    const seen = origin.requests.slice(before).filter((request) => request.path.startsWith('/hostile/'));
    expect(seen.filter((request) => request.path.includes('trap-')).map((request) => request.path)).toEqual([]);
    expect(seen.map((request) => request.path)).toEqual(
      expect.arrayContaining([
        '/hostile/index.html',
        '/hostile/img.png',
        '/hostile/style.css',
        '/hostile/imported.css',
      ]),
    );
    expect(seen.every((request) => request.headers.origin === undefined && request.headers.cookie === undefined)).toBe(
      true,
    );
    // The CSP holds alone: a script put straight into the DOM (past the sanitizer) does not run.
    await page.evaluate(() => {
      const script = document.createElement('script');
      script.textContent = "document.documentElement.dataset.pwned = 'csp'";
      document.head.append(script);
    });
    expect(await page.evaluate(() => document.documentElement.dataset.pwned)).toBeUndefined();
    // A link stays in the viewer.
    expect(await page.evaluate(() => document.querySelector<HTMLAnchorElement>('#next')?.getAttribute('href'))).toBe(
      `/extension/ui/viewer.html?url=${encodeURIComponent(`${site}/hostile/next.html`)}`,
    );
    await page.close();
  }, 90_000);

  it('renders a normal page like Firefox renders it directly (pixel difference under 1 %)', async () => {
    const viewport = { width: 800, height: 600 };
    const direct = await launchFirefoxPeer(['origin.peerlane.test']);
    try {
      const directPage = await direct.browser.newPage();
      await directPage.setViewport(viewport);
      await directPage.goto(`${site}/normal/index.html`);
      const viewed = await firefox.browser.newPage();
      await viewed.setViewport(viewport);
      void viewed
        .goto(`${firefox.baseUrl}/extension/ui/viewer.html?url=${encodeURIComponent(`${site}/normal/index.html`)}`)
        .catch(() => undefined);
      await untilInPage(
        viewed,
        () =>
          document.querySelector('#peerlane-viewer-banner') !== null &&
          [...document.images].every((image) => image.complete && image.naturalWidth > 0),
      );
      const clip = { x: 0, y: 0, width: viewport.width, height: viewport.height - 60 };
      const [a, b] = cropToCommon(
        PNG.sync.read(Buffer.from(await directPage.screenshot({ clip }))),
        PNG.sync.read(Buffer.from(await viewed.screenshot({ clip }))),
      );
      await viewed.screenshot({ path: 'test/artifacts/viewer-normal-firefox.png' });
      const different = pixelmatch(a.data, b.data, undefined, a.width, a.height, { threshold: 0.1 });
      const ratio = different / (a.width * a.height);
      console.info(
        `Firefox viewer vs direct: ${different} of ${a.width * a.height} pixels differ (${(ratio * 100).toFixed(3)} %)`,
      );
      expect(ratio).toBeLessThan(0.01);
      // A GET form stays in the viewer: its fields become the target's query.
      await viewed.click('#search');
      await untilInPage(viewed, () => (document.querySelector('#results')?.textContent ?? '').startsWith('Results'));
      expect(await viewed.evaluate(() => document.querySelector('#results')?.textContent)).toBe('Results for peers');
    } finally {
      await direct.close();
    }
  }, 90_000);
});
