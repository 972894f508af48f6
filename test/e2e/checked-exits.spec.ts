import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS } from '../../extension/core/settings';
import { startSignalingServer, type SignalingServer } from '../../signaling-server/server';
import {
  backgroundState,
  launchWithExtension,
  waitFor,
  waitForRoutedScripts,
  type ExtensionBrowser,
} from '../helpers/chromium';
import {
  ALTERING_ORIGIN_ADDRESS,
  DELAYING_ORIGIN_ADDRESS,
  DEV_ORIGIN_ADDRESS,
  DEV_PRIVATE_ALLOW_LIST,
  startOriginServer,
  type OriginServer,
} from '../helpers/origin-server';
import { closeAll } from '../helpers/close-all';

/**
 * Checked exits in four real Chromium: a requester connected to three exits, one of which alters
 * answers. The test's switch for that is the liar's browser only: it resolves the origin's name to
 * an address where the origin serves `/checked/*` with another body under the same strong ETag, so
 * the liar's extension is the shipped one and its altered bytes really cross the data channel.
 * The requester checks every checkable answer (100 %); within a bounded number of requests it must
 * catch the liar, drop it, list it in the popup and report it, and signaling (threshold 1 here)
 * must stop introducing it. One honest exit is slow on some paths, so a hedge overtakes it: its late
 * answer, read to the end instead of cancelled, is then the check's second answer.
 */
let origin: OriginServer;
let signaling: SignalingServer;
let requester: ExtensionBrowser;
let honest: ExtensionBrowser[] = [];
let liar: ExtensionBrowser;
let appOrigin: string;
let dataOrigin: string;
let liarId = '';

const MAX_REQUESTS = 20;

beforeAll(async () => {
  origin = await startOriginServer({ alsoListenOn: [ALTERING_ORIGIN_ADDRESS, DELAYING_ORIGIN_ADDRESS] });
  // Fresh identities report here: the age a report needs (a day by default) is waived.
  signaling = await startSignalingServer({ port: 0, reportThreshold: 1, reportMinAgeMs: 0 });
  appOrigin = `http://app.peerlane.test:${origin.port}`;
  dataOrigin = `http://origin.peerlane.test:${origin.port}`;
  const exitSettings = {
    signalingUrl: signaling.url,
    share: true,
    exitPorts: [...DEFAULT_SETTINGS.exitPorts, origin.port],
  };
  [honest[0], honest[1], liar, requester] = await Promise.all([
    launchWithExtension([`MAP origin.peerlane.test ${DEV_ORIGIN_ADDRESS}`]),
    // Honest too, but slow on `/checked/slow-*`: the exit a hedge overtakes.
    launchWithExtension([`MAP origin.peerlane.test ${DELAYING_ORIGIN_ADDRESS}`]),
    launchWithExtension([`MAP origin.peerlane.test ${ALTERING_ORIGIN_ADDRESS}`]),
    launchWithExtension(['MAP origin.peerlane.test ~NOTFOUND', 'MAP app.peerlane.test 127.0.0.1']),
  ]);
  honest = honest.slice(0, 2);
  await Promise.all([
    honest[0]!.setSettings({ ...exitSettings, privateAllowList: DEV_PRIVATE_ALLOW_LIST }),
    honest[1]!.setSettings({ ...exitSettings, privateAllowList: [`${DELAYING_ORIGIN_ADDRESS}/32`] }),
    liar.setSettings({ ...exitSettings, privateAllowList: [`${ALTERING_ORIGIN_ADDRESS}/32`] }),
  ]);
  liarId =
    (await waitFor(
      async () => (await backgroundState(liar)).transport.selfId,
      (id) => id !== null,
      'the liar registered',
    )) ?? '';
  await requester.setSettings({ signalingUrl: signaling.url, routedOrigins: [appOrigin], checkExitsPercent: 100 });
  await waitForRoutedScripts(requester);
  await waitFor(
    async () => (await backgroundState(requester)).stats.peers,
    (peers) => peers === 3,
    'three exit peers',
    60_000,
  );
}, 120_000);

afterAll(async () => {
  await Promise.all([closeAll(requester), closeAll(liar), ...honest.map((exit) => exit.close())]);
  await closeAll(signaling, origin);
});

/** Every check started has ended (agreed, undecided or flagged). */
const checksSettled = async (): Promise<{ run: number; flagged: number }> => {
  const { stats } = await backgroundState(requester);
  return {
    run: stats.exitChecks,
    flagged:
      stats.exitChecks === stats.exitChecksAgreed + stats.exitChecksInconclusive + stats.exitsFlagged
        ? stats.exitsFlagged
        : -1,
  };
};

/** The exit that supplied each answer in the requester's routed cache (its IndexedDB, read in the service worker). */
const cachedExits = (): Promise<string[]> =>
  requester.worker.evaluate(
    () =>
      new Promise<string[]>((resolve, reject) => {
        const opening = indexedDB.open('peerlane-routed-cache');
        opening.onerror = () => reject(new Error(String(opening.error)));
        opening.onsuccess = () => {
          const reading = opening.result.transaction('metas').objectStore('metas').getAll();
          reading.onerror = () => reject(new Error(String(reading.error)));
          reading.onsuccess = () => resolve((reading.result as { exit: string }[]).map((meta) => meta.exit));
        };
      }),
  );

describe('checked exits', () => {
  it('an exit that alters answers is caught, dropped, listed in the popup and reported; nothing it supplied stays cached', async () => {
    const page = await requester.context.newPage();
    await page.goto(`${appOrigin}/app`);
    // Private answers (never checked) fill the routed cache from all three exits, the liar among them
    // (a new exit gets a small share while warming up: up to 100 requests until it has supplied one).
    for (let index = 0; index < 100 && !(await cachedExits()).includes(liarId); index += 1)
      await page.evaluate(
        async (url) => (await fetch(url)).text(),
        `${dataOrigin}/cached?k=before-${index}&cc=private%2C%20max-age%3D3600`,
      );
    expect((await cachedExits()).filter((exit) => exit === liarId).length).toBeGreaterThan(0);
    const bodies: string[] = [];
    let requests = 0;
    for (; requests < MAX_REQUESTS; requests += 1) {
      bodies.push(await page.evaluate(async (url) => (await fetch(url)).text(), `${dataOrigin}/checked/n${requests}`));
      const settled = await waitFor(
        checksSettled,
        (now) => now.run === requests + 1 && now.flagged >= 0,
        `check ${requests + 1} settled`,
        20_000,
      );
      if (settled.flagged > 0) break;
    }
    expect(requests).toBeLessThan(MAX_REQUESTS);
    console.info(`[checked exits] the liar was caught at request ${requests + 1} (checks at 100 %, three exits)`);
    // The page got an answer every time, through a peer; only the liar's copies were altered.
    expect(bodies.every((body) => /^checked n\d+: (as the origin sent it|altered on the way)\n$/.test(body))).toBe(
      true,
    );
    const state = await backgroundState(requester);
    expect(state.stats.exitsFlagged).toBe(1);
    expect(state.flaggedExits.map((flagged) => flagged.peerId)).toEqual([liarId.slice(0, 8)]);
    expect(state.flaggedExits[0]!.url).toMatch(/\/checked\/n\d+$/);
    // Dropped at once: the requester no longer holds a connection to the liar, nor asks for it again.
    await waitFor(
      async () => (await backgroundState(requester)).peers.map((peer) => peer.peerId),
      (ids) => !ids.includes(liarId.slice(0, 8)),
      'the liar dropped',
      10_000,
    );
    expect((await backgroundState(requester)).settings.checkExitsPercent).toBe(100);
    // Reported: signaling (threshold 1) counts the exit as flagged and introduces it to no one.
    const health = (await (await fetch(`http://127.0.0.1:${signaling.port}/healthz`)).json()) as {
      flaggedExits: number;
    };
    expect(health.flaggedExits).toBe(1);
    // Everything the liar supplied left the cache; what the honest exits supplied stayed.
    await expect.poll(async () => (await cachedExits()).includes(liarId)).toBe(false);
    expect((await cachedExits()).length).toBeGreaterThan(0);
    await page.close();
  });

  it('the popup lists the caught exit under Peers, with the checks counted', async () => {
    const popup = await requester.context.newPage();
    await popup.setViewportSize({ width: 360, height: 640 });
    await popup.goto(`chrome-extension://${requester.extensionId}/extension/ui/popup.html`);
    await popup.getByTestId('tab-peers').click();
    const flagged = popup.getByTestId(`flagged-${liarId.slice(0, 8)}`);
    await expect.poll(() => flagged.textContent()).toMatch(/altered an answer/);
    expect(await flagged.textContent()).toMatch(/\/checked\/n\d+/);
    expect(await popup.getByTestId('checks-summary').textContent()).toMatch(
      /^100% of small public answers are compared with another exit's: \d+ compared \(\d+ with a hedge's answer\), \d+ agreed, 0 undecided\.$/,
    );
    await popup.screenshot({ path: 'test/artifacts/popup-checked-exits.png' });
    await popup.close();
  });

  it('routing goes on through the honest exits, and the liar is not connected again', async () => {
    const page = await requester.context.newPage();
    await page.goto(`${appOrigin}/app`);
    for (let index = 0; index < 4; index += 1) {
      expect(await page.evaluate(async (url) => (await fetch(url)).text(), `${dataOrigin}/checked/after${index}`)).toBe(
        `checked after${index}: as the origin sent it\n`,
      );
    }
    const state = await backgroundState(requester);
    expect(state.peers.filter((peer) => peer.remoteRole === 'exit').map((peer) => peer.peerId)).not.toContain(
      liarId.slice(0, 8),
    );
    expect(state.stats.exitsFlagged).toBe(1);
    // The liar itself saw its requester go.
    await waitFor(
      async () => (await backgroundState(liar)).peers.filter((peer) => peer.remoteRole === 'requester').length,
      (count) => count === 0,
      'the liar lost its requester',
      10_000,
    );
    await page.close();
  });

  it("a hedge that overtakes a slow exit makes the slow exit's late answer the check's second one", async () => {
    const page = await requester.context.newPage();
    await page.goto(`${appOrigin}/app`);
    const fetchAll = (urls: string[]) =>
      page.evaluate(async (list) => Promise.all(list.map(async (url) => (await fetch(url)).text())), urls);
    // The queue hedges after the recent p95 time to first byte, once it has ten samples.
    await fetchAll(Array.from({ length: 12 }, (_, index) => `${dataOrigin}/checked/warm-${index}`));
    const before = (await backgroundState(requester)).stats;
    for (let batch = 0; batch < 5; batch += 1) {
      // Four at once: the balancer spreads them, so some start on the slow exit and are hedged.
      const urls = Array.from({ length: 4 }, (_, index) => `${dataOrigin}/checked/slow-${batch}-${index}`);
      expect(await fetchAll(urls)).toEqual(
        urls.map((url) => `checked ${url.split('/').pop()}: as the origin sent it\n`),
      );
      const stats = await waitFor(
        async () => (await backgroundState(requester)).stats,
        (now) => now.exitChecks === now.exitChecksAgreed + now.exitChecksInconclusive + now.exitsFlagged,
        'checks settled',
        20_000,
      );
      if (stats.exitChecksFromHedges > before.exitChecksFromHedges) break;
    }
    const after = (await backgroundState(requester)).stats;
    console.info(
      `[checked exits] hedges won ${after.hedgesWon - before.hedgesWon}, checks answered by a hedge's loser ${after.exitChecksFromHedges - before.exitChecksFromHedges} of ${after.exitChecks - before.exitChecks}`,
    );
    expect(after.hedgesWon).toBeGreaterThan(before.hedgesWon);
    expect(after.exitChecksFromHedges).toBeGreaterThan(before.exitChecksFromHedges);
    // Honest answers, however late, agree: no one else is flagged.
    expect(after.exitChecksAgreed).toBeGreaterThan(before.exitChecksAgreed);
    expect(after.exitsFlagged).toBe(1);
    await page.close();
  });

  it('the person may forgive a caught exit on the options page; signaling still stops introducing it', async () => {
    const options = await requester.context.newPage();
    await options.goto(`chrome-extension://${requester.extensionId}/extension/ui/options.html`);
    await expect.poll(() => options.getByTestId('flagged-count').textContent()).toBe('(1 caught so far)');
    await options.getByTestId('flagged-forget').click();
    await expect.poll(() => options.getByTestId('flagged-count').textContent()).toBe('(0 caught so far)');
    expect(await options.getByTestId('flagged-forget').isDisabled()).toBe(true);
    await waitFor(
      async () => (await backgroundState(requester)).flaggedExits.length,
      (count) => count === 0,
      'the flagged list emptied',
    );
    // Asking signaling again brings no one new: the report (threshold 1 here) keeps the liar out.
    const page = await requester.context.newPage();
    await page.goto(`${appOrigin}/app`);
    expect(await page.evaluate(async (url) => (await fetch(url)).text(), `${dataOrigin}/checked/forgiven`)).toBe(
      'checked forgiven: as the origin sent it\n',
    );
    const state = await backgroundState(requester);
    expect(
      state.peers
        .filter((peer) => peer.remoteRole === 'exit')
        .map((peer) => peer.peerId)
        .sort(),
    ).not.toContain(liarId.slice(0, 8));
    expect(state.transport.availableExits).toBe(2);
    await page.close();
    await options.close();
  });
});
