import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchWithExtension, waitFor, type ExtensionBrowser } from '../helpers/chromium';
import { closeAll } from '../helpers/close-all';
import { launchFirefoxPeer, type FirefoxPeer } from '../helpers/firefox';
import { ALTERING_ORIGIN_ADDRESS, DEV_ORIGIN_ADDRESS } from '../helpers/origin-server';
import { startStage, type Stage } from '../helpers/stage';

/**
 * Checked exits with Firefox on both sides of the lie, as checked-exits.spec.ts does in Chromium: a
 * Firefox requester checks every checkable answer against a second exit; of its three exits, two
 * honest Chromium and one Firefox whose browser reaches an origin that alters bodies under the same
 * strong ETag (the shipped extension, its altered bytes really crossing the channel). Within a
 * bounded number of requests the Firefox requester must catch the Firefox liar, drop it, list it
 * and report it, and signaling (threshold 1) must stop introducing it.
 */
let stage: Stage;
let requester: FirefoxPeer;
let liar: FirefoxPeer;
let honest: ExtensionBrowser[] = [];
let liarId = '';

const MAX_REQUESTS = 20;

beforeAll(async () => {
  // Fresh identities report here: the age a report needs (a day by default) is waived.
  stage = await startStage({ alsoListenOn: [ALTERING_ORIGIN_ADDRESS] }, { reportThreshold: 1, reportMinAgeMs: 0 });
  const { signaling, appOrigin } = stage;
  honest = await Promise.all([0, 1].map(() => launchWithExtension([`MAP origin.peerlane.test ${DEV_ORIGIN_ADDRESS}`])));
  await Promise.all(honest.map((exit) => exit.setSettings(stage.exitSettings())));
  liar = await launchFirefoxPeer(['loopback.peerlane.test'], { resolveOthersTo: ALTERING_ORIGIN_ADDRESS });
  await liar.setSettings(stage.exitSettings([`${ALTERING_ORIGIN_ADDRESS}/32`]));
  liarId =
    (await waitFor(
      async () => (await liar.state()).transport.selfId,
      (id) => id !== null,
      'the Firefox liar registered',
    )) ?? '';
  requester = await launchFirefoxPeer(['app.peerlane.test']);
  await requester.setSettings({ signalingUrl: signaling.url, routedOrigins: [appOrigin], checkExitsPercent: 100 });
  await waitFor(
    async () => (await requester.state()).stats.peers,
    (peers) => peers === 3,
    'three exit peers',
    60_000,
  );
}, 120_000);

afterAll(async () => {
  await closeAll(requester, liar, ...honest);
  await stage.close();
});

describe('checked exits in Firefox', () => {
  it('a Firefox requester catches a Firefox exit that alters answers, drops it, lists it and reports it', async () => {
    const page = await requester.browser.newPage();
    await page.goto(`${stage.appOrigin}/app`);
    const bodies: string[] = [];
    let requests = 0;
    for (; requests < MAX_REQUESTS; requests += 1) {
      bodies.push(
        await page.evaluate(async (url) => (await fetch(url)).text(), `${stage.dataOrigin}/checked/n${requests}`),
      );
      const { stats } = await waitFor(
        () => requester.state(),
        (state) =>
          state.stats.exitChecks === requests + 1 &&
          state.stats.exitChecks ===
            state.stats.exitChecksAgreed + state.stats.exitChecksInconclusive + state.stats.exitsFlagged,
        `check ${requests + 1} settled`,
        20_000,
      );
      if (stats.exitsFlagged > 0) break;
    }
    expect(requests).toBeLessThan(MAX_REQUESTS);
    console.info(
      `[checked exits, Firefox] the liar was caught at request ${requests + 1} (checks at 100 %, three exits)`,
    );
    expect(bodies.every((body) => /^checked n\d+: (as the origin sent it|altered on the way)\n$/.test(body))).toBe(
      true,
    );
    const state = await requester.state();
    expect(state.flaggedExits.map((flagged) => flagged.peerId)).toEqual([liarId.slice(0, 8)]);
    await waitFor(
      async () => (await requester.state()).peers.map((peer) => peer.peerId),
      (ids) => !ids.includes(liarId.slice(0, 8)),
      'the liar dropped',
      10_000,
    );
    const health = (await (await fetch(`http://127.0.0.1:${stage.signaling.port}/healthz`)).json()) as {
      flaggedExits: number;
    };
    expect(health.flaggedExits).toBe(1);
    // Routing goes on through the honest exits.
    for (let index = 0; index < 3; index += 1)
      expect(
        await page.evaluate(async (url) => (await fetch(url)).text(), `${stage.dataOrigin}/checked/after${index}`),
      ).toBe(`checked after${index}: as the origin sent it\n`);
    await page.close();
  });
});
