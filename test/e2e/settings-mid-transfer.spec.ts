import { createHash } from 'node:crypto';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS } from '../../extension/core/settings';
import { backgroundState, type ExtensionBrowser } from '../helpers/chromium';
import { startPeerPair, type PeerPair } from '../helpers/peer-pair';

/**
 * People change settings while their browsers work: a requester saves its options, an exit raises
 * its bandwidth cap, while a routed download is under way. The download goes on and arrives whole
 * (SHA-256), in one attempt: saving a setting once closed the session under it (the requester's
 * GET failed at once with peer_lost; the exit's left the page waiting for its timeout).
 */
const BODY_BYTES = 3 * 1024 * 1024;

let pair: PeerPair;
let page: Page;

beforeAll(async () => {
  pair = await startPeerPair({ bigBytes: BODY_BYTES });
  page = await pair.requester.context.newPage();
  await page.goto(`${pair.appOrigin}/app`);
}, 90_000);

afterAll(async () => {
  await pair?.close();
});

/** Starts a paced download (~4 s) in the page; resolves to its bytes, base64 (no crypto.subtle on this http page). */
function startDownload(marker: string): Promise<string> {
  return page.evaluate(async (url) => {
    const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
    let binary = '';
    for (let offset = 0; offset < bytes.length; offset += 0x8000) binary += String.fromCharCode(...bytes.subarray(offset, offset + 0x8000));
    return btoa(binary);
  }, `${pair.dataOrigin}/paced.bin?ms=4000&${marker}`);
}

/** Waits until the origin has sent part of that download (so the change lands mid-transfer). */
async function underWay(marker: string): Promise<void> {
  await expect.poll(() => pair.origin.requests.some((request) => request.path.endsWith(marker)), { timeout: 10_000, interval: 50 }).toBe(true);
  await expect.poll(async () => (await backgroundState(pair.requester)).stats.inflight, { timeout: 10_000, interval: 50 }).toBe(1);
}

async function arrivesWhole(download: Promise<string>, browser: ExtensionBrowser, marker: string): Promise<void> {
  const received = Buffer.from(await download, 'base64');
  expect(received.length).toBe(BODY_BYTES);
  expect(createHash('sha256').update(received).digest('hex')).toBe(pair.origin.bigSha256);
  const logged = (await backgroundState(browser)).log.filter((entry) => entry.role === 'requester' && entry.url.endsWith('/paced.bin'));
  expect(logged.at(-1)).toMatchObject({ outcome: 'ok', attempts: 1, resumed: 0 });
  expect(pair.origin.requests.filter((request) => request.path.endsWith(marker))).toHaveLength(1);
}

describe('a setting changed mid-transfer', () => {
  it('the requester saves its options: the download goes on and arrives whole, in one attempt', async () => {
    const download = startDownload('requester-saves');
    await underWay('requester-saves');
    await pair.requester.setSettings({ checkExitsPercent: 7, queue: { ...DEFAULT_SETTINGS.queue, maxQueued: 200 } });
    await expect.poll(async () => (await backgroundState(pair.requester)).settings.checkExitsPercent).toBe(7);
    await arrivesWhole(download, pair.requester, 'requester-saves');
  }, 60_000);

  it('the exit raises its bandwidth cap: the download goes on and arrives whole, in one attempt', async () => {
    const download = startDownload('exit-saves');
    await underWay('exit-saves');
    await pair.exit.setSettings({ exitCaps: { ...DEFAULT_SETTINGS.exitCaps, rateMBps: 4 } });
    await expect.poll(async () => (await backgroundState(pair.exit)).settings.exitCaps.rateMBps).toBe(4);
    await arrivesWhole(download, pair.requester, 'exit-saves');
  }, 60_000);
});
