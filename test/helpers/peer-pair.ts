import type { Page } from 'playwright-core';
import { DEFAULT_SETTINGS } from '../../extension/core/settings';
import { startSignalingServer, type SignalingServer } from '../../signaling-server/server';
import { backgroundState, launchWithExtension, waitFor, waitForRoutedScripts, type ExtensionBrowser } from './chromium';
import {
  startOriginServer,
  type OriginOptions,
  type OriginServer,
  DEV_ORIGIN_ADDRESS,
  DEV_PRIVATE_ALLOW_LIST,
} from './origin-server';

/**
 * The usual cast of an e2e story: a loopback origin, a signaling server, an exit that shares (and
 * alone can resolve the origin's name) and a requester that routes the app origin, connected.
 */
export interface PeerPair {
  origin: OriginServer;
  signaling: SignalingServer;
  exit: ExtensionBrowser;
  requester: ExtensionBrowser;
  appOrigin: string;
  dataOrigin: string;
  close(): Promise<void>;
}

export async function startPeerPair(originOptions: OriginOptions = {}): Promise<PeerPair> {
  const origin = await startOriginServer(originOptions);
  const signaling = await startSignalingServer({ port: 0 });
  const appOrigin = `http://app.peerlane.test:${origin.port}`;
  const dataOrigin = `http://origin.peerlane.test:${origin.port}`;
  const exit = await launchWithExtension([`MAP origin.peerlane.test ${DEV_ORIGIN_ADDRESS}`]);
  // Loopback origin on a random port: a development exit, with that port allowed.
  await exit.setSettings({
    signalingUrl: signaling.url,
    share: true,
    privateAllowList: DEV_PRIVATE_ALLOW_LIST,
    exitPorts: [...DEFAULT_SETTINGS.exitPorts, origin.port],
  });
  const requester = await launchWithExtension([
    'MAP origin.peerlane.test ~NOTFOUND',
    'MAP app.peerlane.test 127.0.0.1',
  ]);
  await requester.setSettings({ signalingUrl: signaling.url, routedOrigins: [appOrigin] });
  await waitForRoutedScripts(requester);
  await waitFor(
    async () => (await backgroundState(requester)).stats.peers,
    (peers) => peers === 1,
    'one exit peer',
  );
  return {
    origin,
    signaling,
    exit,
    requester,
    appOrigin,
    dataOrigin,
    close: async () => {
      await requester.close();
      await exit.close();
      await signaling.close();
      await origin.close();
    },
  };
}

/**
 * A Chromium requester for an exit already sharing: it routes `appOrigin`, is connected to one exit,
 * and has the app's page open. `hostRules` map the names it must not resolve itself (what arrives
 * through them came through the exit) and the app's. Closing closes it and `exit`.
 */
export async function routedRequesterFor(
  exit: { close(): Promise<void> },
  signalingUrl: string,
  appOrigin: string,
  hostRules: string[],
): Promise<{ requester: ExtensionBrowser; page: Page; close(): Promise<void> }> {
  const requester = await launchWithExtension(hostRules);
  await requester.setSettings({ signalingUrl, routedOrigins: [appOrigin] });
  await waitForRoutedScripts(requester);
  await waitFor(
    async () => (await backgroundState(requester)).stats.peers,
    (peers) => peers === 1,
    'the requester connected to the exit',
  );
  const page = await requester.context.newPage();
  await page.goto(`${appOrigin}/app`);
  return {
    requester,
    page,
    close: async () => {
      await requester.close();
      await exit.close();
    },
  };
}
