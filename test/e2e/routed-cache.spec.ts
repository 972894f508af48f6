import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  backgroundState,
  launchWithExtension,
  stopServiceWorker,
  waitFor,
  waitForRoutedScripts,
  type ExtensionBrowser,
} from '../helpers/chromium';
import { closeAll } from '../helpers/close-all';
import { DEV_ORIGIN_ADDRESS } from '../helpers/origin-server';
import { REQUESTER_HOST_RULES, startStage, type Stage } from '../helpers/stage';

/**
 * The requester's routed cache in real Chromium, IndexedDB and all: a returning view of a fresh
 * resource never reaches the exit, an expired one costs one conditional request and no body, what
 * may not be stored is not, two routed sites never share an entry, and the cache outlives the
 * service worker's stop. The origin's log tells what reached it.
 */
let stage: Stage;
let exit: ExtensionBrowser;
let requester: ExtensionBrowser;
let app: Page;
let shop: Page;
let shopOrigin: string;

beforeAll(async () => {
  stage = await startStage();
  // Another site: another registrable domain (app.peerlane.test and shop.peerlane.test are one site).
  shopOrigin = `http://shop.otherlane.test:${stage.origin.port}`;
  exit = await launchWithExtension([`MAP origin.peerlane.test ${DEV_ORIGIN_ADDRESS}`]);
  await exit.setSettings(stage.exitSettings());
  requester = await launchWithExtension([...REQUESTER_HOST_RULES, 'MAP shop.otherlane.test 127.0.0.1']);
  await requester.setSettings({ signalingUrl: stage.signaling.url, routedOrigins: [stage.appOrigin, shopOrigin] });
  await waitForRoutedScripts(requester);
  await waitFor(
    async () => (await backgroundState(requester)).stats.peers,
    (peers) => peers === 1,
    'one exit peer',
  );
  app = await requester.context.newPage();
  await app.goto(`${stage.appOrigin}/app`);
  shop = await requester.context.newPage();
  await shop.goto(`${shopOrigin}/app`);
}, 90_000);

afterAll(async () => {
  await closeAll(requester, exit, stage);
});

/** A routed fetch in `page`: "status text", or the error. */
function fetchIn(page: Page, url: string, cache: RequestCache = 'default'): Promise<string> {
  return page.evaluate(
    async ([target, mode]) => {
      try {
        const response = await fetch(target, { cache: mode });
        return `${response.status} ${await response.text()}`;
      } catch (error) {
        return `error: ${String(error)}`;
      }
    },
    [url, cache] as const,
  );
}

const reached = (marker: string) => stage.origin.requests.filter((request) => request.path.includes(marker));

describe('the routed cache, in Chromium', () => {
  it('a second view of a fresh resource is answered from the cache: the origin sees one request', async () => {
    const url = `${stage.dataOrigin}/cached?k=fresh`;
    expect(await fetchIn(app, url)).toBe('200 cached /cached?k=fresh');
    const hitsBefore = (await backgroundState(requester)).stats.cacheHits;
    expect(await fetchIn(app, url)).toBe('200 cached /cached?k=fresh');
    expect(reached('k=fresh')).toHaveLength(1);
    await expect.poll(async () => (await backgroundState(requester)).stats.cacheHits).toBe(hitsBefore + 1);
    await expect
      .poll(async () => (await backgroundState(requester)).log.filter((entry) => entry.cache === 'hit').length)
      .toBeGreaterThan(0);
  });

  it('an expired resource costs one conditional request: the exit brings a 304, the page the stored body', async () => {
    const url = `${stage.dataOrigin}/cached?k=expired&cc=max-age%3D0`;
    expect(await fetchIn(app, url)).toBe('200 cached /cached?k=expired&cc=max-age%3D0');
    expect(await fetchIn(app, url)).toBe('200 cached /cached?k=expired&cc=max-age%3D0');
    const asked = reached('k=expired');
    expect(asked.map((request) => request.headers['if-none-match'] ?? 'unconditional')).toEqual([
      'unconditional',
      '"v-1"',
    ]);
    await expect.poll(async () => (await backgroundState(requester)).stats.cacheRevalidated).toBeGreaterThanOrEqual(1);
  });

  it('what may not be stored is not: a no-store answer, and a request whose cache mode is no-store or reload', async () => {
    const noStore = `${stage.dataOrigin}/cached?k=no-store&cc=no-store`;
    await fetchIn(app, noStore);
    await fetchIn(app, noStore);
    expect(reached('k=no-store')).toHaveLength(2);
    const fresh = `${stage.dataOrigin}/cached?k=modes`;
    await fetchIn(app, fresh);
    await fetchIn(app, fresh, 'no-store');
    await fetchIn(app, fresh, 'reload');
    expect(reached('k=modes')).toHaveLength(3);
    // And an only-if-cached request for something never fetched fails, as the browser's would.
    expect(await fetchIn(app, `${stage.dataOrigin}/cached?k=never`, 'only-if-cached')).toMatch(/^error: TypeError/);
    expect(reached('k=never')).toHaveLength(0);
  });

  it('two sites never share an entry: the same URL from another routed site goes to the exit', async () => {
    const url = `${stage.dataOrigin}/cached?k=shared`;
    await fetchIn(app, url);
    await fetchIn(shop, url);
    expect(reached('k=shared')).toHaveLength(2);
    await fetchIn(shop, url);
    expect(reached('k=shared')).toHaveLength(2);
  });

  it('the popup says how much the cache answered and what no exit had to carry', async () => {
    const { stats } = await backgroundState(requester);
    const popup = await requester.context.newPage();
    await popup.goto(`chrome-extension://${requester.extensionId}/extension/ui/popup.html`);
    const answered = stats.cacheHits + stats.cacheRevalidated;
    await expect
      .poll(() => popup.getByTestId('cache-summary').textContent())
      .toMatch(
        new RegExp(
          `^Cache: \\d+ % answered \\(${answered} of ${answered + stats.cacheMisses}\\), .+ no exit had to carry\\.$`,
        ),
      );
    await popup.screenshot({ path: 'test/artifacts/popup-cache.png', fullPage: true });
    await popup.close();
  });

  it('the cache outlives the service worker: stopped and started again, it still answers', async () => {
    const url = `${stage.dataOrigin}/cached?k=survives`;
    await fetchIn(app, url);
    expect(await stopServiceWorker(requester)).toBe(true);
    expect(await fetchIn(app, url)).toBe('200 cached /cached?k=survives');
    expect(reached('k=survives')).toHaveLength(1);
  });

  it('options show what the cache holds, and "Clear Peerlane\'s cache" empties it: the next view goes to the exit', async () => {
    const url = `${stage.dataOrigin}/cached?k=cleared`;
    await fetchIn(app, url);
    await fetchIn(app, url);
    expect(reached('k=cleared')).toHaveLength(1);
    const options = await requester.context.newPage();
    await options.goto(`chrome-extension://${requester.extensionId}/extension/ui/options.html`);
    await expect.poll(() => options.getByTestId('cache-size').textContent()).toMatch(/^[1-9]\d* answers, /);
    await options.getByTestId('cache-clear').click();
    await expect.poll(() => options.getByTestId('cache-size').textContent()).toBe('0 answers, 0.0 MB');
    await options.screenshot({ path: 'test/artifacts/options-cache.png', fullPage: true });
    await options.close();
    await fetchIn(app, url);
    expect(reached('k=cleared')).toHaveLength(2);
  });
});
