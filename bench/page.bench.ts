import { mkdir, writeFile } from 'node:fs/promises';
import type { WanPath } from '../test/helpers/wan-link';
import { fetchMBps, median, percentile, type InPage } from './probes';
import { startLab, tcpMBps, type Lab } from './wan-lab';

/**
 * `npm run bench:page`: a page as web apps load them, over the emulated lab (bench/wan-lab.ts),
 * loaded by the requester's Chromium directly over the link and routed through a Chromium exit on
 * the far side, side by side, rounds alternating. The page: two 2 MiB downloads from the start and
 * 50 small requests (2–60 KiB, log-uniform, so most are small: the shape of a page's scripts,
 * styles, images and API calls), at most 6 small ones at a time. Every resource is cacheable for an hour
 * with a strong ETag, and each round's URLs are new (no cache helps its first load). After each load the same
 * page loads again at once: the returning visit, the browser's cache direct against Peerlane's routed.
 * Per path: page completion routed/direct, small-request p50/p99 while the downloads
 * run, failures, lanes. Then one 20 MiB GET with default settings against TCP (curl) over 50 ms/1 %.
 * PEERLANE_PAGE_ROUNDS (default 5), PEERLANE_PAGE_PATHS ("rttMs/loss,..."), PEERLANE_PAGE_BULK_ROUNDS (3).
 */
const LARGE_BYTES = 2 * 1024 * 1024;
const LARGE_COUNT = 2;
const SMALL_COUNT = 50;
const SMALL_AT_ONCE = 6;
const PAGE_DEADLINE_MS = 120_000;
const BULK_BYTES = 20 * 1024 * 1024;
const BULK_DEADLINE_MS = 40_000;
const ROUNDS = Number(process.env.PEERLANE_PAGE_ROUNDS ?? 5);
const BULK_ROUNDS = Number(process.env.PEERLANE_PAGE_BULK_ROUNDS ?? 3);

interface PagePath {
  rttMs: number;
  loss: number;
}
const PATHS: PagePath[] = (process.env.PEERLANE_PAGE_PATHS ?? '50/0,50/0.01,150/0.01,20/0.03')
  .split(',')
  .map((text) => {
    const [rtt = '50', loss = '0'] = text.split('/');
    return { rttMs: Number(rtt), loss: Number(loss) };
  });
const BULK_PATH = '50/0.01';
const label = (path: PagePath): string => `${path.rttMs} ms/${Math.round(path.loss * 100)} %`;

/** 2–60 KiB, log-uniform, in a fixed order (the same page every round and path). */
const SMALL_SIZES = Array.from({ length: SMALL_COUNT }, (_, index) => {
  const spread = ((index * 37) % SMALL_COUNT) / (SMALL_COUNT - 1);
  return Math.round(2048 * Math.pow(30, spread));
});

interface PageLoad {
  completionMs: number;
  smallMs: number[];
  failures: string[];
}

/** Loads the page's resources from `base` in the page; every URL carries `tag`, so none repeats. */
function loadPage(page: InPage, base: string, tag: string): Promise<PageLoad> {
  return page.evaluate(
    async ({ base, tag, sizes, large, largeCount, atOnce, deadline }) => {
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), deadline);
      const failures: string[] = [];
      const fetchAll = async (url: string, expected: number): Promise<void> => {
        try {
          const response = await fetch(url, { signal: controller.signal });
          const body = await response.arrayBuffer();
          if (response.status !== 200 || body.byteLength !== expected)
            failures.push(`${url}: ${response.status}, ${body.byteLength} of ${expected} bytes`);
        } catch (error) {
          failures.push(`${url}: ${String(error)}`);
        }
      };
      const started = performance.now();
      const downloads = Array.from({ length: largeCount }, (_, index) =>
        fetchAll(`${base}/bytes/${large}?${tag}-large${index}&cacheable`, large),
      );
      const smallMs: number[] = [];
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < sizes.length) {
          const index = next++;
          const size = sizes[index]!;
          const begun = performance.now();
          await fetchAll(`${base}/bytes/${size}?${tag}-small${index}&cacheable`, size);
          smallMs.push(performance.now() - begun);
        }
      };
      await Promise.all([...downloads, ...Array.from({ length: atOnce }, worker)]);
      clearTimeout(timer);
      return { completionMs: performance.now() - started, smallMs, failures };
    },
    {
      base,
      tag,
      sizes: SMALL_SIZES,
      large: LARGE_BYTES,
      largeCount: LARGE_COUNT,
      atOnce: SMALL_AT_ONCE,
      deadline: PAGE_DEADLINE_MS,
    },
  );
}

interface PathRow {
  path: PagePath;
  lanes: number | null;
  direct: PageLoad[];
  routed: PageLoad[];
  ratio: number;
  /** The same page again right after (a returning visit: the browser's cache direct, Peerlane's routed). */
  returning: { direct: PageLoad[]; routed: PageLoad[]; ratio: number };
  small: { directP50: number; directP99: number; routedP50: number; routedP99: number; limitMs: number };
  failures: { direct: number; routed: number };
}

async function measurePath(path: PagePath, lab: Lab, run: string): Promise<PathRow> {
  const direct = await lab.requester.page(`http://direct.peerlane.test:${lab.originPort}/app`);
  const routed = await lab.requester.page(`http://app.peerlane.test:${lab.originPort}/app`);
  const directBase = `http://direct.peerlane.test:${lab.originPort}`;
  const routedBase = `http://origin.peerlane.test:${lab.originPort}`;
  // One small request each way first: connections warm, the routed side's lanes decided.
  await loadWarm(direct, directBase, `${run}-warm`);
  await loadWarm(routed, routedBase, `${run}-warm`);
  const loads = { direct: [] as PageLoad[], routed: [] as PageLoad[] };
  const again = { direct: [] as PageLoad[], routed: [] as PageLoad[] };
  for (let round = 0; round < ROUNDS; round += 1) {
    const order = round % 2 === 0 ? (['direct', 'routed'] as const) : (['routed', 'direct'] as const);
    for (const side of order) {
      const page = side === 'direct' ? direct : routed;
      const base = side === 'direct' ? directBase : routedBase;
      loads[side].push(await loadPage(page, base, `${run}-${round}`));
      // The returning visit: the same URLs at once (every one of them is fresh for an hour).
      again[side].push(await loadPage(page, base, `${run}-${round}`));
    }
    const last = (side: 'direct' | 'routed') => loads[side].at(-1)!;
    const returning = (side: 'direct' | 'routed') => (again[side].at(-1)!.completionMs / 1000).toFixed(2);
    console.error(
      `  round ${round + 1}/${ROUNDS}: direct ${(last('direct').completionMs / 1000).toFixed(2)} s (again ${returning('direct')} s), routed ${(last('routed').completionMs / 1000).toFixed(2)} s (again ${returning('routed')} s); small p99 direct ${percentile(last('direct').smallMs, 0.99).toFixed(0)} ms, routed ${percentile(last('routed').smallMs, 0.99).toFixed(0)} ms; failures ${last('direct').failures.length}/${last('routed').failures.length}`,
    );
    for (const failure of last('routed').failures.slice(0, 3)) console.error(`    routed failure: ${failure}`);
  }
  const lanes = (await lab.requester.state()).peers.find((peer) => peer.remoteRole === 'exit')?.lanes ?? null;
  const completion = (side: 'direct' | 'routed') => median(loads[side].map((load) => load.completionMs));
  const smallOf = (side: 'direct' | 'routed', q: number) =>
    median(loads[side].map((load) => percentile(load.smallMs, q)));
  return {
    path,
    lanes,
    direct: loads.direct,
    routed: loads.routed,
    ratio: completion('routed') / completion('direct'),
    returning: {
      direct: again.direct,
      routed: again.routed,
      ratio:
        median(again.routed.map((load) => load.completionMs)) / median(again.direct.map((load) => load.completionMs)),
    },
    small: {
      directP50: smallOf('direct', 0.5),
      directP99: smallOf('direct', 0.99),
      routedP50: smallOf('routed', 0.5),
      routedP99: smallOf('routed', 0.99),
      limitMs: 3 * path.rttMs + 50,
    },
    failures: {
      direct: loads.direct.reduce((sum, load) => sum + load.failures.length, 0),
      routed: loads.routed.reduce((sum, load) => sum + load.failures.length, 0),
    },
  };
}

async function loadWarm(page: InPage, base: string, tag: string): Promise<void> {
  // tsx compiles this file with esbuild's keepNames: the named helpers inside loadPage's page function
  // call __name, which the page must have.
  await page.evaluate(() => {
    (globalThis as Record<string, unknown>).__name = (target: unknown) => target;
  }, null);
  await page.evaluate(
    async ({ url }) => {
      await (await fetch(url)).arrayBuffer();
    },
    { url: `${base}/bytes/1024?${tag}` },
  );
}

/** One 20 MiB GET with default settings against curl over the same link, rounds alternating. */
async function bulkShareOfTcp(lab: Lab, run: string): Promise<{ tcp: number[]; routed: number[] }> {
  const routed = await lab.requester.page(`http://app.peerlane.test:${lab.originPort}/app`);
  const samples = { tcp: [] as number[], routed: [] as number[] };
  for (let round = 0; round < BULK_ROUNDS; round += 1) {
    const measureTcp = () => samples.tcp.push(tcpMBps(lab.link, lab.originPort, BULK_BYTES, BULK_DEADLINE_MS));
    const measureRouted = async () =>
      samples.routed.push(
        await fetchMBps(
          routed,
          `http://origin.peerlane.test:${lab.originPort}/bytes/${BULK_BYTES}?${run}-bulk${round}`,
          1,
          BULK_DEADLINE_MS,
        ),
      );
    if (round % 2 === 0) {
      measureTcp();
      await measureRouted();
    } else {
      await measureRouted();
      measureTcp();
    }
    console.error(
      `  20 MiB GET round ${round + 1}/${BULK_ROUNDS}: TCP ${samples.tcp.at(-1)!.toFixed(2)} MB/s, routed ${samples.routed.at(-1)!.toFixed(2)} MB/s`,
    );
  }
  return samples;
}

async function main(): Promise<void> {
  const run = Date.now().toString(36);
  const rows: PathRow[] = [];
  let bulk: { tcp: number[]; routed: number[] } | null = null;
  for (const path of PATHS) {
    const wanPath: WanPath = { oneWayDelayMs: path.rttMs / 2, loss: path.loss };
    console.error(`path ${label(path)} (Chromium requester, Chromium exit, default settings)`);
    const lab = await startLab(wanPath, { requester: 'chromium', exit: 'chromium' }, LARGE_BYTES);
    try {
      rows.push(await measurePath(path, lab, `${run}-${path.rttMs}-${path.loss}`));
      if (`${path.rttMs}/${path.loss}` === BULK_PATH) bulk = await bulkShareOfTcp(lab, run);
    } finally {
      await lab.close();
    }
  }
  console.log(
    `\nA page over emulated paths: ${LARGE_COUNT} × 2 MiB from the start and ${SMALL_COUNT} small (2–60 KiB, ${SMALL_AT_ONCE} at a time); medians of ${ROUNDS} alternating rounds`,
  );
  const header = [
    'path',
    'direct s',
    'routed s',
    'routed/direct',
    'small p50 d/r ms',
    'small p99 d/r ms',
    'p99 limit',
    'failures d/r',
    'lanes',
    'again d/r s',
    'again r/d',
  ];
  console.log(header.map((cell) => cell.padStart(17)).join(''));
  for (const row of rows) {
    const completion = (loads: PageLoad[]) => median(loads.map((load) => load.completionMs)) / 1000;
    console.log(
      [
        label(row.path),
        completion(row.direct).toFixed(2),
        completion(row.routed).toFixed(2),
        `×${row.ratio.toFixed(2)}`,
        `${row.small.directP50.toFixed(0)}/${row.small.routedP50.toFixed(0)}`,
        `${row.small.directP99.toFixed(0)}/${row.small.routedP99.toFixed(0)}`,
        String(row.small.limitMs),
        `${row.failures.direct}/${row.failures.routed}`,
        String(row.lanes ?? '–'),
        `${completion(row.returning.direct).toFixed(2)}/${completion(row.returning.routed).toFixed(2)}`,
        `×${row.returning.ratio.toFixed(2)}`,
      ]
        .map((cell) => cell.padStart(17))
        .join(''),
    );
  }
  const bulkShare = bulk ? (100 * median(bulk.routed)) / median(bulk.tcp) : NaN;
  if (bulk)
    console.log(
      `\n20 MiB GET, default settings, ${BULK_PATH.replace('/0.01', ' ms/1 %')}: TCP ${median(bulk.tcp).toFixed(2)} MB/s, routed ${median(bulk.routed).toFixed(2)} MB/s (medians of ${BULK_ROUNDS})`,
    );
  await mkdir('bench/results', { recursive: true });
  const date = new Date().toISOString();
  const file = `bench/results/page-${date.replace(/[:.]/g, '-')}.json`;
  await writeFile(
    file,
    JSON.stringify({ date, smallSizes: SMALL_SIZES, largeBytes: LARGE_BYTES, rows, bulk }, null, 2),
  );
  console.log(`wrote ${file}`);
  const ratioAt = (rtt: number, loss: number): string => {
    const row = rows.find((each) => each.path.rttMs === rtt && each.path.loss === loss);
    return row ? `×${row.ratio.toFixed(2)}` : '×–';
  };
  const worst = rows.reduce<PathRow | null>(
    (found, row) =>
      found === null || row.small.routedP99 / row.small.limitMs > found.small.routedP99 / found.small.limitMs
        ? row
        : found,
    null,
  );
  const failures = rows.reduce(
    (sum, row) =>
      sum + row.failures.routed + row.returning.routed.reduce((more, load) => more + load.failures.length, 0),
    0,
  );
  const returningAt = (rtt: number, loss: number): string => {
    const row = rows.find((each) => each.path.rttMs === rtt && each.path.loss === loss);
    return row ? `×${row.returning.ratio.toFixed(2)}` : '×–';
  };
  console.log(
    `page: routed/direct ${ratioAt(50, 0)} at 50 ms/0 %, ${ratioAt(50, 0.01)} at 50 ms/1 %, ${ratioAt(150, 0.01)} at 150 ms/1 %, ${ratioAt(20, 0.03)} at 20 ms/3 %; small p99 ${worst?.small.routedP99.toFixed(0) ?? '–'} ms (worst path, limit ${worst?.small.limitMs ?? '–'} ms); failures ${failures}; 20 MB default ${Number.isFinite(bulkShare) ? bulkShare.toFixed(0) : '–'} % of TCP at 50 ms/1 %`,
  );
  console.log(
    `returning visit: routed/direct ${returningAt(50, 0)} at 50 ms/0 %, ${returningAt(50, 0.01)} at 50 ms/1 %, ${returningAt(150, 0.01)} at 150 ms/1 %, ${returningAt(20, 0.03)} at 20 ms/3 %`,
  );
}

await main();
