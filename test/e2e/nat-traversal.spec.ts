import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backgroundState } from '../helpers/chromium';
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
});
