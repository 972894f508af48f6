import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { backgroundState, waitFor } from '../helpers/chromium';
import type { NatBehaviour } from '../helpers/nat-lab';
import { startNatScene, type NatScene } from '../helpers/nat-scene';

/**
 * ICE across NATs, in namespaces (test/helpers/nat-lab.ts, nat-scene.ts): two browsers each behind
 * its own NAT router, coturn and the signaling server on the "public" side. Each attempt is a fresh
 * requester that routes a 256 KiB GET through the exit, hash-checked. Behind cone NATs the browsers
 * learn server-reflexive candidates, report `cone` and connect directly; behind symmetric NATs they
 * report `symmetric`, signaling introduces them with the relay, and they connect through coturn.
 * `npm run bench:nat` runs every pair of NAT kinds many times; these are two of its rows, once.
 */
const ATTEMPT_DEADLINE_MS = 20_000;
let scene: NatScene;

beforeAll(async () => {
  scene = await startNatScene();
}, 60_000);
afterAll(async () => {
  await scene.close();
});

describe('ICE across NATs (namespaces, coturn as STUN and TURN)', () => {
  it('behind port-restricted cone NATs: reported as cone, connected directly by reflexive candidates', async () => {
    await scene.startExit({ requester: 'port-restricted', exit: 'port-restricted' });
    const attempt = await scene.attempt({ deadlineMs: ATTEMPT_DEADLINE_MS });
    expect(attempt).toMatchObject({ ok: true, failure: null, nat: { requester: 'cone', exit: 'cone' } });
    // Neither host address is reachable from the other home: ICE found the NATs' mappings.
    expect(attempt.path).toBe('direct');
    expect(attempt.pair).toMatch(/^(srflx|prflx)→(srflx|prflx)$/);
  }, 90_000);

  it('behind symmetric NATs: reported as symmetric, introduced with the relay, connected through coturn on both ends', async () => {
    await scene.startExit({ requester: 'symmetric', exit: 'symmetric' });
    const attempt = await scene.attempt({
      deadlineMs: ATTEMPT_DEADLINE_MS,
      inspect: async () => {
        const exitPeers = (await backgroundState(scene.exit!)).peers;
        expect(exitPeers.map((peer) => peer.path)).toEqual(['relayed']);
      },
    });
    expect(attempt).toMatchObject({ ok: true, failure: null, nat: { requester: 'symmetric', exit: 'symmetric' } });
    expect(attempt.path).toBe('relayed');
    expect(attempt.pair).toMatch(/relay/);
    expect(scene.coturn.log()).toMatch(/ALLOCATE processed, success/);
  }, 90_000);

  it('a requester cut off for 10 s and back on another public address keeps its exit: ICE restarts, the GET carries on on the same connection', async () => {
    await expectPeerKeptThroughMove('a', { requester: 'symmetric', exit: 'port-restricted' }, '10.88.1.3');
  }, 150_000);
});

/**
 * The home behind `router` (a: the requester's, b: the exit's) is cut off for 10 s in the middle of
 * a GET and comes back on another public address (`expectedAddress`): the GET completes on the same
 * connection to the same peer, nothing dropped, retried or resumed by range.
 */
async function expectPeerKeptThroughMove(
  router: 'a' | 'b',
  behaviours: { requester: NatBehaviour; exit: NatBehaviour },
  expectedAddress: string,
): Promise<void> {
  await scene.startExit(behaviours);
  const requester = await scene.requester();
  const exitPeers = async () =>
    (await backgroundState(requester.browser)).peers
      .filter((peer) => peer.remoteRole === 'exit')
      .map((peer) => peer.peerId);
  try {
    // 256 KiB trickled over 12 s: the cut falls in the middle of the body.
    const answer = requester.get('/paced.bin?ms=12000', 90_000);
    await waitFor(
      () => requester.received(),
      (bytes) => bytes > 0,
      'the first body bytes',
      30_000,
    );
    const exitBefore = await exitPeers();
    expect(exitBefore).toHaveLength(1);
    scene.net.cut(router, true);
    await sleep(10_000); // the outage itself, not a wait for something
    expect(scene.net.moveHome(router)).toBe(expectedAddress);
    scene.net.cut(router, false);
    expect(await answer).toMatchObject({ status: 200, error: null, intact: true });
    expect(await exitPeers()).toEqual(exitBefore);
    expect((await backgroundState(requester.browser)).stats).toMatchObject({
      resumes: 0,
      retries: 0,
      failed: 0,
      failedByCategory: {},
    });
    expect((await backgroundState(scene.exit!)).peers).toHaveLength(1);
  } finally {
    await requester.close();
  }
}

describe('without a relay from signaling', () => {
  let bare: NatScene;
  beforeAll(async () => {
    bare = await startNatScene(undefined, { relay: false });
  }, 60_000);
  afterAll(async () => {
    await bare.close();
  });

  it('two symmetric NATs cannot meet: the requester is told at once, its GET fails with the reason, and the popup says why', async () => {
    await bare.startExit({ requester: 'symmetric', exit: 'symmetric' });
    const requester = await bare.requester();
    try {
      // Well inside the 60 s request timeout a GET would otherwise wait for an exit.
      const answer = await requester.get('/big.bin', 20_000);
      console.info(
        `[nat] an impossible pair failed ${Date.now() - requester.startedAt} ms after the requester started`,
      );
      expect(answer).toMatchObject({ headAt: null, intact: false });
      expect(answer.error).toMatch(/no_peers.*1 exit is online, but none can reach this browser.*no relay/);
      const state = await backgroundState(requester.browser);
      expect(state.transport).toMatchObject({ nat: 'symmetric', availableExits: 0, unreachableExits: 1 });
      expect(state.peers).toEqual([]);
      const popup = await requester.browser.context.newPage();
      await popup.goto(`chrome-extension://${requester.browser.extensionId}/extension/ui/popup.html`);
      await popup.getByTestId('tab-peers').click();
      await expect
        .poll(() => popup.getByTestId('available-exits').textContent())
        .toMatch(/^Exits online: 1, but none can reach you: .* no relay \(TURN\)/);
      await popup.screenshot({ path: 'test/artifacts/popup-no-reachable-exit.png' });
    } finally {
      await requester.close();
    }
  }, 90_000);
});
