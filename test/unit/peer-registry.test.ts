import { describe, expect, it } from 'vitest';
import { PEER_SILENCE_MS, PING_INTERVAL_MS, PeerRegistry } from '../../extension/background/peers/peer-registry';
import { encodeFrame } from '../../extension/core/protocol/codec';
import { PROTOCOL_VERSION } from '../../extension/core/protocol/frames';
import { FakeClock } from '../helpers/fake-clock';

/**
 * The registry's liveness: a silent peer is dropped after PEER_SILENCE_MS, except while the
 * transport says it is restarting the peer's path (ICE restart after a network change), and again
 * once the path is back.
 */
function registry() {
  const clock = new FakeClock();
  const closed: { peerId: string; reason: string }[] = [];
  const peers = new PeerRegistry({
    clock,
    every: (ms, callback) => {
      let handle = 0;
      const tick = (): void => {
        callback();
        handle = clock.setTimeout(tick, ms);
      };
      handle = clock.setTimeout(tick, ms);
      return { cancel: () => clock.clearTimeout(handle) };
    },
    send: () => undefined,
    closePeer: (peerId, reason) => closed.push({ peerId, reason }),
    hello: () => ({ version: PROTOCOL_VERSION, role: 'requester', capabilities: [], exitCapacity: 0 }),
    exitHandlerFor: () => () => undefined,
    exitAvailable: () => undefined,
    exitGone: () => undefined,
    protocolError: () => undefined,
  });
  peers.up('exit-1', 'exit', { path: 'direct', pair: { local: 'srflx', remote: 'srflx' } }, 1);
  return { clock, closed, peers };
}

describe('peer registry liveness', () => {
  it('drops a peer that stays silent past the silence bound', () => {
    const { clock, closed, peers } = registry();
    clock.advance(PEER_SILENCE_MS + 2 * PING_INTERVAL_MS);
    expect(closed).toEqual([{ peerId: 'exit-1', reason: expect.stringMatching(/^no answer for \d+ s$/) }]);
    expect(peers.get('exit-1')).toBeUndefined();
  });

  it('keeps a peer whose path is being restarted for the grace the transport gave, then drops it', () => {
    const { clock, closed, peers } = registry();
    clock.advance(3_000);
    peers.reconnecting('exit-1', 20_000);
    clock.advance(19_000);
    expect(closed).toEqual([]);
    expect(peers.get('exit-1')).toBeDefined();
    clock.advance(1_000 + PING_INTERVAL_MS);
    expect(closed.map((each) => each.peerId)).toEqual(['exit-1']);
  });

  it('judges silence again as soon as the peer is heard from after the restart', () => {
    const { clock, closed, peers } = registry();
    peers.reconnecting('exit-1', 60_000);
    clock.advance(4_000);
    // A new path alone proves nothing (ICE says "connected" mid-restart); a frame does.
    peers.pathChanged('exit-1', { path: 'relayed', pair: { local: 'relay', remote: 'prflx' } });
    expect(peers.get('exit-1')?.pair).toEqual({ local: 'relay', remote: 'prflx' });
    clock.advance(PEER_SILENCE_MS + PING_INTERVAL_MS);
    expect(closed).toEqual([]);
    peers.receive('exit-1', encodeFrame({ type: 'PONG', streamId: 0, flags: 0, nonce: 1 }));
    clock.advance(PEER_SILENCE_MS + PING_INTERVAL_MS);
    expect(closed.map((each) => each.peerId)).toEqual(['exit-1']);
  });
});
