import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { shortPeerId } from '../../extension/background/peers/peer-registry';
import { DEFAULT_SETTINGS } from '../../extension/core/settings';
import { backgroundState, launchWithExtension, waitFor, waitForRoutedScripts, type ExtensionBrowser } from '../helpers/chromium';
import { DEV_ORIGIN_ADDRESS, DEV_PRIVATE_ALLOW_LIST } from '../helpers/origin-server';
import { runBytes, runResults, startRuns } from '../helpers/page-runs';
import { outputMatch } from '../helpers/child-output';
import { createWanLink, FAR_ADDRESS, type WanLink } from '../helpers/wan-link';

/**
 * The tunnel over a real path, not loopback (test/helpers/wan-link.ts): the requester's Chromium in
 * one network namespace; two exits, the origin and signaling in another; between them only an
 * emulated 50 Mbit/s link with 25 ms each way (RTT 50 ms) and 1 % loss in each direction. The
 * requester stripes each exit over four peer connections (`lanesPerExit`, core/peers/lanes.ts), so
 * frames arrive out of order across lanes and are put back. A routed 5 MB GET arrives whole and
 * hash-checked; an exit killed mid-transfer over the link is noticed and the GET resumes from the
 * other one. Bounded: the suite's own budget is 90 s of transfer.
 */
const BIG_BYTES = 5 * 1024 * 1024;

let link: WanLink;
let far: { originPort: number; signalingUrl: string; bigSha256: string };
let exits: ExtensionBrowser[] = [];
let requester: ExtensionBrowser;
let page: Page;
const dataUrl = (path: string) => `http://origin.peerlane.test:${far.originPort}${path}`;

beforeAll(async () => {
  link = await createWanLink({ oneWayDelayMs: 25, loss: 0.01 });
  const servers = link.spawnIn(link.far, process.execPath, ['--import', 'tsx', 'test/helpers/far-side-main.ts', String(BIG_BYTES)]);
  far = JSON.parse((await outputMatch(servers, /^\{.*\}$/m, 'the far side servers'))[0]) as typeof far;
  const exitWrapper = await link.wrapper(link.far, '/usr/bin/chromium');
  exits = await Promise.all(
    [0, 1].map(async () => {
      const exit = await launchWithExtension([`MAP origin.peerlane.test ${DEV_ORIGIN_ADDRESS}`], [], undefined, exitWrapper);
      await exit.setSettings({ signalingUrl: far.signalingUrl, share: true, stunServers: [], privateAllowList: DEV_PRIVATE_ALLOW_LIST, exitPorts: [...DEFAULT_SETTINGS.exitPorts, far.originPort] });
      return exit;
    }),
  );
  // The requester cannot resolve the origin: what it reads came through an exit, across the link.
  requester = await launchWithExtension(['MAP origin.peerlane.test ~NOTFOUND', `MAP app.peerlane.test ${FAR_ADDRESS}`], [], undefined, await link.wrapper(link.near, '/usr/bin/chromium'));
  // Four peer connections per exit, frames striped over them: the way through a lossy path (one alone gets ~0.25 MB/s here).
  await requester.setSettings({ signalingUrl: far.signalingUrl, stunServers: [], lanesPerExit: 4, routedOrigins: [`http://app.peerlane.test:${far.originPort}`] });
  await waitForRoutedScripts(requester);
  await waitFor(async () => (await backgroundState(requester)).peers.filter((peer) => peer.remoteRole === 'exit').length, (count) => count === 2, 'both exits connected over the link', 60_000);
  // Every exit reached over four open connections, as the popup shows them.
  await waitFor(async () => (await backgroundState(requester)).peers.filter((peer) => peer.remoteRole === 'exit').map((peer) => peer.lanes), (lanes) => lanes.length === 2 && lanes.every((count) => count === 4), 'four lanes to each exit', 30_000);
  page = await requester.context.newPage();
  await page.goto(`http://app.peerlane.test:${far.originPort}/app`);
}, 120_000);

afterAll(async () => {
  await requester?.close().catch(() => undefined);
  for (const exit of exits) await exit.close().catch(() => undefined);
  await link?.close();
});

describe('the tunnel over an emulated path (RTT 50 ms, 1 % loss each way, 50 Mbit/s), four lanes per exit', () => {
  it('a routed 5 MB GET arrives whole: the SHA-256 of what the page read is the origin body\'s', async () => {
    await startRuns(page, [{ key: 'big', url: dataUrl('/big.bin') }]);
    expect((await runResults(page, ['big'])).big).toMatchObject({ status: 200, sha256: far.bigSha256 });
  }, 60_000);

  it('an exit killed mid-transfer is noticed over the link and the GET resumes from the other exit, byte-exact', async () => {
    // 5 MB trickled over 8 s with validators and ranges: the kill lands mid-body.
    await startRuns(page, [{ key: 'paced', url: dataUrl('/paced.bin?ms=8000') }]);
    const readSoFar = async () => (await runBytes(page, ['paced']))[0]!;
    await expect.poll(readSoFar, { timeout: 20_000, interval: 100 }).toBeGreaterThan(512 * 1024);
    const busy = (await backgroundState(requester)).peers.find((peer) => peer.remoteRole === 'exit' && peer.inflight > 0);
    expect(busy, 'an exit carries the transfer').toBeDefined();
    // The popup's peer list shows short ids.
    const ids = await Promise.all(exits.map(async (exit) => shortPeerId((await backgroundState(exit)).transport.selfId ?? '')));
    const victim = exits[ids.indexOf(busy!.peerId)]!;
    expect(victim, 'the carrying exit is one of ours').toBeDefined();
    const bytesAtKill = await readSoFar();
    await victim.close();
    exits = exits.filter((exit) => exit !== victim);
    expect((await runResults(page, ['paced'])).paced).toMatchObject({ status: 200, sha256: far.bigSha256 });
    expect(bytesAtKill).toBeLessThan(BIG_BYTES);
    const state = await backgroundState(requester);
    expect(state.stats.resumes).toBeGreaterThanOrEqual(1);
    expect(state.peers.filter((peer) => peer.remoteRole === 'exit').map((peer) => peer.peerId)).not.toContain(busy!.peerId);
  }, 60_000);
});
