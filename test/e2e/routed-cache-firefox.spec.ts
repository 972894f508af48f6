import type { Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchWithExtension, waitFor, type ExtensionBrowser } from '../helpers/chromium';
import { closeAll } from '../helpers/close-all';
import { launchFirefoxPeer, type FirefoxPeer } from '../helpers/firefox';
import { DEV_ORIGIN_ADDRESS } from '../helpers/origin-server';
import { startStage, type Stage } from '../helpers/stage';

/**
 * The routed cache in Firefox (its background page's IndexedDB), a Chromium exit answering: a
 * returning view of a fresh resource never reaches the exit, an expired one costs one conditional
 * request, a no-store answer is never kept, and another site keeps its own entries.
 */
let stage: Stage;
let exit: ExtensionBrowser;
let requester: FirefoxPeer;
let app: Page;
let shop: Page;

beforeAll(async () => {
  stage = await startStage();
  const shopOrigin = `http://shop.otherlane.test:${stage.origin.port}`;
  exit = await launchWithExtension([`MAP origin.peerlane.test ${DEV_ORIGIN_ADDRESS}`]);
  await exit.setSettings(stage.exitSettings());
  // Only the routed sites resolve here: what arrives from the data origin came through the exit.
  requester = await launchFirefoxPeer(['app.peerlane.test', 'shop.otherlane.test']);
  await requester.setSettings({ signalingUrl: stage.signaling.url, routedOrigins: [stage.appOrigin, shopOrigin] });
  await waitFor(
    () => requester.state(),
    (state) => state.stats.peers === 1 && state.access.unroutable.length === 0,
    'the Firefox requester connected, with access to the routed sites',
  );
  app = await requester.browser.newPage();
  await app.goto(`${stage.appOrigin}/app`);
  shop = await requester.browser.newPage();
  await shop.goto(`${shopOrigin}/app`);
}, 90_000);

afterAll(async () => {
  await closeAll(requester, exit, stage);
});

/** A routed fetch in `page`: "status text", or the error. */
function fetchIn(page: Page, url: string): Promise<string> {
  return page.evaluate(async (target) => {
    try {
      const response = await fetch(target);
      return `${response.status} ${await response.text()}`;
    } catch (error) {
      return `error: ${String(error)}`;
    }
  }, url);
}

const reached = (marker: string) => stage.origin.requests.filter((request) => request.path.includes(marker));

describe('the routed cache, in Firefox', () => {
  it('a second view of a fresh resource is answered from the cache; another site asks the exit', async () => {
    const url = `${stage.dataOrigin}/cached?k=ff-fresh`;
    expect(await fetchIn(app, url)).toBe('200 cached /cached?k=ff-fresh');
    expect(await fetchIn(app, url)).toBe('200 cached /cached?k=ff-fresh');
    expect(reached('k=ff-fresh')).toHaveLength(1);
    await expect.poll(async () => (await requester.state()).stats.cacheHits).toBeGreaterThanOrEqual(1);
    expect(await fetchIn(shop, url)).toBe('200 cached /cached?k=ff-fresh');
    expect(reached('k=ff-fresh')).toHaveLength(2);
  });

  it('an expired resource costs one conditional request and the stored body; a no-store one is never kept', async () => {
    const expired = `${stage.dataOrigin}/cached?k=ff-expired&cc=max-age%3D0`;
    await fetchIn(app, expired);
    expect(await fetchIn(app, expired)).toBe('200 cached /cached?k=ff-expired&cc=max-age%3D0');
    expect(reached('k=ff-expired').map((request) => request.headers['if-none-match'] ?? 'unconditional')).toEqual([
      'unconditional',
      '"v-1"',
    ]);
    const noStore = `${stage.dataOrigin}/cached?k=ff-no-store&cc=no-store`;
    await fetchIn(app, noStore);
    await fetchIn(app, noStore);
    expect(reached('k=ff-no-store')).toHaveLength(2);
  });
});
