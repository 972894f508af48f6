import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { MAX_FRAME_BYTES } from '../extension/core/protocol/frames';
import { DEFAULT_SETTINGS } from '../extension/core/settings';
import { backgroundState, launchWithExtension, waitFor, waitForRoutedScripts, type ExtensionBrowser } from '../test/helpers/chromium';
import { DEV_ORIGIN_ADDRESS, DEV_PRIVATE_ALLOW_LIST } from '../test/helpers/origin-server';
import { outputMatch } from '../test/helpers/child-output';
import { createWanLink, DEFAULT_RATE_MBIT, FAR_ADDRESS, type WanLink, type WanPath } from '../test/helpers/wan-link';
import { chromiumPage, fetchMBps, median, rawChannelMBps, smallGetLatencies, type InPage } from './probes';

/**
 * `npm run bench:wan`: the tunnel over emulated network paths (test/helpers/wan-link.ts). The
 * requester's browser sits in one network namespace, the exit's browser, the origin and the
 * signaling server in another; every byte between them crosses a link with a set delay and loss.
 * Per path, side by side: TCP over the same link (curl: the link's capacity), one raw data channel,
 * raw channels over several peer connections, the tunnel with one 20 MB GET and with 8 concurrent
 * 2 MB GETs, and the small-GET latency added over one round trip. Transfers are bounded in time
 * (TRANSFER_MS): on a slow path the rate counts what arrived. Paths: PEERLANE_WAN_PATHS
 * ("oneWayDelayMs/loss[/rateMbit],...") or the default set below, each at DEFAULT_RATE_MBIT unless
 * given. The spread between rounds is large on this 2-core machine (a stalled association can drop
 * one transfer to a tenth), so rounds alternate and medians are reported, with every sample in the JSON.
 */
const BODY_BYTES = 20 * 1024 * 1024;
const CONCURRENT = 8;
const TRANSFER_MS = Number(process.env.PEERLANE_WAN_TRANSFER_MS ?? 20_000);
const SMALL_GETS = 20;
const ROUNDS = Number(process.env.PEERLANE_WAN_ROUNDS ?? 3);
const STRIPES = [4, 8];
/** The tunnel with this many peer connections per exit (`lanesPerExit`), side by side. */
const LANES = [1, 4, 8];
const DEFAULT_PATHS: WanPath[] = [
  { oneWayDelayMs: 0, loss: 0 },
  { oneWayDelayMs: 10, loss: 0 },
  { oneWayDelayMs: 25, loss: 0 },
  { oneWayDelayMs: 75, loss: 0 },
  { oneWayDelayMs: 0, loss: 0.01 },
  { oneWayDelayMs: 10, loss: 0.01 },
  { oneWayDelayMs: 25, loss: 0.01 },
  { oneWayDelayMs: 75, loss: 0.01 },
];
const paths: WanPath[] = process.env.PEERLANE_WAN_PATHS
  ? process.env.PEERLANE_WAN_PATHS.split(',').map((text) => {
      const [delay = '0', loss = '0', rate = String(DEFAULT_RATE_MBIT)] = text.split('/');
      return { oneWayDelayMs: Number(delay), loss: Number(loss), rateMbit: Number(rate) };
    })
  : DEFAULT_PATHS;

interface Lab {
  link: WanLink;
  originPort: number;
  requester: ExtensionBrowser;
  exit: ExtensionBrowser;
  close(): Promise<void>;
}

async function startLab(path: WanPath): Promise<Lab> {
  const link = await createWanLink(path);
  const browsers: ExtensionBrowser[] = [];
  const close = async (): Promise<void> => {
    for (const browser of browsers) await browser.close().catch(() => undefined);
    await link.close();
  };
  try {
    const far = link.spawnIn(link.far, process.execPath, ['--import', 'tsx', 'test/helpers/far-side-main.ts', String(BODY_BYTES)]);
    const { originPort, signalingUrl } = JSON.parse((await outputMatch(far, /^\{.*\}$/m, 'the far side servers'))[0]) as { originPort: number; signalingUrl: string };
    const exit = await launchWithExtension([`MAP origin.peerlane.test ${DEV_ORIGIN_ADDRESS}`], [], undefined, await link.wrapper(link.far, '/usr/bin/chromium'));
    browsers.push(exit);
    await exit.setSettings({
      signalingUrl,
      share: true,
      stunServers: [],
      privateAllowList: DEV_PRIVATE_ALLOW_LIST,
      exitPorts: [...DEFAULT_SETTINGS.exitPorts, originPort],
      exitCaps: { ...DEFAULT_SETTINGS.exitCaps, rateMBps: 1_000, maxResponseMB: 64 },
    });
    // The requester cannot resolve the origin: whatever it gets came through the exit.
    const requester = await launchWithExtension(['MAP origin.peerlane.test ~NOTFOUND', `MAP app.peerlane.test ${FAR_ADDRESS}`], [], undefined, await link.wrapper(link.near, '/usr/bin/chromium'));
    browsers.push(requester);
    await requester.setSettings({ signalingUrl, stunServers: [], routedOrigins: [`http://app.peerlane.test:${originPort}`] });
    await waitForRoutedScripts(requester);
    await waitFor(async () => (await backgroundState(requester)).stats.peers, (peers) => peers === 1, 'the requester connected to the exit over the link', 60_000);
    return { link, originPort, requester, exit, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Reconnects the requester to the exit with `lanes` peer connections (the exit drops its requesters when sharing goes off and on). */
async function useLanes(lab: Lab, lanes: number): Promise<void> {
  await lab.requester.setSettings({ lanesPerExit: lanes });
  await lab.exit.setSettings({ share: false });
  await waitFor(async () => (await backgroundState(lab.requester)).stats.peers, (peers) => peers === 0, 'the exit dropped the requester');
  await lab.exit.setSettings({ share: true });
  await waitFor(async () => (await backgroundState(lab.requester)).stats.peers, (peers) => peers === 1, `the requester reconnected with ${lanes} lanes`, 60_000);
}

async function extensionPage(browser: ExtensionBrowser): Promise<InPage> {
  const page = await browser.context.newPage();
  await page.goto(`chrome-extension://${browser.extensionId}/extension/ui/options.html`);
  return chromiumPage(page);
}

/** TCP over the same link: curl from the near side to the origin on the far side. */
function tcpMBps(link: WanLink, port: number): number {
  const out = execFileSync('ip', ['netns', 'exec', link.near, 'curl', '-s', '-o', '/dev/null', '--max-time', String(TRANSFER_MS / 1000), '-w', '%{size_download} %{time_total}', `http://${FAR_ADDRESS}:${port}/bytes/${BODY_BYTES}`], { encoding: 'utf8' }).trim();
  const [size = '0', seconds = '1'] = out.split(' ');
  return Number(size) / 1e6 / Number(seconds);
}

interface Row {
  path: WanPath;
  rttMs: number;
  tcp: number;
  raw: number;
  striped: Record<number, number>;
  /** By lanes per exit. */
  tunnel: Record<number, number>;
  tunnelConcurrent: Record<number, number>;
  smallGetMs: { p50: number; added: number };
  samples: Record<string, number[]>;
  udpReceiveDrops?: { near: number; far: number };
}

async function measure(path: WanPath): Promise<Row> {
  console.error(`path: ${path.oneWayDelayMs} ms one way, ${(path.loss * 100).toFixed(1)} % loss`);
  const lab = await startLab(path);
  try {
    const exitPage = await extensionPage(lab.exit);
    const requesterPage = await extensionPage(lab.requester);
    const routedPage = await lab.requester.context.newPage();
    const appOrigin = `http://app.peerlane.test:${lab.originPort}`;
    const data = `http://origin.peerlane.test:${lab.originPort}`;
    await routedPage.goto(`${appOrigin}/app`);
    const routed = chromiumPage(routedPage);
    // The round trip as the page sees it: a small GET through the tunnel is one round trip to the exit plus the exit's fetch.
    const pingMs = median(await smallGetLatencies(routed, `${data}/small.txt`, 5));
    // Rounds alternate the order of the transfers; each figure is the median of its rounds.
    const samples: Record<string, number[]> = { tcp: [], raw: [], ...Object.fromEntries([...STRIPES.map((n) => `raw${n}`), ...LANES.flatMap((n) => [`tunnel${n}`, `tunnelConcurrent${n}`])].map((name) => [name, []])) };
    const transfers: [string, () => Promise<number>][] = [
      ['tcp', async () => tcpMBps(lab.link, lab.originPort)],
      ['raw', () => rawChannelMBps(exitPage, requesterPage, { bytes: BODY_BYTES, messageBytes: MAX_FRAME_BYTES, deadlineMs: TRANSFER_MS })],
      ...STRIPES.map((connections): [string, () => Promise<number>] => [`raw${connections}`, () => rawChannelMBps(exitPage, requesterPage, { bytes: BODY_BYTES, messageBytes: MAX_FRAME_BYTES, connections, deadlineMs: TRANSFER_MS })]),
      ...LANES.map((lanes): [string, () => Promise<number>] => [
        `tunnel${lanes}`,
        async () => {
          await useLanes(lab, lanes);
          const one = await fetchMBps(routed, `${data}/bytes/${BODY_BYTES}`, 1, TRANSFER_MS);
          samples[`tunnelConcurrent${lanes}`]!.push(await fetchMBps(routed, `${data}/bytes/${BODY_BYTES / 10}`, CONCURRENT, TRANSFER_MS));
          return one;
        },
      ]),
    ];
    for (let round = 0; round < ROUNDS; round += 1) {
      for (const [name, run] of round % 2 === 0 ? transfers : [...transfers].reverse()) samples[name]!.push(await run());
      console.error(`  round ${round + 1}/${ROUNDS}: ${Object.entries(samples).map(([name, values]) => `${name} ${values.at(-1)!.toFixed(2)}`).join(' · ')} MB/s`);
    }
    const tcp = median(samples.tcp!);
    const raw = median(samples.raw!);
    const striped: Record<number, number> = Object.fromEntries(STRIPES.map((n) => [n, median(samples[`raw${n}`]!)]));
    const tunnel: Record<number, number> = Object.fromEntries(LANES.map((n) => [n, median(samples[`tunnel${n}`]!)]));
    const tunnelConcurrent: Record<number, number> = Object.fromEntries(LANES.map((n) => [n, median(samples[`tunnelConcurrent${n}`]!)]));
    const latencies = await smallGetLatencies(routed, `${data}/small.txt`, SMALL_GETS);
    const rttMs = 2 * path.oneWayDelayMs;
    const p50 = median(latencies);
    const row: Row = { path, rttMs, tcp, raw, striped, tunnel, tunnelConcurrent, smallGetMs: { p50, added: p50 - rttMs }, samples };
    console.error(`  small GET p50 ${p50.toFixed(1)} ms (warm-up ${pingMs.toFixed(1)})`);
    // What the receivers' UDP sockets dropped (a browser too slow to drain them): the path's own losses are apart.
    const udpDrops = [lab.link.near, lab.link.far].map((ns) => Number(/UdpRcvbufErrors\s+(\d+)/.exec(execFileSync('ip', ['netns', 'exec', ns, 'nstat', '-az', 'UdpRcvbufErrors'], { encoding: 'utf8' }))?.[1] ?? NaN));
    row.udpReceiveDrops = { near: udpDrops[0]!, far: udpDrops[1]! };
    console.error(`  UDP receive-buffer drops: requester side ${udpDrops[0]}, exit side ${udpDrops[1]}`);
    return row;
  } finally {
    await lab.close();
  }
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  for (const path of paths) rows.push(await measure(path));
  const pct = (value: number, of: number): string => `${((value / of) * 100).toFixed(0)}%`.padStart(5);
  console.log(`\nPeerlane over emulated paths (Chromium requester and exit in separate namespaces; MB/s; transfers bounded at ${TRANSFER_MS / 1000} s; medians of ${ROUNDS} rounds; % of TCP over the same link)`);
  console.log(['RTT ms', 'loss', 'TCP', 'raw ch', ...STRIPES.map((n) => `raw ×${n} PC`), ...LANES.flatMap((n) => [`20MB ${n} lane`, `${CONCURRENT}×2MB ${n} l`]), 'small GET +ms'].map((cell) => cell.padStart(13)).join(''));
  for (const row of rows) {
    console.log(
      [
        String(row.rttMs),
        `${(row.path.loss * 100).toFixed(0)}%`,
        row.tcp.toFixed(1),
        `${row.raw.toFixed(2)} ${pct(row.raw, row.tcp)}`,
        ...STRIPES.map((n) => `${row.striped[n]!.toFixed(2)} ${pct(row.striped[n]!, row.tcp)}`),
        ...LANES.flatMap((n) => [`${row.tunnel[n]!.toFixed(2)} ${pct(row.tunnel[n]!, row.tcp)}`, `${row.tunnelConcurrent[n]!.toFixed(2)} ${pct(row.tunnelConcurrent[n]!, row.tcp)}`]),
        row.smallGetMs.added.toFixed(1),
      ]
        .map((cell) => cell.padStart(13))
        .join(''),
    );
  }
  await mkdir('bench/results', { recursive: true });
  const date = new Date().toISOString();
  const file = `bench/results/wan-${date.replace(/[:.]/g, '-')}.json`;
  await writeFile(file, JSON.stringify({ date, bodyBytes: BODY_BYTES, transferMs: TRANSFER_MS, frameBytes: MAX_FRAME_BYTES, rows }, null, 2));
  console.log(`\nwrote ${file}`);
}

await main();
