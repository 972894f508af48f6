import { mkdir, writeFile } from 'node:fs/promises';
import { MAX_FRAME_BYTES } from '../extension/core/protocol/frames';
import { DEFAULT_SETTINGS, type Settings } from '../extension/core/settings';
import type { PopupState } from '../extension/core/channels/popup-channel';
import { startSignalingServer, type SignalingServer } from '../signaling-server/server';
import {
  backgroundState,
  launchWithExtension,
  waitFor,
  waitForRoutedScripts,
  type ExtensionBrowser,
} from '../test/helpers/chromium';
import { launchFirefoxPeer, openFirefoxExtensionPage, type FirefoxPeer } from '../test/helpers/firefox';
import {
  DEV_ORIGIN_ADDRESS,
  DEV_PRIVATE_ALLOW_LIST,
  startOriginServer,
  type OriginServer,
} from '../test/helpers/origin-server';
import {
  chromiumPage,
  fetchMBps,
  firefoxPage,
  median,
  percentile,
  rawChannelMBps,
  smallGetLatencies,
  type InPage,
} from './probes';

/**
 * `npm run bench`: in one run, on loopback, headless browsers with the built extension.
 * Chromium ↔ Chromium: raw RTCDataChannel throughput between them (the ceiling), tunnel throughput
 * for a 20 MB body (page → queue → offscreen → data channel → exit → origin and back), direct fetch
 * of the same body, and small-GET latency through the tunnel vs direct.
 * Across browsers, each direction: the raw channel from exit to requester beside the tunnel.
 * Rounds alternate and medians are reported. Exits run with the bandwidth cap lifted: the bench
 * measures the path, not the default 2 MB/s share.
 */
const BODY_BYTES = 20 * 1024 * 1024;
const ROUNDS = 3;
const SMALL_GETS = 100;

/** Exit settings for the bench: sharing on, the loopback origin's port allowed, no bandwidth cap. */
function benchExitSettings(signaling: SignalingServer, origin: OriginServer): Partial<Settings> {
  return {
    signalingUrl: signaling.url,
    share: true,
    privateAllowList: DEV_PRIVATE_ALLOW_LIST,
    exitPorts: [...DEFAULT_SETTINGS.exitPorts, origin.port],
    exitCaps: { ...DEFAULT_SETTINGS.exitCaps, rateMBps: 1_000, maxResponseMB: 64 },
  };
}

interface Throughput {
  /** Raw channel at the tunnel's frame size: the ceiling the tunnel is judged against. */
  raw: number;
  /** Raw channel at 16 KiB messages, the old frame size: what message size alone is worth. */
  raw16k: number;
  tunnel: number;
  samples: { raw: number[]; raw16k: number[]; tunnel: number[] };
}

/** Alternating rounds of raw channel (exit page → requester page, two message sizes) and tunnel (requester page fetch). */
async function throughputRounds(
  label: string,
  rawSender: InPage,
  rawReceiver: InPage,
  routed: InPage,
  url: string,
): Promise<Throughput> {
  const raw: number[] = [];
  const raw16k: number[] = [];
  const tunnel: number[] = [];
  for (let round = 0; round < ROUNDS; round += 1) {
    const kinds = ['raw', 'raw16k', 'tunnel'];
    for (const kind of round % 2 === 0 ? kinds : kinds.reverse()) {
      if (kind === 'raw')
        raw.push(await rawChannelMBps(rawSender, rawReceiver, { bytes: BODY_BYTES, messageBytes: MAX_FRAME_BYTES }));
      if (kind === 'raw16k')
        raw16k.push(await rawChannelMBps(rawSender, rawReceiver, { bytes: BODY_BYTES, messageBytes: 16 * 1024 }));
      if (kind === 'tunnel') tunnel.push(await fetchMBps(routed, url));
    }
    console.error(
      `${label} round ${round + 1}/${ROUNDS}: raw ${raw.at(-1)!.toFixed(1)} · raw 16 KiB ${raw16k.at(-1)!.toFixed(1)} · tunnel ${tunnel.at(-1)!.toFixed(1)} MB/s`,
    );
  }
  return { raw: median(raw), raw16k: median(raw16k), tunnel: median(tunnel), samples: { raw, raw16k, tunnel } };
}

const CHROMIUM_EXIT_RULES = [`MAP origin.peerlane.test ${DEV_ORIGIN_ADDRESS}`];
const CHROMIUM_REQUESTER_RULES = [
  'MAP origin.peerlane.test ~NOTFOUND',
  'MAP app.peerlane.test 127.0.0.1',
  'MAP plain.peerlane.test 127.0.0.1',
];
const PAGE_LOADS = 30;

/**
 * What the page hook costs a page: navigation start to DOMContentLoaded of the same fixture page on a
 * routed origin (hook and bridge injected) and on one that is not (plain.peerlane.test), loads
 * alternating, medians.
 */
async function hookCost(
  open: () => Promise<{
    goto(url: string): Promise<unknown>;
    evaluate(expression: string): Promise<unknown>;
    close(): Promise<void>;
  }>,
  routedUrl: string,
  plainUrl: string,
): Promise<{ routed: number; plain: number; samples: { routed: number[]; plain: number[] } }> {
  const samples = { routed: [] as number[], plain: [] as number[] };
  for (let load = 0; load < PAGE_LOADS * 2; load += 1) {
    const routedTurn = load % 2 === 0;
    const page = await open();
    await page.goto(routedTurn ? routedUrl : plainUrl);
    const ms = Number(
      await page.evaluate(
        "(() => { const entry = performance.getEntriesByType('navigation')[0]; return entry.domContentLoadedEventEnd - entry.startTime; })()",
      ),
    );
    (routedTurn ? samples.routed : samples.plain).push(ms);
    await page.close();
  }
  return { routed: median(samples.routed), plain: median(samples.plain), samples };
}

async function chromiumRequester(signaling: SignalingServer, appOrigin: string): Promise<ExtensionBrowser> {
  const requester = await launchWithExtension(CHROMIUM_REQUESTER_RULES);
  await requester.setSettings({ signalingUrl: signaling.url, routedOrigins: [appOrigin] });
  await waitForRoutedScripts(requester);
  return requester;
}

const hookRow = (name: string, cost: { routed: number; plain: number }): string =>
  `${`${name} page load with / without the hook`.padEnd(44)}${`${cost.routed.toFixed(1)} / ${cost.plain.toFixed(1)} ms`.padStart(14)}  +${(cost.routed - cost.plain).toFixed(1)} ms to DOMContentLoaded (medians of ${PAGE_LOADS})`;

/** `npm run bench -- hook`: only the page-load rows, one Chromium and one Firefox requester, no exit needed. */
async function hookOnly(): Promise<void> {
  const origin = await startOriginServer(1024);
  const appOrigin = `http://app.peerlane.test:${origin.port}`;
  const plainOrigin = `http://plain.peerlane.test:${origin.port}`;
  try {
    const requester = await launchWithExtension(CHROMIUM_REQUESTER_RULES);
    await requester.setSettings({ routedOrigins: [appOrigin] });
    await waitForRoutedScripts(requester);
    const chromiumHook = await hookCost(
      () => requester.context.newPage(),
      `${appOrigin}/app`,
      `${plainOrigin}/app`,
    ).finally(() => requester.close());
    const firefox = await launchFirefoxPeer(['app.peerlane.test', 'plain.peerlane.test']);
    await firefox.setSettings({ routedOrigins: [appOrigin] });
    await waitFor(
      async () =>
        (await firefox.control.evaluate(
          'browser.scripting.getRegisteredContentScripts().then((scripts) => scripts.length)',
        )) as number,
      (count) => count >= 2,
      'the Firefox requester registered the routed scripts',
    );
    const firefoxHook = await hookCost(
      () => firefox.browser.newPage(),
      `${appOrigin}/app`,
      `${plainOrigin}/app`,
    ).finally(() => firefox.close());
    console.log(`\nPeerlane page-hook cost (headless, loopback, loads alternating)`);
    console.log(hookRow('Chromium', chromiumHook));
    console.log(hookRow('Firefox', firefoxHook));
    await mkdir('bench/results', { recursive: true });
    const date = new Date().toISOString();
    const file = `bench/results/hook-${date.replace(/[:.]/g, '-')}.json`;
    await writeFile(
      file,
      JSON.stringify(
        { date, pageLoads: PAGE_LOADS, hookCostMs: { chromium: chromiumHook, firefox: firefoxHook } },
        null,
        2,
      ),
    );
    console.log(`\nwrote ${file}`);
  } finally {
    await origin.close();
  }
}

/** The requester's lanes to its exit, as the automatic choice made them (one on loopback), and what recovery cost. */
function lanesChosen(direction: string, state: PopupState): void {
  const exit = state.peers.find((peer) => peer.remoteRole === 'exit');
  console.error(
    `${direction}: ${exit?.lanes ?? '–'} lane(s) to the exit, ${exit ? exit.laneRecovery.asked + exit.laneRecovery.resent : '–'} messages asked for or sent again`,
  );
}

async function main(): Promise<void> {
  const origin = await startOriginServer(BODY_BYTES);
  const signaling = await startSignalingServer({ port: 0 });
  const appOrigin = `http://app.peerlane.test:${origin.port}`;
  const dataOrigin = `http://origin.peerlane.test:${origin.port}`;
  const bodyUrl = `${dataOrigin}/bytes/${BODY_BYTES}`;
  const closers: (() => Promise<unknown>)[] = [];
  try {
    // ── Chromium ↔ Chromium ──
    const exit = await launchWithExtension(CHROMIUM_EXIT_RULES);
    closers.push(() => exit.close());
    await exit.setSettings(benchExitSettings(signaling, origin));
    const requester = await chromiumRequester(signaling, appOrigin);
    closers.push(() => requester.close());
    const routedPage = await requester.context.newPage();
    await routedPage.goto(`${appOrigin}/app`);
    const directPage = await exit.context.newPage();
    await directPage.goto(`${dataOrigin}/app`);
    const exitPage = await exit.context.newPage();
    await exitPage.goto(`chrome-extension://${exit.extensionId}/extension/ui/options.html`);
    const requesterPage = await requester.context.newPage();
    await requesterPage.goto(`chrome-extension://${requester.extensionId}/extension/ui/options.html`);
    const routed = chromiumPage(routedPage);
    const direct = chromiumPage(directPage);

    await smallGetLatencies(routed, `${dataOrigin}/small.txt`, 5); // warm up: connect to the exit
    const chromium = await throughputRounds(
      'chromium→chromium',
      chromiumPage(exitPage),
      chromiumPage(requesterPage),
      routed,
      bodyUrl,
    );
    lanesChosen('chromium→chromium', await backgroundState(requester));
    const directSamples: number[] = [];
    for (let round = 0; round < ROUNDS; round += 1) directSamples.push(await fetchMBps(direct, bodyUrl));
    const tunnelLatency = await smallGetLatencies(routed, `${dataOrigin}/small.txt`, SMALL_GETS);
    const directLatency = await smallGetLatencies(direct, `${dataOrigin}/small.txt`, SMALL_GETS);
    const plainOrigin = `http://plain.peerlane.test:${origin.port}`;
    const chromiumHook = await hookCost(() => requester.context.newPage(), `${appOrigin}/app`, `${plainOrigin}/app`);
    await requester.close();
    closers.pop();

    // ── Chromium exit → Firefox requester (the exit above stays) ──
    const firefoxRequester = await launchFirefoxPeer(['app.peerlane.test', 'plain.peerlane.test']);
    closers.push(() => firefoxRequester.close());
    await firefoxRequester.setSettings({ signalingUrl: signaling.url, routedOrigins: [appOrigin] });
    await waitFor(
      async () => (await firefoxRequester.state()).stats.peers,
      (peers) => peers === 1,
      'the Firefox requester connected',
    );
    const firefoxRouted = await firefoxRequester.browser.newPage();
    await firefoxRouted.goto(`${appOrigin}/app`);
    await smallGetLatencies(firefoxPage(firefoxRouted), `${dataOrigin}/small.txt`, 5);
    const firefoxHook = await hookCost(
      () => firefoxRequester.browser.newPage(),
      `${appOrigin}/app`,
      `${plainOrigin}/app`,
    );
    const toFirefox = await throughputRounds(
      'chromium→firefox',
      chromiumPage(exitPage),
      firefoxPage(firefoxRequester.control),
      firefoxPage(firefoxRouted),
      bodyUrl,
    );
    lanesChosen('chromium→firefox', await firefoxRequester.state());
    await firefoxRequester.close();
    closers.pop();
    await exit.close();
    closers.shift();

    // ── Firefox exit → Chromium requester ──
    const firefoxExit: FirefoxPeer = await launchFirefoxPeer([], { resolveOthersTo: DEV_ORIGIN_ADDRESS });
    closers.push(() => firefoxExit.close());
    await firefoxExit.setSettings(benchExitSettings(signaling, origin));
    const requester2 = await chromiumRequester(signaling, appOrigin);
    closers.push(() => requester2.close());
    await waitFor(
      async () => (await backgroundState(requester2)).stats.peers,
      (peers) => peers === 1,
      'the Chromium requester connected to the Firefox exit',
    );
    const routed2 = await requester2.context.newPage();
    await routed2.goto(`${appOrigin}/app`);
    const requesterPage2 = await requester2.context.newPage();
    await requesterPage2.goto(`chrome-extension://${requester2.extensionId}/extension/ui/options.html`);
    await smallGetLatencies(chromiumPage(routed2), `${dataOrigin}/small.txt`, 5);
    const firefoxExitPage = await openFirefoxExtensionPage(
      firefoxExit.browser,
      `${firefoxExit.baseUrl}/extension/ui/options.html`,
      'document.readyState === "complete"',
    );
    const fromFirefox = await throughputRounds(
      'firefox→chromium',
      firefoxPage(firefoxExitPage),
      chromiumPage(requesterPage2),
      chromiumPage(routed2),
      bodyUrl,
    );
    lanesChosen('firefox→chromium', await backgroundState(requester2));

    const result = {
      date: new Date().toISOString(),
      bodyBytes: BODY_BYTES,
      rounds: ROUNDS,
      frameBytes: MAX_FRAME_BYTES,
      throughputMBps: {
        raw: chromium.raw,
        raw16k: chromium.raw16k,
        tunnel: chromium.tunnel,
        direct: median(directSamples),
        samples: { ...chromium.samples, direct: directSamples },
      },
      ratios: { tunnelVsRaw: chromium.tunnel / chromium.raw, tunnelVsDirect: chromium.tunnel / median(directSamples) },
      crossBrowserMBps: { chromiumExitToFirefox: toFirefox, firefoxExitToChromium: fromFirefox },
      hookCostMs: { chromium: chromiumHook, firefox: firefoxHook },
      smallGetMs: {
        tunnel: { p50: percentile(tunnelLatency, 0.5), p99: percentile(tunnelLatency, 0.99) },
        direct: { p50: percentile(directLatency, 0.5), p99: percentile(directLatency, 0.99) },
        addedP50: percentile(tunnelLatency, 0.5) - percentile(directLatency, 0.5),
        addedP99: percentile(tunnelLatency, 0.99) - percentile(directLatency, 0.99),
      },
    };
    const row = (name: string, value: string, note: string): string =>
      `${name.padEnd(42)}${value.padStart(14)}  ${note}`;
    const ofRaw = (t: Throughput): string =>
      `${((t.tunnel / t.raw) * 100).toFixed(0)}% of that direction's raw channel`;
    console.log(`\nPeerlane tunnel bench (loopback, headless browsers, 20 MB bodies, medians of ${ROUNDS} rounds)`);
    const kib = `${MAX_FRAME_BYTES / 1024} KiB`;
    console.log(
      row(
        `Chromium → Chromium raw channel, ${kib}`,
        `${chromium.raw.toFixed(1)} MB/s`,
        `ceiling (16 KiB messages: ${chromium.raw16k.toFixed(1)} MB/s)`,
      ),
    );
    console.log(row('Chromium → Chromium tunnel', `${chromium.tunnel.toFixed(1)} MB/s`, ofRaw(chromium)));
    console.log(
      row(
        'direct fetch',
        `${result.throughputMBps.direct.toFixed(1)} MB/s`,
        `tunnel is ${(result.ratios.tunnelVsDirect * 100).toFixed(1)}% of direct`,
      ),
    );
    console.log(
      row(
        `Chromium → Firefox raw channel, ${kib}`,
        `${toFirefox.raw.toFixed(1)} MB/s`,
        `ceiling of this direction (16 KiB: ${toFirefox.raw16k.toFixed(1)} MB/s)`,
      ),
    );
    console.log(
      row('Chromium exit → Firefox requester tunnel', `${toFirefox.tunnel.toFixed(1)} MB/s`, ofRaw(toFirefox)),
    );
    console.log(
      row(
        `Firefox → Chromium raw channel, ${kib}`,
        `${fromFirefox.raw.toFixed(1)} MB/s`,
        `ceiling of this direction (16 KiB: ${fromFirefox.raw16k.toFixed(1)} MB/s)`,
      ),
    );
    console.log(
      row('Firefox exit → Chromium requester tunnel', `${fromFirefox.tunnel.toFixed(1)} MB/s`, ofRaw(fromFirefox)),
    );
    console.log(
      row(
        'small GET p50 tunnel / direct',
        `${result.smallGetMs.tunnel.p50.toFixed(1)} / ${result.smallGetMs.direct.p50.toFixed(1)} ms`,
        `+${result.smallGetMs.addedP50.toFixed(1)} ms`,
      ),
    );
    console.log(
      row(
        'small GET p99 tunnel / direct',
        `${result.smallGetMs.tunnel.p99.toFixed(1)} / ${result.smallGetMs.direct.p99.toFixed(1)} ms`,
        `+${result.smallGetMs.addedP99.toFixed(1)} ms`,
      ),
    );
    console.log(hookRow('Chromium', chromiumHook));
    console.log(hookRow('Firefox', firefoxHook));
    await mkdir('bench/results', { recursive: true });
    const file = `bench/results/tunnel-${result.date.replace(/[:.]/g, '-')}.json`;
    await writeFile(file, JSON.stringify(result, null, 2));
    console.log(`\nwrote ${file}`);
  } finally {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    await signaling.close();
    await origin.close();
  }
}

await (process.argv.includes('hook') ? hookOnly() : main());
