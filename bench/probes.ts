import type { Page } from 'playwright-core';
import type { Page as FirefoxPage } from 'puppeteer-core';

/**
 * What the benches measure inside browser pages (either browser): raw RTCDataChannel throughput
 * between two pages, a page's fetch throughput, and small-GET latencies. Every transfer is bounded
 * in bytes and in time: past `deadlineMs` it stops and the rate counts what arrived.
 */
/** The middle value; of an even count, the mean of the two middle ones (of two rounds, their mean, not the better). */
export const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};
export const percentile = (values: number[], q: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? NaN;
};

/** Runs a function in a page of either browser (playwright's and puppeteer's evaluate, one shape). */
export interface InPage {
  evaluate<R, A>(fn: (arg: A) => R | Promise<R>, arg: A): Promise<R>;
}
// Arguments here are plain JSON values, so playwright's handle unboxing never changes their type.
export const chromiumPage = (page: Page): InPage => ({
  evaluate: (fn, arg) => page.evaluate(fn as (arg: unknown) => Awaited<ReturnType<typeof fn>>, arg),
});
export const firefoxPage = (page: FirefoxPage): InPage => ({
  evaluate: async (fn, arg) => await page.evaluate(fn as (arg: unknown) => Awaited<ReturnType<typeof fn>>, arg),
});

export interface RawChannelOptions {
  bytes: number;
  messageBytes: number;
  /** Peer connections (each its own SCTP association), the bytes split evenly over them. */
  connections?: number;
  deadlineMs?: number;
}

/** Raw RTCDataChannel(s) between two pages, bufferedAmount flow control; MB/s of what arrived. */
export async function rawChannelMBps(sender: InPage, receiver: InPage, options: RawChannelOptions): Promise<number> {
  const { bytes, messageBytes, connections = 1, deadlineMs = 60_000 } = options;
  const offers = await sender.evaluate(async (count) => {
    const made = await Promise.all(
      Array.from({ length: count }, async () => {
        const pc = new RTCPeerConnection({ iceServers: [] });
        const channel = pc.createDataChannel('bench', { ordered: true });
        channel.binaryType = 'arraybuffer';
        await pc.setLocalDescription(await pc.createOffer());
        await new Promise<void>((resolve) => {
          if (pc.iceGatheringState === 'complete') resolve();
          pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && resolve());
        });
        return { pc, channel };
      }),
    );
    Object.assign(window, { benchSend: made });
    return made.map(({ pc }) => JSON.stringify(pc.localDescription));
  }, connections);
  const answers = await receiver.evaluate(
    async ({ offerJsons, total, deadline }) => {
      let received = 0;
      let started = 0;
      // Not a named function (`let f = () => …`): tsx would wrap it in a helper the page does not have.
      let finish: ((result: { ms: number; received: number }) => void) | null = null;
      const done = new Promise<{ ms: number; received: number }>((resolve) => {
        finish = resolve;
      });
      const pcs = await Promise.all(
        offerJsons.map(async (offerJson) => {
          const pc = new RTCPeerConnection({ iceServers: [] });
          pc.addEventListener('datachannel', (event) => {
            const channel = event.channel;
            channel.binaryType = 'arraybuffer';
            channel.onmessage = (message: MessageEvent<ArrayBuffer>) => {
              if (started === 0) {
                started = performance.now();
                setTimeout(() => finish?.({ ms: performance.now() - started, received }), deadline);
              }
              received += message.data.byteLength;
              if (received >= total) finish?.({ ms: performance.now() - started, received });
            };
          });
          await pc.setRemoteDescription(JSON.parse(offerJson) as RTCSessionDescriptionInit);
          await pc.setLocalDescription(await pc.createAnswer());
          await new Promise<void>((resolve) => {
            if (pc.iceGatheringState === 'complete') resolve();
            pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && resolve());
          });
          return pc;
        }),
      );
      Object.assign(window, { benchDone: done, benchReceive: pcs });
      return pcs.map((pc) => JSON.stringify(pc.localDescription));
    },
    { offerJsons: offers, total: bytes, deadline: deadlineMs },
  );
  void sender
    .evaluate(
      async ({ answerJsons, total, messageSize, deadline }) => {
        const made = (window as unknown as { benchSend: { pc: RTCPeerConnection; channel: RTCDataChannel }[] })
          .benchSend;
        const stopAt = performance.now() + deadline + 30_000;
        await Promise.all(
          made.map(async ({ pc, channel }, index) => {
            await pc.setRemoteDescription(JSON.parse(answerJsons[index]!) as RTCSessionDescriptionInit);
            if (channel.readyState !== 'open')
              await new Promise((resolve) => channel.addEventListener('open', resolve, { once: true }));
            channel.bufferedAmountLowThreshold = 1024 * 1024;
            const chunk = new Uint8Array(messageSize);
            const share = Math.ceil(total / made.length);
            for (
              let sent = 0;
              sent < share && channel.readyState === 'open' && performance.now() < stopAt;
              sent += chunk.byteLength
            ) {
              if (channel.bufferedAmount > 4 * 1024 * 1024)
                await new Promise((resolve) => channel.addEventListener('bufferedamountlow', resolve, { once: true }));
              channel.send(chunk);
            }
          }),
        );
      },
      { answerJsons: answers, total: bytes, messageSize: messageBytes, deadline: deadlineMs },
    )
    .catch(() => undefined); // the sender's loop ends when the channels close below
  const { ms, received } = await receiver.evaluate(
    () => (window as unknown as { benchDone: Promise<{ ms: number; received: number }> }).benchDone,
    undefined,
  );
  await sender.evaluate(
    () => (window as unknown as { benchSend: { pc: RTCPeerConnection }[] }).benchSend.forEach(({ pc }) => pc.close()),
    undefined,
  );
  await receiver.evaluate(
    () => (window as unknown as { benchReceive: RTCPeerConnection[] }).benchReceive.forEach((pc) => pc.close()),
    undefined,
  );
  return received / 1e6 / (ms / 1000);
}

/** `count` concurrent fetches of `url` from the page (each read to its end or the deadline); MB/s of all bytes read. */
export async function fetchMBps(page: InPage, url: string, count = 1, deadlineMs = 60_000): Promise<number> {
  const { ms, bytes } = await page.evaluate(
    async ({ target, n, deadline }) => {
      const started = performance.now();
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), deadline);
      let total = 0;
      await Promise.all(
        Array.from({ length: n }, async (_, index) => {
          try {
            const response = await fetch(n > 1 ? `${target}${target.includes('?') ? '&' : '?'}n=${index}` : target, {
              cache: 'no-store',
              signal: controller.signal,
            });
            const reader = response.body!.getReader();
            for (;;) {
              const { done, value } = await reader.read();
              if (done) break;
              total += value.byteLength;
            }
          } catch (error) {
            if (!controller.signal.aborted) throw error;
          }
        }),
      );
      clearTimeout(timer);
      return { ms: performance.now() - started, bytes: total };
    },
    { target: url, n: count, deadline: deadlineMs },
  );
  return bytes / 1e6 / (ms / 1000);
}

export async function smallGetLatencies(page: InPage, url: string, count: number): Promise<number[]> {
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
