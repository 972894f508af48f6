import { execFileSync } from 'node:child_process';
import { DEFAULT_SETTINGS, type Settings } from '../extension/core/settings';
import type { PopupState } from '../extension/core/channels/popup-channel';
import { backgroundState, launchWithExtension, waitFor, waitForRoutedScripts } from '../test/helpers/chromium';
import { launchFirefoxPeer, openFirefoxExtensionPage } from '../test/helpers/firefox';
import { DEV_ORIGIN_ADDRESS, DEV_PRIVATE_ALLOW_LIST } from '../test/helpers/origin-server';
import { outputMatch } from '../test/helpers/child-output';
import { createWanLink, FAR_ADDRESS, type WanLink, type WanPath } from '../test/helpers/wan-link';
import { chromiumPage, firefoxPage, type InPage } from './probes';

/**
 * The emulated lab the WAN benches share (test/helpers/wan-link.ts): the requester's browser in one
 * network namespace; the exit's browser, the origin, the signaling server and the exit's resolver in
 * the other; every byte between them crosses the link. Used by bench:wan and bench:page.
 */
export type BrowserKind = 'chromium' | 'firefox';
export interface Pair {
  requester: BrowserKind;
  exit: BrowserKind;
}
/** One side's browser with the extension, whichever kind. */
export interface LabPeer {
  setSettings(settings: Partial<Settings>): Promise<void>;
  state(): Promise<PopupState>;
  peers(): Promise<number>;
  /** An extension page (raw channel probes run there). */
  extensionPage(): Promise<InPage>;
  /** A page at `url`, loaded directly (a routed page's document is not routed). */
  page(url: string): Promise<InPage>;
  close(): Promise<void>;
}

/**
 * A browser inside `ns`. The exit resolves the origin's name to its loopback address; the requester
 * resolves the app's name to the far side, and in Chromium cannot resolve the origin at all (what it
 * gets came through the exit). Firefox has no per-name mapping to another address, so a Firefox
 * requester resolves every name to the far side: its routed requests still go through the exit (the
 * page hook sends them there), the bench just does not prove it.
 */
async function launchIn(link: WanLink, ns: string, kind: BrowserKind, role: 'requester' | 'exit'): Promise<LabPeer> {
  if (kind === 'chromium') {
    const rules =
      role === 'exit'
        ? [`MAP origin.peerlane.test ${DEV_ORIGIN_ADDRESS}`]
        : [
            'MAP origin.peerlane.test ~NOTFOUND',
            `MAP app.peerlane.test ${FAR_ADDRESS}`,
            // The same origin server, reached by the browser itself over the link (bench:page's direct loads).
            `MAP direct.peerlane.test ${FAR_ADDRESS}`,
          ];
    const browser = await launchWithExtension(rules, [], undefined, await link.wrapper(ns, '/usr/bin/chromium'));
    const page = async (url: string): Promise<InPage> => {
      const opened = await browser.context.newPage();
      await opened.goto(url);
      return chromiumPage(opened);
    };
    return {
      setSettings: async (settings) => {
        await browser.setSettings(settings);
        if (settings.routedOrigins) await waitForRoutedScripts(browser);
      },
      state: () => backgroundState(browser),
      peers: async () => (await backgroundState(browser)).stats.peers,
      extensionPage: () => page(`chrome-extension://${browser.extensionId}/extension/ui/options.html`),
      page,
      close: () => browser.close(),
    };
  }
  const debuggingPort = 20_000 + Math.floor(Math.random() * 20_000);
  await link.carryPortOut(ns, debuggingPort);
  // Firefox's forced address applies to IP literals too (the far side's signaling URL), so a Firefox
  // exit resolves everything to the far side's own address, where the origin also listens.
  const peer = await launchFirefoxPeer([], {
    resolveOthersTo: FAR_ADDRESS,
    inNamespace: { executablePath: await link.wrapper(ns, '/usr/bin/firefox-esr'), debuggingPort },
  });
  return {
    setSettings: (settings) => peer.setSettings(settings),
    state: () => peer.state(),
    peers: async () => (await peer.state()).stats.peers,
    extensionPage: async () =>
      firefoxPage(
        await openFirefoxExtensionPage(
          peer.browser,
          `${peer.baseUrl}/extension/ui/options.html`,
          'document.readyState === "complete"',
        ),
      ),
    page: async (url) => {
      const opened = await peer.browser.newPage();
      await opened.goto(url);
      return firefoxPage(opened);
    },
    close: () => peer.close(),
  };
}

export interface Lab {
  link: WanLink;
  originPort: number;
  requester: LabPeer;
  exit: LabPeer;
  close(): Promise<void>;
}

export async function startLab(path: WanPath, pair: Pair, bigBytes: number): Promise<Lab> {
  const link = await createWanLink(path);
  const browsers: LabPeer[] = [];
  const close = async (): Promise<void> => {
    for (const browser of browsers) await browser.close().catch(() => undefined);
    await link.close();
  };
  try {
    const far = link.spawnIn(link.far, process.execPath, [
      '--import',
      'tsx',
      'test/helpers/far-side-main.ts',
      String(bigBytes),
    ]);
    const { originPort, signalingUrl, exitResolver } = JSON.parse(
      (await outputMatch(far, /^\{.*\}$/m, 'the far side servers'))[0],
    ) as { originPort: number; signalingUrl: string; exitResolver: string };
    const exit = await launchIn(link, link.far, pair.exit, 'exit');
    browsers.push(exit);
    await exit.setSettings({
      signalingUrl,
      exitResolver,
      share: true,
      stunServers: [],
      privateAllowList:
        pair.exit === 'firefox' ? [...DEV_PRIVATE_ALLOW_LIST, `${FAR_ADDRESS}/32`] : DEV_PRIVATE_ALLOW_LIST,
      exitPorts: [...DEFAULT_SETTINGS.exitPorts, originPort],
      exitCaps: { ...DEFAULT_SETTINGS.exitCaps, rateMBps: 1_000, maxResponseMB: 64 },
    });
    const requester = await launchIn(link, link.near, pair.requester, 'requester');
    browsers.push(requester);
    await requester.setSettings({
      signalingUrl,
      stunServers: [],
      routedOrigins: [`http://app.peerlane.test:${originPort}`],
    });
    await waitFor(
      () => requester.peers(),
      (peers) => peers === 1,
      'the requester connected to the exit over the link',
      60_000,
    );
    return { link, originPort, requester, exit, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Reconnects the requester to the exit with `lanes` peer connections (the exit drops its requesters when sharing goes off and on). */
export async function useLanes(lab: Lab, lanes: number): Promise<void> {
  // Fixed: the rows compare lane counts (the automatic choice would open them all on every path but the 0 ms one).
  await lab.requester.setSettings({ lanesPerExit: lanes, autoLanes: false });
  await lab.exit.setSettings({ share: false });
  await waitFor(
    () => lab.requester.peers(),
    (peers) => peers === 0,
    'the exit dropped the requester',
  );
  await lab.exit.setSettings({ share: true });
  await waitFor(
    () => lab.requester.peers(),
    (peers) => peers === 1,
    `the requester reconnected with ${lanes} lanes`,
    60_000,
  );
}

/** TCP over the same link: curl from the near side to the origin on the far side. */
export function tcpMBps(link: WanLink, port: number, bytes: number, maxMs: number): number {
  const out = execFileSync(
    'ip',
    [
      'netns',
      'exec',
      link.near,
      'curl',
      '-s',
      '-o',
      '/dev/null',
      '--max-time',
      String(maxMs / 1000),
      '-w',
      '%{size_download} %{time_total}',
      `http://${FAR_ADDRESS}:${port}/bytes/${bytes}`,
    ],
    { encoding: 'utf8' },
  ).trim();
  const [size = '0', seconds = '1'] = out.split(' ');
  return Number(size) / 1e6 / Number(seconds);
}
