import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS } from '../../extension/core/settings';
import { startSignalingServer, type SignalingServer } from '../../signaling-server/server';
import {
  backgroundState,
  launchWithExtension,
  waitFor,
  waitForRoutedScripts,
  type ExtensionBrowser,
} from '../helpers/chromium';
import { startCoturn, type Coturn } from '../helpers/coturn';
import {
  SMALL_TEXT,
  startOriginServer,
  type OriginServer,
  DEV_ORIGIN_ADDRESS,
  DEV_PRIVATE_ALLOW_LIST,
} from '../helpers/origin-server';
import { closeAll } from '../helpers/close-all';

/**
 * A data channel through TURN: coturn on loopback with a shared secret, the signaling server handing
 * out time-limited credentials for it, and both browsers set to "relay only" (iceTransportPolicy
 * 'relay'), so the only candidates either side may use are coturn's relay addresses.
 */
let origin: OriginServer;
let coturn: Coturn;
let signaling: SignalingServer;
let exit: ExtensionBrowser;
let requester: ExtensionBrowser;

beforeAll(async () => {
  origin = await startOriginServer();
  coturn = await startCoturn();
  signaling = await startSignalingServer({
    port: 0,
    ice: { stunUrls: [], turn: { secret: coturn.secret, urls: [coturn.url], ttlSeconds: 600 } },
  });
}, 30_000);

afterAll(async () => {
  await closeAll(requester, exit, signaling, coturn, origin);
});

describe('TURN relay', () => {
  it('with relay-only on both sides, a routed request travels through coturn', async () => {
    const appOrigin = `http://app.peerlane.test:${origin.port}`;
    exit = await launchWithExtension([`MAP origin.peerlane.test ${DEV_ORIGIN_ADDRESS}`]);
    await exit.setSettings({
      signalingUrl: signaling.url,
      relayOnly: true,
      share: true,
      privateAllowList: DEV_PRIVATE_ALLOW_LIST,
      exitPorts: [...DEFAULT_SETTINGS.exitPorts, origin.port],
    });
    requester = await launchWithExtension(['MAP origin.peerlane.test ~NOTFOUND', 'MAP app.peerlane.test 127.0.0.1']);
    await requester.setSettings({ signalingUrl: signaling.url, relayOnly: true, routedOrigins: [appOrigin] });
    await waitForRoutedScripts(requester);
    await waitFor(
      async () => (await backgroundState(requester)).stats.peers,
      (peers) => peers === 1,
      'a data channel through the relay',
      30_000,
    );

    const page = await requester.context.newPage();
    await page.goto(`${appOrigin}/app`);
    const text = await page.evaluate(
      async (url) => (await fetch(url)).text(),
      `http://origin.peerlane.test:${origin.port}/small.txt`,
    );
    expect(text).toBe(SMALL_TEXT);
    // The connection's selected candidate pair is relayed, as each side's ICE statistics say.
    for (const browser of [requester, exit]) {
      expect((await backgroundState(browser)).peers.map((peer) => peer.path)).toEqual(['relayed']);
    }
    // coturn authenticated both browsers with the signaling server's credentials and relayed for them.
    const log = coturn.log();
    expect(log).toMatch(/ALLOCATE processed, success/);
    expect(log).toMatch(/user <\d+:[A-Za-z0-9_-]+>/);
    expect(log).toMatch(/CREATE_PERMISSION processed, success|CHANNEL_BIND processed, success/);
  }, 90_000);
});
