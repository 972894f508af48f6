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
import { launchFirefoxPeer, type FirefoxPeer } from '../helpers/firefox';
import {
  DEV_ORIGIN_ADDRESS,
  DEV_PRIVATE_ALLOW_LIST,
  SMALL_TEXT,
  startOriginServer,
  type OriginServer,
} from '../helpers/origin-server';
import { selfSignedCertificate, type SelfSigned } from '../helpers/self-signed';
import { closeAll } from '../helpers/close-all';

/**
 * Signaling over wss:// served by the server itself, with a self-signed certificate the browsers
 * under test trust (Chromium by the certificate's SPKI hash, Firefox by its session's
 * acceptInsecureCerts): a Firefox exit and a Chromium requester meet there and a routed request goes
 * through.
 */
let tls: SelfSigned;
let signaling: SignalingServer;
let origin: OriginServer;
let exit: FirefoxPeer;
let requester: ExtensionBrowser;

beforeAll(async () => {
  tls = selfSignedCertificate();
  signaling = await startSignalingServer({ port: 0, tls: { cert: tls.cert, key: tls.key } });
  origin = await startOriginServer();
}, 30_000);

afterAll(async () => {
  await closeAll(requester, exit, signaling, origin, tls);
});

describe('signaling over TLS', () => {
  it('a Firefox exit and a Chromium requester meet over wss:// and route a request', async () => {
    expect(signaling.url).toMatch(/^wss:\/\//);
    exit = await launchFirefoxPeer([], { resolveOthersTo: DEV_ORIGIN_ADDRESS, acceptInsecureCerts: true });
    await exit.setSettings({
      signalingUrl: signaling.url,
      share: true,
      privateAllowList: DEV_PRIVATE_ALLOW_LIST,
      exitPorts: [...DEFAULT_SETTINGS.exitPorts, origin.port],
    });
    await waitFor(
      () => exit.state(),
      (state) => state.transport.signaling === 'connected',
      'the Firefox exit connected over wss://',
    );
    const appOrigin = `http://app.peerlane.test:${origin.port}`;
    requester = await launchWithExtension(
      ['MAP origin.peerlane.test ~NOTFOUND', 'MAP app.peerlane.test 127.0.0.1'],
      [`--ignore-certificate-errors-spki-list=${tls.spkiSha256}`],
    );
    await requester.setSettings({ signalingUrl: signaling.url, routedOrigins: [appOrigin] });
    await waitForRoutedScripts(requester);
    await waitFor(
      async () => (await backgroundState(requester)).stats.peers,
      (peers) => peers === 1,
      'the Chromium requester connected to the exit over wss://',
    );
    const page = await requester.context.newPage();
    await page.goto(`${appOrigin}/app`);
    const text = await page.evaluate(
      async (url) => (await fetch(url)).text(),
      `http://origin.peerlane.test:${origin.port}/small.txt?tls`,
    );
    expect(text).toBe(SMALL_TEXT);
    expect(
      origin.requests.filter((request) => request.path === '/small.txt?tls').map((request) => request.address),
    ).toEqual([DEV_ORIGIN_ADDRESS]);
    await page.close();
  }, 90_000);

  it('a browser that does not trust the certificate never connects', async () => {
    const stranger = await launchWithExtension([]);
    try {
      await stranger.setSettings({ signalingUrl: signaling.url });
      // It keeps trying (with backoff) and never connects: judged after several attempts' worth of time.
      const states = new Set<string>();
      const deadline = Date.now() + 4_000;
      while (Date.now() < deadline) {
        states.add((await backgroundState(stranger)).transport.signaling);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      expect(states.has('connected')).toBe(false);
      expect(signaling.peerCount()).toBe(2);
    } finally {
      await stranger.close();
    }
  }, 60_000);
});
