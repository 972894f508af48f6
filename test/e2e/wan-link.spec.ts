import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { shortPeerId } from '../../extension/background/peers/peer-registry';
import { DEFAULT_SETTINGS } from '../../extension/core/settings';
import {
  backgroundState,
  launchWithExtension,
  waitFor,
  waitForRoutedScripts,
  type ExtensionBrowser,
} from '../helpers/chromium';
import { DEV_ORIGIN_ADDRESS, DEV_PRIVATE_ALLOW_LIST } from '../helpers/origin-server';
import { runBytes, runResults, startRuns } from '../helpers/page-runs';
import { outputMatch } from '../helpers/child-output';
import { createWanLink, FAR_ADDRESS, NEAR_ADDRESS, type WanLink } from '../helpers/wan-link';
import { closeAll } from '../helpers/close-all';

/**
 * The tunnel over a real path, not loopback (test/helpers/wan-link.ts): the requester's Chromium in
 * one network namespace; two exits, the origin and signaling in another; between them only an
 * emulated 50 Mbit/s link with 25 ms each way (RTT 50 ms) and 1 % loss in each direction. The
 * requester stripes each exit over four peer connections (`lanesPerExit`, core/peers/lanes.ts), so
 * frames arrive out of order across lanes and are put back. A routed 5 MB GET arrives whole and
 * hash-checked; an exit killed mid-transfer over the link is noticed and the GET resumes from the
 * other one; one lane cut off for 8 s mid-transfer holds nothing up for long: what it carried is
 * sent again on the others, and the peer is not lost. Bounded: the suite's own budget is 90 s of transfer.
 */
const BIG_BYTES = 5 * 1024 * 1024;

let link: WanLink;
let far: { originPort: number; signalingUrl: string; bigSha256: string; exitResolver: string };
let exits: ExtensionBrowser[] = [];
let requester: ExtensionBrowser;
let page: Page;
const dataUrl = (path: string) => `http://origin.peerlane.test:${far.originPort}${path}`;

beforeAll(async () => {
  link = await createWanLink({ oneWayDelayMs: 25, loss: 0.01 });
  const servers = link.spawnIn(link.far, process.execPath, [
    '--import',
    'tsx',
    'test/helpers/far-side-main.ts',
    String(BIG_BYTES),
  ]);
  far = JSON.parse((await outputMatch(servers, /^\{.*\}$/m, 'the far side servers'))[0]) as typeof far;
  const exitWrapper = await link.wrapper(link.far, '/usr/bin/chromium');
  exits = await Promise.all(
    [0, 1].map(async () => {
      const exit = await launchWithExtension(
        [`MAP origin.peerlane.test ${DEV_ORIGIN_ADDRESS}`],
        [],
        undefined,
        exitWrapper,
      );
      await exit.setSettings({
        signalingUrl: far.signalingUrl,
        exitResolver: far.exitResolver,
        share: true,
        stunServers: [],
        privateAllowList: DEV_PRIVATE_ALLOW_LIST,
        exitPorts: [...DEFAULT_SETTINGS.exitPorts, far.originPort],
      });
      return exit;
    }),
  );
  // The requester cannot resolve the origin: what it reads came through an exit, across the link.
  requester = await launchWithExtension(
    ['MAP origin.peerlane.test ~NOTFOUND', `MAP app.peerlane.test ${FAR_ADDRESS}`],
    [],
    undefined,
    await link.wrapper(link.near, '/usr/bin/chromium'),
  );
  // Four peer connections per exit, frames striped over them: the way through a lossy path (one alone
  // gets ~0.25 MB/s here). Chosen automatically, as by default: the first lane measures the 50 ms round trip, then the rest open.
  await requester.setSettings({
    signalingUrl: far.signalingUrl,
    stunServers: [],
    lanesPerExit: 4,
    autoLanes: true,
    routedOrigins: [`http://app.peerlane.test:${far.originPort}`],
  });
  await waitForRoutedScripts(requester);
  await waitFor(
    async () => (await backgroundState(requester)).peers.filter((peer) => peer.remoteRole === 'exit').length,
    (count) => count === 2,
    'both exits connected over the link',
    60_000,
  );
  // Every exit reached over four open connections, as the popup shows them.
  await waitFor(
    async () =>
      (await backgroundState(requester)).peers.filter((peer) => peer.remoteRole === 'exit').map((peer) => peer.lanes),
    (lanes) => lanes.length === 2 && lanes.every((count) => count === 4),
    'four lanes to each exit',
    30_000,
  );
  page = await requester.context.newPage();
  await page.goto(`http://app.peerlane.test:${far.originPort}/app`);
}, 120_000);

afterAll(async () => {
  await closeAll(requester).catch(() => undefined);
  for (const exit of exits) await exit.close().catch(() => undefined);
  await closeAll(link);
});

describe('the tunnel over an emulated path (RTT 50 ms, 1 % loss each way, 50 Mbit/s), four lanes per exit', () => {
  it("a routed 5 MB GET arrives whole: the SHA-256 of what the page read is the origin body's", async () => {
    await startRuns(page, [{ key: 'big', url: dataUrl('/big.bin') }]);
    expect((await runResults(page, ['big'])).big).toMatchObject({ status: 200, sha256: far.bigSha256 });
  }, 60_000);

  it('an exit killed mid-transfer is noticed over the link and the GET resumes from the other exit, byte-exact', async () => {
    // 5 MB trickled over 8 s with validators and ranges: the kill lands mid-body.
    await startRuns(page, [{ key: 'paced', url: dataUrl('/paced.bin?ms=8000') }]);
    const readSoFar = async () => (await runBytes(page, ['paced']))[0]!;
    await expect.poll(readSoFar, { timeout: 20_000, interval: 100 }).toBeGreaterThan(512 * 1024);
    const busy = (await backgroundState(requester)).peers.find(
      (peer) => peer.remoteRole === 'exit' && peer.inflight > 0,
    );
    expect(busy, 'an exit carries the transfer').toBeDefined();
    // The popup's peer list shows short ids.
    const ids = await Promise.all(
      exits.map(async (exit) => shortPeerId((await backgroundState(exit)).transport.selfId ?? '')),
    );
    const victim = exits[ids.indexOf(busy!.peerId)]!;
    expect(victim, 'the carrying exit is one of ours').toBeDefined();
    const bytesAtKill = await readSoFar();
    await victim.close();
    exits = exits.filter((exit) => exit !== victim);
    expect((await runResults(page, ['paced'])).paced).toMatchObject({ status: 200, sha256: far.bigSha256 });
    expect(bytesAtKill).toBeLessThan(BIG_BYTES);
    const state = await backgroundState(requester);
    expect(state.stats.resumes).toBeGreaterThanOrEqual(1);
    expect(state.peers.filter((peer) => peer.remoteRole === 'exit').map((peer) => peer.peerId)).not.toContain(
      busy!.peerId,
    );
  }, 60_000);

  // After the kill: one exit is left, reached over four peer connections (four of the requester's ICE sockets on the link carry it).
  it('one lane cut off for 8 s mid-transfer: its messages are sent again on the other lanes, the GET goes on and the peer is kept', async () => {
    const counting = link.countUdpPorts(link.near, link.udpPorts(link.near, NEAR_ADDRESS));
    const before = await backgroundState(requester);
    const exitPeer = before.peers.find((peer) => peer.remoteRole === 'exit')!;
    await startRuns(page, [{ key: 'stalled', url: dataUrl('/paced.bin?ms=8000') }]);
    const readSoFar = async () => (await runBytes(page, ['stalled']))[0]!;
    await expect.poll(readSoFar, { timeout: 20_000, interval: 100 }).toBeGreaterThan(1024 * 1024);
    // The lanes are the sockets that carried the transfer so far (the requester's credit and acknowledgements go out on them).
    const sent = [...counting.sent()].sort((a, b) => b[1] - a[1]);
    counting.remove();
    expect(
      sent.filter(([, packets]) => packets > 20),
      'four sockets carry the transfer, one per lane',
    ).toHaveLength(4);
    // Both directions of one peer connection dropped: its association stalls in retransmission
    // backoff, as one does on a bad path, for longer than the registry gives a silent peer (6 s).
    const bytesAtCut = await readSoFar();
    const cutAt = Date.now();
    const restore = link.stallUdpPort(link.near, sent[0]![0]);
    try {
      // The other lanes carry on while the cut one holds what it was given.
      await expect.poll(readSoFar, { timeout: 30_000, interval: 200 }).toBeGreaterThan(bytesAtCut + 2 * 1024 * 1024);
    } finally {
      // The fault lasts 8 s whatever the transfer did meanwhile: its length, not a wait for an event.
      const left = 8000 - (Date.now() - cutAt);
      if (left > 0) await new Promise((resolve) => setTimeout(resolve, left));
      restore();
    }
    expect((await runResults(page, ['stalled'])).stalled).toMatchObject({ status: 200, sha256: far.bigSha256 });
    const after = await backgroundState(requester);
    expect(after.peers.find((peer) => peer.remoteRole === 'exit')?.peerId, 'the same exit, never dropped').toBe(
      exitPeer.peerId,
    );
    expect(after.stats.resumes).toBe(before.stats.resumes);
    expect(after.stats.retries).toBe(before.stats.retries);
    // Both ends report what the cut cost (the transport tells the background every 3 s).
    await waitFor(
      async () =>
        (await backgroundState(requester)).peers.find((peer) => peer.remoteRole === 'exit')?.laneRecovery.asked ?? 0,
      (asked) => asked > 0,
      "the requester asked for the cut lane's messages",
      10_000,
    );
    await waitFor(
      async () =>
        (await backgroundState(exits[0]!)).peers.find((peer) => peer.remoteRole === 'requester')?.laneRecovery.resent ??
        0,
      (resent) => resent > 0,
      'the exit sent them again',
      10_000,
    );
  }, 60_000);
});
