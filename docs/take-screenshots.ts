import type { Page } from 'playwright-core';
import { DEFAULT_EXIT_RESOLVER } from '../extension/core/exit/policy';
import { backgroundState, waitFor, type ExtensionBrowser } from '../test/helpers/chromium';
import { startPeerPair } from '../test/helpers/peer-pair';

/**
 * `npm run docs:screenshots`: the README's pictures, from the real extension. Two Chromium (an exit
 * and a requester), a signaling server and an origin on loopback; the requester's routed page makes
 * real requests (small ones, a larger body, one the exit refuses), then the popup's Requests and
 * Peers tabs and the options page are photographed into docs/images/.
 */
const OUT = 'docs/images';

async function extensionPage(browser: ExtensionBrowser, path: string, width: number, height: number): Promise<Page> {
  const page = await browser.context.newPage();
  await page.setViewportSize({ width, height });
  await page.emulateMedia({ colorScheme: 'light' });
  await page.goto(`chrome-extension://${browser.extensionId}/extension/ui/${path}`);
  return page;
}

const pair = await startPeerPair({ bigBytes: 2 * 1024 * 1024 });
try {
  // The requester is no exit: its options show the resolver a person's install starts with.
  await pair.requester.setSettings({ exitResolver: DEFAULT_EXIT_RESOLVER });
  const page = await pair.requester.context.newPage();
  await page.goto(`${pair.appOrigin}/app`);
  await page.evaluate(async (base) => {
    for (let round = 0; round < 4; round += 1)
      await Promise.all(
        Array.from({ length: 6 }, (_, index) =>
          fetch(`${base}/small.txt?r=${round}&i=${index}`).then((response) => response.text()),
        ),
      );
    await fetch(`${base}/small.txt`, { method: 'POST' }).catch(() => undefined);
    await (await fetch(`${base}/big.bin`)).arrayBuffer();
  }, pair.dataOrigin);
  await waitFor(
    async () => (await backgroundState(pair.requester)).stats.completed,
    (completed) => completed >= 25,
    'the requests finished',
  );
  const popup = await extensionPage(pair.requester, 'popup.html', 360, 640);
  // Two timeline samples (one a second) draw the sparkline.
  await popup.waitForFunction(
    () => (document.querySelector('#spark-queue path')?.getAttribute('d') ?? '').includes(' L'),
    undefined,
    { timeout: 10_000 },
  );
  await popup.screenshot({ path: `${OUT}/popup-requests.png` });
  await popup.getByTestId('tab-peers').click();
  await popup.screenshot({ path: `${OUT}/popup-peers.png` });
  const options = await extensionPage(pair.requester, 'options.html', 800, 900);
  await options.getByTestId('signalingUrl').waitFor();
  // What an exit carries and where it looks names up: the part of the options a sharer reads first.
  await options
    .locator('fieldset', { has: options.getByTestId('exitResolver') })
    .screenshot({ path: `${OUT}/options.png` });
  console.log(`wrote ${OUT}/popup-requests.png, popup-peers.png, options.png`);
} finally {
  await pair.close();
}
