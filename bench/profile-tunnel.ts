import { textOf } from '../signaling-server/peer';
import { mkdir, writeFile } from 'node:fs/promises';
import { WebSocket } from 'ws';
import { DEFAULT_SETTINGS } from '../extension/core/settings';
import { startSignalingServer } from '../signaling-server/server';
import { backgroundState, launchWithExtension, waitFor, waitForRoutedScripts } from '../test/helpers/chromium';
import { DEV_ORIGIN_ADDRESS, DEV_PRIVATE_ALLOW_LIST, startOriginServer } from '../test/helpers/origin-server';
import { chromiumPage, fetchMBps, median, smallGetLatencies } from './probes';

/**
 * `npm run profile:tunnel`: where the tunnel's time goes on loopback. Chromium requester and exit
 * with the built extension, a 20 MB routed GET three times while the V8 sampling profiler (DevTools
 * Protocol, a debugging port per browser) records every extension context: the requester's service
 * worker and offscreen document, the exit's too. Writes one .cpuprofile per context under
 * bench/profile/ (open in Chrome DevTools' Performance panel) and prints each context's hottest
 * functions by self time. `npm run profile:tunnel -- small` profiles 300 small GETs one after another
 * instead (the added latency), and prints each context's busy time per GET.
 */
const SMALL = process.argv.includes('small');
const SMALL_GETS = 300;
const BODY_BYTES = 20 * 1024 * 1024;
const RUNS = 3;

interface Target {
  id: string;
  type: string;
  url: string;
  webSocketDebuggerUrl?: string;
}

/** One DevTools Protocol connection to a target; `send` resolves with the command's result. */
async function attach(
  target: Target,
): Promise<{ send: (method: string, params?: object) => Promise<unknown>; close: () => void }> {
  const socket = new WebSocket(target.webSocketDebuggerUrl!, {
    perMessageDeflate: false,
    maxPayload: 1024 * 1024 * 1024,
  });
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  let nextId = 1;
  const waiting = new Map<number, (value: unknown) => void>();
  socket.on('message', (raw) => {
    const message = JSON.parse(textOf(raw)) as { id?: number; result?: unknown };
    if (message.id !== undefined) waiting.get(message.id)?.(message.result);
  });
  return {
    send: (method, params = {}) =>
      new Promise((resolve) => {
        const id = nextId++;
        waiting.set(id, resolve);
        socket.send(JSON.stringify({ id, method, params }));
      }),
    close: () => socket.close(),
  };
}

async function extensionTargets(port: number): Promise<Target[]> {
  const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as Target[];
  return targets.filter(
    (target) =>
      target.url.startsWith('chrome-extension://') &&
      (target.type === 'service_worker' || target.url.includes('offscreen')),
  );
}

function hottest(
  profile: {
    nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
    samples: number[];
    timeDeltas: number[];
  },
  count: number,
): string[] {
  const self = new Map<string, number>();
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  let total = 0;
  profile.samples.forEach((id, index) => {
    const node = nodes.get(id)!;
    const key = `${node.callFrame.functionName || '(anonymous)'} ${node.callFrame.url.split('/').slice(-1)[0]}:${node.callFrame.lineNumber + 1}`;
    const micros = profile.timeDeltas[index] ?? 0;
    total += micros;
    self.set(key, (self.get(key) ?? 0) + micros);
  });
  const busy = total - (self.get('(idle) :0') ?? 0);
  const perGet = SMALL ? ` (${(busy / 1000 / SMALL_GETS).toFixed(2)} ms per GET)` : '';
  return [
    `busy ${(busy / 1000).toFixed(0)} ms of ${(total / 1000).toFixed(0)} ms${perGet}`,
    ...[...self]
      .filter(([key]) => !key.startsWith('(idle)'))
      .sort((a, b) => b[1] - a[1])
      .slice(0, count)
      .map(
        ([key, micros]) =>
          `${(micros / 1000).toFixed(1).padStart(8)} ms ${((micros / busy) * 100).toFixed(1).padStart(5)} %  ${key}`,
      ),
  ];
}

const origin = await startOriginServer(BODY_BYTES);
const signaling = await startSignalingServer({ port: 0 });
const [exitPort, requesterPort] = [9340 + Math.floor(Math.random() * 100), 9450 + Math.floor(Math.random() * 100)];
const exit = await launchWithExtension(
  [`MAP origin.peerlane.test ${DEV_ORIGIN_ADDRESS}`],
  [`--remote-debugging-port=${exitPort}`],
);
const requester = await launchWithExtension(
  ['MAP origin.peerlane.test ~NOTFOUND', 'MAP app.peerlane.test 127.0.0.1'],
  [`--remote-debugging-port=${requesterPort}`],
);
try {
  await exit.setSettings({
    signalingUrl: signaling.url,
    share: true,
    privateAllowList: DEV_PRIVATE_ALLOW_LIST,
    exitPorts: [...DEFAULT_SETTINGS.exitPorts, origin.port],
    exitCaps: { ...DEFAULT_SETTINGS.exitCaps, rateMBps: 1_000, maxResponseMB: 64 },
  });
  const appOrigin = `http://app.peerlane.test:${origin.port}`;
  await requester.setSettings({ signalingUrl: signaling.url, routedOrigins: [appOrigin] });
  await waitForRoutedScripts(requester);
  await waitFor(
    async () => (await backgroundState(requester)).stats.peers,
    (peers) => peers === 1,
    'the requester connected',
  );
  const page = await requester.context.newPage();
  await page.goto(`${appOrigin}/app`);
  const routed = chromiumPage(page);
  const url = `http://origin.peerlane.test:${origin.port}/bytes/${BODY_BYTES}`;
  const smallUrl = `http://origin.peerlane.test:${origin.port}/small.txt`;
  if (SMALL) {
    await smallGetLatencies(routed, smallUrl, 20);
    const directPage = await exit.context.newPage();
    await directPage.goto(`http://origin.peerlane.test:${origin.port}/app`);
    const [tunnel, direct] = [
      median(await smallGetLatencies(routed, smallUrl, 100)),
      median(await smallGetLatencies(chromiumPage(directPage), smallUrl, 100)),
    ];
    console.log(
      `small GET median before profiling: tunnel ${tunnel.toFixed(2)} ms, direct ${direct.toFixed(2)} ms, added ${(tunnel - direct).toFixed(2)} ms`,
    );
  } else await fetchMBps(routed, url); // warm up
  const sessions = [];
  for (const [who, port] of [
    ['requester', requesterPort],
    ['exit', exitPort],
  ] as const) {
    for (const target of await extensionTargets(port)) {
      const session = await attach(target);
      await session.send('Profiler.enable');
      await session.send('Profiler.setSamplingInterval', { interval: 100 });
      await session.send('Profiler.start');
      sessions.push({ name: `${who}-${target.type === 'service_worker' ? 'service-worker' : 'offscreen'}`, session });
    }
  }
  if (SMALL) {
    const latencies = await smallGetLatencies(routed, smallUrl, SMALL_GETS);
    console.log(`small GET median ${median(latencies).toFixed(2)} ms over ${SMALL_GETS} while profiling`);
  } else {
    const rates: number[] = [];
    for (let run = 0; run < RUNS; run += 1) rates.push(await fetchMBps(routed, url));
    console.log(`tunnel ${rates.map((rate) => rate.toFixed(1)).join(', ')} MB/s while profiling`);
  }
  await mkdir('bench/profile', { recursive: true });
  for (const { name, session } of sessions) {
    const { profile } = (await session.send('Profiler.stop')) as { profile: Parameters<typeof hottest>[0] };
    await writeFile(`bench/profile/${name}.cpuprofile`, JSON.stringify(profile));
    console.log(`\n${name} (bench/profile/${name}.cpuprofile)\n  ${hottest(profile, 18).join('\n  ')}`);
    session.close();
  }
} finally {
  await requester.close();
  await exit.close();
  await signaling.close();
  await origin.close();
}
