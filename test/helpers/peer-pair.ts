import type { Page } from 'playwright-core';
import type { SignalingServer } from '../../signaling-server/server';
import { backgroundState, launchWithExtension, waitFor, waitForRoutedScripts, type ExtensionBrowser } from './chromium';
import { DEV_ORIGIN_ADDRESS, type OriginOptions, type OriginServer } from './origin-server';
import { REQUESTER_HOST_RULES, startStage } from './stage';

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
  const stage = await startStage(originOptions);
  const { origin, signaling, appOrigin, dataOrigin } = stage;
  const exit = await launchWithExtension([`MAP origin.peerlane.test ${DEV_ORIGIN_ADDRESS}`]);
  // Loopback origin on a random port: a development exit, with that port allowed.
  await exit.setSettings(stage.exitSettings());
  const requester = await launchWithExtension(REQUESTER_HOST_RULES);
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
      await stage.close();
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
