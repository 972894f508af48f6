import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS } from '../../extension/core/settings';
import { startSignalingServer, type SignalingServer } from '../../signaling-server/server';
import { launchWithExtension, waitFor } from '../helpers/chromium';
import { routedRequesterFor } from '../helpers/peer-pair';
import { launchFirefoxPeer, type FirefoxPeer } from '../helpers/firefox';
import {
  DEV_ORIGIN_ADDRESS,
  DEV_PRIVATE_ALLOW_LIST,
  SMALL_TEXT,
  startOriginServer,
  type OriginServer,
} from '../helpers/origin-server';
import { closeAll } from '../helpers/close-all';

/**
 * The policy a person's exit runs, end to end, with only a one-address development allow-list
 * (127.0.0.2/32): the origin there is served; the same origin on 127.0.0.1 is refused before a byte,
 * directly or as a redirect's hop (a literal, or a name that resolves there), through a real exit
 * of each browser. The origin listens on both addresses and logs which one each request reached.
 */
let origin: OriginServer;
let signaling: SignalingServer;
let appOrigin: string;
let dataOrigin: string;

beforeAll(async () => {
  origin = await startOriginServer();
  signaling = await startSignalingServer({ port: 0 });
  appOrigin = `http://app.peerlane.test:${origin.port}`;
  dataOrigin = `http://origin.peerlane.test:${origin.port}`;
}, 60_000);

afterAll(async () => {
  await closeAll(signaling, origin);
});

const exitSettings = () => ({
  signalingUrl: signaling.url,
  share: true,
  privateAllowList: DEV_PRIVATE_ALLOW_LIST,
  exitPorts: [...DEFAULT_SETTINGS.exitPorts, origin.port],
});

/** A routed requester for `exit` (it resolves neither name: whatever arrives came through the exit); closing closes both. */
const withRequester = (exit: { close(): Promise<void> }) =>
  routedRequesterFor(exit, signaling.url, appOrigin, [
    'MAP origin.peerlane.test ~NOTFOUND',
    'MAP loopback.peerlane.test ~NOTFOUND',
    'MAP app.peerlane.test 127.0.0.1',
  ]);

function fetchText(page: Page, url: string): Promise<string> {
  return page.evaluate(async (target) => {
    try {
      const response = await fetch(target);
      return `fetched ${response.status}: ${await response.text()}`;
    } catch (error) {
      // A routed failure is the browser's own TypeError; Peerlane's reason is its cause.
      return `${String(error)}${(error as { cause?: { message?: string } }).cause?.message ? ` ${(error as { cause: { message: string } }).cause.message}` : ''}`;
    }
  }, url);
}

/** Requests for `/small.txt?<marker>` (a redirect that only names it in its query does not count). */
const reached = (marker: string) => origin.requests.filter((request) => request.path === `/small.txt?${marker}`);
const redirectsFrom = (from: string) =>
  origin.requests.filter((request) => request.path.startsWith('/redirect?') && request.path.endsWith(`&from=${from}`));

/** The stories both exits must tell the same way: each looks a name up before connecting (Chromium by DNS over HTTPS, Firefox with dns.resolve). */
function productionPolicyStories(
  label: string,
  start: () => Promise<{ page: Page; close: () => Promise<void> }>,
): void {
  describe(`${label} exit under the production policy`, () => {
    let page: Page;
    let close: () => Promise<void>;
    beforeAll(async () => {
      ({ page, close } = await start());
    }, 90_000);
    afterAll(async () => {
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- unset when beforeAll failed
      await close?.();
    });

    it('serves the origin on the allowed address', async () => {
      expect(await fetchText(page, `${dataOrigin}/small.txt?served-${label}`)).toBe(`fetched 200: ${SMALL_TEXT}`);
      expect(reached(`served-${label}`).map((request) => request.address)).toEqual([DEV_ORIGIN_ADDRESS]);
    });

    it('refuses the same origin on 127.0.0.1 before a byte leaves', async () => {
      const outcome = await fetchText(page, `http://127.0.0.1:${origin.port}/small.txt?literal-${label}`);
      expect(outcome).toMatch(/destination_refused.*private or reserved address 127\.0\.0\.1/);
      expect(reached(`literal-${label}`)).toEqual([]);
    });

    it('refuses a redirect from the allowed origin to 127.0.0.1 at the hop', async () => {
      const target = `http://127.0.0.1:${origin.port}/small.txt?hop-literal-${label}`;
      const outcome = await fetchText(
        page,
        `${dataOrigin}/redirect?to=${encodeURIComponent(target)}&from=${label}-literal`,
      );
      expect(outcome).toMatch(/destination_refused.*redirect refused: private or reserved address 127\.0\.0\.1/);
      expect(redirectsFrom(`${label}-literal`).map((request) => request.address)).toEqual([DEV_ORIGIN_ADDRESS]);
      expect(reached(`hop-literal-${label}`)).toEqual([]);
    });

    it('refuses a redirect to a name that resolves to 127.0.0.1 at the hop', async () => {
      const target = `http://loopback.peerlane.test:${origin.port}/small.txt?hop-name-${label}`;
      const outcome = await fetchText(
        page,
        `${dataOrigin}/redirect?to=${encodeURIComponent(target)}&from=${label}-name`,
      );
      expect(outcome).toMatch(/destination_refused.*loopback\.peerlane\.test resolves to private address 127\.0\.0\.1/);
      expect(reached(`hop-name-${label}`)).toEqual([]);
    });
  });
}

productionPolicyStories('Chromium', async () => {
  const exit = await launchWithExtension([
    `MAP origin.peerlane.test ${DEV_ORIGIN_ADDRESS}`,
    'MAP loopback.peerlane.test 127.0.0.1',
  ]);
  await exit.setSettings(exitSettings());
  return withRequester(exit);
});

productionPolicyStories('Firefox', async () => {
  const exit: FirefoxPeer = await launchFirefoxPeer(['loopback.peerlane.test'], {
    resolveOthersTo: DEV_ORIGIN_ADDRESS,
  });
  await exit.setSettings(exitSettings());
  await waitFor(
    () => exit.state(),
    (state) => state.transport.signaling === 'connected' && state.access.allSites,
    'the Firefox exit online with access',
  );
  return withRequester(exit);
});
