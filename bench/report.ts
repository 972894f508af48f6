import { readdir, readFile, writeFile } from 'node:fs/promises';
import * as vega from 'vega';
import * as vegaLite from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';

/**
 * `npm run bench:report`: the charts of docs/benchmarks.md, drawn from the benchmark results kept in
 * git (bench/results/representative/: the newest wan-, tunnel- and signaling- file of each kind is
 * used). Vega-Lite specs rendered to SVG in Node (docs/images/bench-*.svg); the figures table between
 * the markers in docs/benchmarks.md is written anew. Nothing is measured here.
 */
const RESULTS = 'bench/results/representative';
const IMAGES = 'docs/images';
const DOC = 'docs/benchmarks.md';
const BEGIN = '<!-- bench:report begin -->';
const END = '<!-- bench:report end -->';

interface WanRow {
  pair: { requester: string; exit: string };
  path: { oneWayDelayMs: number; loss: number };
  rttMs: number;
  tcp: number;
  raw: number;
  tunnel: Record<string, number>;
  tunnelConcurrent: Record<string, number>;
  smallGetMs: { p50: number; added: number };
}
interface WanResult {
  date: string;
  rows: WanRow[];
}
interface TunnelResult {
  date: string;
  throughputMBps: { raw: number; tunnel: number; direct: number };
  crossBrowserMBps: {
    chromiumExitToFirefox: { raw: number; tunnel: number };
    firefoxExitToChromium: { raw: number; tunnel: number };
  };
  smallGetMs: { tunnel: { p50: number; p99: number }; direct: { p50: number; p99: number } };
}
interface SignalingResult {
  date: string;
  medians: Record<string, number>;
}

async function newest<T>(prefix: string): Promise<{ file: string; data: T } | null> {
  const files = (await readdir(RESULTS).catch(() => [] as string[]))
    .filter((name) => name.startsWith(prefix) && name.endsWith('.json'))
    .sort();
  const file = files.at(-1);
  return file ? { file, data: JSON.parse(await readFile(`${RESULTS}/${file}`, 'utf8')) as T } : null;
}

async function svg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: 'none' });
  const text = await view.toSVG();
  view.finalize();
  return text;
}

const base = { width: 520, height: 260, config: { font: 'sans-serif', view: { stroke: null } } } as const;

function wanChart(result: WanResult): TopLevelSpec {
  const values = result.rows.flatMap((row) => {
    const path = `${row.rttMs} ms, ${(row.path.loss * 100).toFixed(0)} %`;
    const pair = `${row.pair.requester} ← ${row.pair.exit} exit`;
    const lanes = Object.keys(row.tunnel)
      .map(Number)
      .sort((a, b) => a - b);
    const most = lanes.at(-1)!;
    return [
      { path, pair, what: 'TCP (curl, same link)', mbps: row.tcp },
      { path, pair, what: 'one raw data channel', mbps: row.raw },
      { path, pair, what: `tunnel, one 20 MB GET, ${lanes[0]} lane`, mbps: row.tunnel[lanes[0]!] },
      { path, pair, what: `tunnel, one 20 MB GET, ${most} lanes`, mbps: row.tunnel[most] },
      { path, pair, what: `tunnel, 8 × 2 MB, ${most} lanes`, mbps: row.tunnelConcurrent[most] },
    ];
  });
  return {
    ...base,
    title: {
      text: 'Throughput over emulated paths (MB/s, medians)',
      subtitle: `npm run bench:wan, ${result.date.slice(0, 10)}`,
    },
    data: { values },
    mark: { type: 'bar', tooltip: true },
    encoding: {
      x: { field: 'path', type: 'nominal', title: 'round trip, loss', sort: null, axis: { labelAngle: 0 } },
      xOffset: { field: 'what', sort: null },
      y: { field: 'mbps', type: 'quantitative', title: 'MB/s' },
      color: {
        field: 'what',
        type: 'nominal',
        title: null,
        sort: null,
        legend: { orient: 'bottom', columns: 2, labelLimit: 0 },
      },
      row: { field: 'pair', type: 'nominal', title: null },
    },
  };
}

function smallGetChart(wan: WanResult | null, tunnel: TunnelResult | null): TopLevelSpec {
  const values = [
    ...(tunnel
      ? [
          { where: 'loopback', what: 'direct p50', ms: tunnel.smallGetMs.direct.p50 },
          { where: 'loopback', what: 'routed p50', ms: tunnel.smallGetMs.tunnel.p50 },
          { where: 'loopback', what: 'direct p99', ms: tunnel.smallGetMs.direct.p99 },
          { where: 'loopback', what: 'routed p99', ms: tunnel.smallGetMs.tunnel.p99 },
        ]
      : []),
    ...(wan?.rows
      .filter((row) => row.pair.requester === 'chromium' && row.pair.exit === 'chromium')
      .flatMap((row) => [
        { where: `RTT ${row.rttMs} ms, ${(row.path.loss * 100).toFixed(0)} %`, what: 'path round trip', ms: row.rttMs },
        {
          where: `RTT ${row.rttMs} ms, ${(row.path.loss * 100).toFixed(0)} %`,
          what: 'routed p50',
          ms: row.smallGetMs.p50,
        },
      ]) ?? []),
  ];
  return {
    ...base,
    title: {
      text: 'A small GET, routed and not (ms)',
      subtitle: 'loopback: npm run bench · emulated paths: npm run bench:wan (Chromium ↔ Chromium)',
    },
    data: { values },
    mark: { type: 'bar', tooltip: true },
    encoding: {
      x: { field: 'where', type: 'nominal', title: null, sort: null, axis: { labelAngle: 0 } },
      xOffset: { field: 'what', sort: null },
      y: { field: 'ms', type: 'quantitative', title: 'ms' },
      color: { field: 'what', type: 'nominal', title: null, sort: null, legend: { orient: 'bottom', labelLimit: 0 } },
    },
  };
}

function signalingChart(result: SignalingResult): TopLevelSpec {
  const m = result.medians;
  // Each as Peerlane / PeerJS with "better" above 1, so the bars read alike.
  const values = [
    { what: 'memory per idle connection', ratio: m.memoryPeerJs! / m.memoryPeerlane! },
    { what: 'ICE candidates relayed per second', ratio: m.relayIcePeerlane! / m.relayIcePeerJs! },
    { what: 'SDP offers relayed per second', ratio: m.relaySdpPeerlane! / m.relaySdpPeerJs! },
    { what: 'burst of connects, p99 ready', ratio: m.burstPeerJs! / m.burstPeerlane! },
  ].filter((value) => Number.isFinite(value.ratio));
  return {
    ...base,
    height: 160,
    title: {
      text: 'Signaling against the PeerJS server (× PeerJS, higher is better)',
      subtitle: `npm run bench:signaling, ${result.date.slice(0, 10)}`,
    },
    data: { values },
    layer: [
      {
        mark: { type: 'bar', tooltip: true },
        encoding: {
          y: { field: 'what', type: 'nominal', title: null, sort: null, axis: { labelLimit: 0 } },
          x: { field: 'ratio', type: 'quantitative', title: '× PeerJS' },
        },
      },
      {
        data: { values: [{ x: 1 }] },
        mark: { type: 'rule', strokeDash: [4, 4] },
        encoding: { x: { field: 'x', type: 'quantitative' } },
      },
    ],
  };
}

function figures(
  wan: { file: string; data: WanResult } | null,
  tunnel: { file: string; data: TunnelResult } | null,
  signaling: { file: string; data: SignalingResult } | null,
): string {
  const lines: string[] = [];
  if (tunnel) {
    const t = tunnel.data;
    lines.push(
      `**Loopback** (\`${tunnel.file}\`): Chromium ↔ Chromium tunnel ${t.throughputMBps.tunnel.toFixed(1)} MB/s against the raw channel's ${t.throughputMBps.raw.toFixed(1)} (${((t.throughputMBps.tunnel / t.throughputMBps.raw) * 100).toFixed(0)} %); Chromium exit → Firefox ${((t.crossBrowserMBps.chromiumExitToFirefox.tunnel / t.crossBrowserMBps.chromiumExitToFirefox.raw) * 100).toFixed(0)} % of its raw channel, Firefox exit → Chromium ${((t.crossBrowserMBps.firefoxExitToChromium.tunnel / t.crossBrowserMBps.firefoxExitToChromium.raw) * 100).toFixed(0)} %; small GET p50 ${t.smallGetMs.tunnel.p50.toFixed(1)} ms routed against ${t.smallGetMs.direct.p50.toFixed(1)} ms direct, p99 ${t.smallGetMs.tunnel.p99.toFixed(1)} against ${t.smallGetMs.direct.p99.toFixed(1)}.`,
      '',
    );
  }
  if (wan) {
    lines.push(
      `**Emulated paths** (\`${wan.file}\`, MB/s, % of TCP over the same link):`,
      '',
      '| requester ← exit | RTT, loss | TCP | raw channel | 20 MB, 1 lane | 20 MB, most lanes | 8 × 2 MB, most lanes | small GET over the RTT |',
      '|---|---|---|---|---|---|---|---|',
    );
    for (const row of wan.data.rows) {
      const lanes = Object.keys(row.tunnel)
        .map(Number)
        .sort((a, b) => a - b);
      const most = lanes.at(-1)!;
      const pct = (value: number): string => `${value.toFixed(2)} (${((value / row.tcp) * 100).toFixed(0)} %)`;
      lines.push(
        `| ${row.pair.requester} ← ${row.pair.exit} | ${row.rttMs} ms, ${(row.path.loss * 100).toFixed(0)} % | ${row.tcp.toFixed(1)} | ${pct(row.raw)} | ${pct(row.tunnel[lanes[0]!]!)} | ${pct(row.tunnel[most]!)} (${most}) | ${pct(row.tunnelConcurrent[most]!)} | +${row.smallGetMs.added.toFixed(0)} ms |`,
      );
    }
    lines.push('');
  }
  if (signaling) {
    const m = signaling.data.medians;
    lines.push(
      `**Signaling** (\`${signaling.file}\`): per idle connection ${m.memoryPeerlane?.toFixed(1)} KB (PeerJS ${m.memoryPeerJs?.toFixed(1)}); ICE relayed ${m.relayIcePeerlane?.toFixed(0)}/s (PeerJS ${m.relayIcePeerJs?.toFixed(0)}); SDP ${m.relaySdpPeerlane?.toFixed(0)}/s (PeerJS ${m.relaySdpPeerJs?.toFixed(0)}); a burst of connects ready at p99 in ${m.burstPeerlane?.toFixed(0)} ms (PeerJS ${m.burstPeerJs?.toFixed(0)}).`,
      '',
    );
  }
  return lines.join('\n');
}

const wan = await newest<WanResult>('wan-');
const tunnel = await newest<TunnelResult>('tunnel-');
/** Signaling's sections may come from separate runs (each section alternates Peerlane and PeerJS within itself): newer medians win. */
async function signalingMedians(): Promise<{ file: string; data: SignalingResult } | null> {
  const files = (await readdir(RESULTS).catch(() => [] as string[]))
    .filter((name) => name.startsWith('signaling-') && name.endsWith('.json'))
    .sort();
  if (files.length === 0) return null;
  const medians: Record<string, number> = {};
  for (const file of files) {
    // A section a run skipped is null there: it leaves an earlier run's figure standing.
    for (const [key, value] of Object.entries(
      (JSON.parse(await readFile(`${RESULTS}/${file}`, 'utf8')) as SignalingResult).medians,
    ))
      if (typeof value === 'number' && Number.isFinite(value)) medians[key] = value;
  }
  return {
    file: files.join('`, `'),
    data: { date: files.at(-1)!.slice('signaling-'.length, 'signaling-'.length + 10), medians },
  };
}
const signaling = await signalingMedians();
const charts: string[] = [];
if (wan) {
  await writeFile(`${IMAGES}/bench-wan.svg`, await svg(wanChart(wan.data)));
  charts.push('![Throughput over emulated paths](images/bench-wan.svg)');
}
if (wan || tunnel) {
  await writeFile(`${IMAGES}/bench-small-get.svg`, await svg(smallGetChart(wan?.data ?? null, tunnel?.data ?? null)));
  charts.push('![A small GET, routed and not](images/bench-small-get.svg)');
}
if (signaling) {
  await writeFile(`${IMAGES}/bench-signaling.svg`, await svg(signalingChart(signaling.data)));
  charts.push('![Signaling against PeerJS](images/bench-signaling.svg)');
}
const doc = await readFile(DOC, 'utf8');
const start = doc.indexOf(BEGIN);
const end = doc.indexOf(END);
if (start === -1 || end === -1) throw new Error(`${DOC} lacks the ${BEGIN} … ${END} markers`);
const generated = `${BEGIN}\n<!-- written by npm run bench:report from ${RESULTS}/; edit the prose outside these markers -->\n\n${charts.join('\n\n')}\n\n${figures(wan, tunnel, signaling)}\n${END}`;
await writeFile(DOC, doc.slice(0, start) + generated + doc.slice(end + END.length));
console.log(
  `wrote ${charts.length} charts and the figures of ${DOC} from ${[wan?.file, tunnel?.file, signaling?.file].filter(Boolean).join(', ')}`,
);
