import { mkdir, writeFile } from 'node:fs/promises';
import type { Page } from 'playwright-core';
import { startSignalingServer } from '../signaling-server/server';
import { launchWithExtension, waitForRoutedScripts } from '../test/helpers/chromium';
import { startOriginServer } from '../test/helpers/origin-server';

/**
 * `npm run bench`: in one run, on loopback, two headless Chromium with the built extension:
 * raw RTCDataChannel throughput between them (the ceiling), tunnel throughput for a 20 MB body
 * (page → queue → offscreen → data channel → exit → origin and back), direct fetch of the same body,
 * and small-GET latency through the tunnel vs direct. Rounds alternate and medians are reported.
 */
const BODY_BYTES = 20 * 1024 * 1024;
const ROUNDS = 3;
const SMALL_GETS = 100;

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
};
const percentile = (values: number[], q: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? NaN;
};

/** Raw RTCDataChannel between two extension pages, 16 KiB messages, bufferedAmount flow control. */
async function rawChannelMBps(sender: Page, receiver: Page, bytes: number): Promise<number> {
  const offer = await sender.evaluate(async () => {
    const pc = new RTCPeerConnection({ iceServers: [] });
    const channel = pc.createDataChannel('bench', { ordered: true });
    channel.binaryType = 'arraybuffer';
    Object.assign(window, { benchPc: pc, benchChannel: channel });
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise<void>((resolve) => {
      if (pc.iceGatheringState === 'complete') resolve();
      pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && resolve());
    });
    return JSON.stringify(pc.localDescription);
  });
  const answer = await receiver.evaluate(async (offerJson) => {
    const pc = new RTCPeerConnection({ iceServers: [] });
    const done = new Promise<number>((resolve) => {
      pc.addEventListener('datachannel', (event) => {
        const channel = event.channel;
        channel.binaryType = 'arraybuffer';
        let received = 0;
        let started = 0;
        channel.onmessage = (message: MessageEvent<ArrayBuffer>) => {
          if (received === 0) started = performance.now();
          received += message.data.byteLength;
          const expected = (window as unknown as { benchExpected: number }).benchExpected;
          if (received >= expected) resolve(performance.now() - started);
        };
      });
    });
    Object.assign(window, { benchDone: done, benchPc: pc });
    await pc.setRemoteDescription(JSON.parse(offerJson) as RTCSessionDescriptionInit);
    await pc.setLocalDescription(await pc.createAnswer());
    await new Promise<void>((resolve) => {
      if (pc.iceGatheringState === 'complete') resolve();
      pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && resolve());
    });
    return JSON.stringify(pc.localDescription);
  }, offer);
  await receiver.evaluate((size) => Object.assign(window, { benchExpected: size }), bytes);
  await sender.evaluate(async ({ answerJson, size }) => {
    const w = window as unknown as { benchPc: RTCPeerConnection; benchChannel: RTCDataChannel };
    await w.benchPc.setRemoteDescription(JSON.parse(answerJson) as RTCSessionDescriptionInit);
    const channel = w.benchChannel;
    if (channel.readyState !== 'open') await new Promise((resolve) => channel.addEventListener('open', resolve, { once: true }));
    channel.bufferedAmountLowThreshold = 1024 * 1024;
    const chunk = new Uint8Array(16 * 1024);
    for (let sent = 0; sent < size; sent += chunk.byteLength) {
      if (channel.bufferedAmount > 4 * 1024 * 1024) await new Promise((resolve) => channel.addEventListener('bufferedamountlow', resolve, { once: true }));
      channel.send(chunk);
    }
  }, { answerJson: answer, size: bytes });
  const ms = await receiver.evaluate(() => (window as unknown as { benchDone: Promise<number> }).benchDone);
  await sender.evaluate(() => (window as unknown as { benchPc: RTCPeerConnection }).benchPc.close());
  await receiver.evaluate(() => (window as unknown as { benchPc: RTCPeerConnection }).benchPc.close());
  return bytes / 1e6 / (ms / 1000);
}

async function fetchMBps(page: Page, url: string): Promise<number> {
  const ms = await page.evaluate(async (target) => {
    const started = performance.now();
    const response = await fetch(target, { cache: 'no-store' });
    const reader = response.body!.getReader();
    for (;;) if ((await reader.read()).done) break;
    return performance.now() - started;
  }, url);
  return BODY_BYTES / 1e6 / (ms / 1000);
}

async function smallGetLatencies(page: Page, url: string, count: number): Promise<number[]> {
  return page.evaluate(
    async ({ target, n }) => {
      const out: number[] = [];
      for (let i = 0; i < n; i += 1) {
        const started = performance.now();
        await (await fetch(`${target}?i=${i}`, { cache: 'no-store' })).text();
        out.push(performance.now() - started);
      }
      return out;
    },
    { target: url, n: count },
  );
}

async function main(): Promise<void> {
  const origin = await startOriginServer(BODY_BYTES);
  const signaling = await startSignalingServer({ port: 0 });
  const appOrigin = `http://app.peerlane.test:${origin.port}`;
  const dataOrigin = `http://origin.peerlane.test:${origin.port}`;
  const exit = await launchWithExtension(['MAP origin.peerlane.test 127.0.0.1']);
  const requester = await launchWithExtension(['MAP origin.peerlane.test ~NOTFOUND', 'MAP app.peerlane.test 127.0.0.1']);
  try {
    await exit.setSettings({ signalingUrl: signaling.url, share: true, allowPrivateTargets: true });
    await requester.setSettings({ signalingUrl: signaling.url, routedOrigins: [appOrigin] });
    await waitForRoutedScripts(requester);
    const routedPage = await requester.context.newPage();
    await routedPage.goto(`${appOrigin}/app`);
    const directPage = await exit.context.newPage();
    await directPage.goto(`${dataOrigin}/app`);
    const rawSender = await exit.context.newPage();
    await rawSender.goto(`chrome-extension://${exit.extensionId}/extension/ui/options.html`);
    const rawReceiver = await requester.context.newPage();
    await rawReceiver.goto(`chrome-extension://${requester.extensionId}/extension/ui/options.html`);

    await smallGetLatencies(routedPage, `${dataOrigin}/small.txt`, 5); // warm up: connect to the exit
    const raw: number[] = [];
    const tunnel: number[] = [];
    const direct: number[] = [];
    for (let round = 0; round < ROUNDS; round += 1) {
      const order = round % 2 === 0 ? ['raw', 'tunnel', 'direct'] : ['direct', 'tunnel', 'raw'];
      for (const kind of order) {
        if (kind === 'raw') raw.push(await rawChannelMBps(rawSender, rawReceiver, BODY_BYTES));
        if (kind === 'tunnel') tunnel.push(await fetchMBps(routedPage, `${dataOrigin}/bytes/${BODY_BYTES}`));
        if (kind === 'direct') direct.push(await fetchMBps(directPage, `${dataOrigin}/bytes/${BODY_BYTES}`));
      }
      console.error(`round ${round + 1}/${ROUNDS}: raw ${raw.at(-1)!.toFixed(1)} · tunnel ${tunnel.at(-1)!.toFixed(1)} · direct ${direct.at(-1)!.toFixed(1)} MB/s`);
    }
    const tunnelLatency = await smallGetLatencies(routedPage, `${dataOrigin}/small.txt`, SMALL_GETS);
    const directLatency = await smallGetLatencies(directPage, `${dataOrigin}/small.txt`, SMALL_GETS);

    const result = {
      date: new Date().toISOString(),
      bodyBytes: BODY_BYTES,
      rounds: ROUNDS,
      throughputMBps: { raw: median(raw), tunnel: median(tunnel), direct: median(direct), samples: { raw, tunnel, direct } },
      ratios: { tunnelVsRaw: median(tunnel) / median(raw), tunnelVsDirect: median(tunnel) / median(direct) },
      smallGetMs: {
        tunnel: { p50: percentile(tunnelLatency, 0.5), p99: percentile(tunnelLatency, 0.99) },
        direct: { p50: percentile(directLatency, 0.5), p99: percentile(directLatency, 0.99) },
        addedP50: percentile(tunnelLatency, 0.5) - percentile(directLatency, 0.5),
        addedP99: percentile(tunnelLatency, 0.99) - percentile(directLatency, 0.99),
      },
    };
    const row = (name: string, value: string, note: string): string => `${name.padEnd(34)}${value.padStart(12)}  ${note}`;
    console.log('\nPeerlane tunnel bench (loopback, two headless Chromium, medians of', ROUNDS, 'rounds)');
    console.log(row('raw data channel (16 KiB msgs)', `${result.throughputMBps.raw.toFixed(1)} MB/s`, 'ceiling'));
    console.log(row('tunnel, 20 MB body', `${result.throughputMBps.tunnel.toFixed(1)} MB/s`, `${(result.ratios.tunnelVsRaw * 100).toFixed(0)}% of raw`));
    console.log(row('direct fetch, 20 MB body', `${result.throughputMBps.direct.toFixed(1)} MB/s`, `tunnel is ${(result.ratios.tunnelVsDirect * 100).toFixed(1)}% of direct`));
    console.log(row('small GET p50 tunnel / direct', `${result.smallGetMs.tunnel.p50.toFixed(1)} / ${result.smallGetMs.direct.p50.toFixed(1)} ms`, `+${result.smallGetMs.addedP50.toFixed(1)} ms`));
    console.log(row('small GET p99 tunnel / direct', `${result.smallGetMs.tunnel.p99.toFixed(1)} / ${result.smallGetMs.direct.p99.toFixed(1)} ms`, `+${result.smallGetMs.addedP99.toFixed(1)} ms`));
    await mkdir('bench/results', { recursive: true });
    const file = `bench/results/tunnel-${result.date.replace(/[:.]/g, '-')}.json`;
    await writeFile(file, JSON.stringify(result, null, 2));
    console.log(`\nwrote ${file}`);
  } finally {
    await requester.close();
    await exit.close();
    await signaling.close();
    await origin.close();
  }
}

await main();
