import { createCircle, EMPTY_CIRCLES, invite, join, type CirclesStore } from '../../extension/core/circles/circles';
import type { CirclesState } from '../../protocol/signaling-messages';
import type { TestClient } from './ws-client';

/** Circles against real signaling servers: registration with circles, introductions, one owner and one member. */
const verdictsKept = new Map<TestClient, { member: string[]; refused: unknown[] }>();
export const verdicts: ReadonlyMap<TestClient, { member: string[]; refused: unknown[] }> = verdictsKept;

/** Registers; with circles, also reads the server's verdict on them (into `verdicts`). */
export async function registerWith(peer: TestClient, exit: boolean, circles?: CirclesState): Promise<string> {
  const { nonce } = await peer.next('challenge');
  peer.socket.send(
    peer.identity.register(peer.host, nonce, { exit, capacity: 6, load: 0, ...(circles ? { circles } : {}) }),
  );
  const { peerId } = await peer.next('registered');
  if (circles) verdictsKept.set(peer, await peer.next('circles'));
  return peerId;
}

export async function findExits(
  peer: TestClient,
  preferCircles = false,
): Promise<{ peerId: string; circles?: string[] }[]> {
  peer.send({ type: 'find-exits', count: 8, exclude: [], preferCircles });
  return (await peer.next('exits')).exits;
}

/** An owner with one circle and an invite accepted by a member. */
export async function circleWithMember(): Promise<{
  owner: CirclesStore;
  member: CirclesStore;
  circle: string;
  inviteId: string;
}> {
  const owner0 = await createCircle(EMPTY_CIRCLES, 'Family', 1);
  const circle = owner0.owned[0]!.circle;
  const { store: owner, link } = await invite(owner0, circle, 'Ana', 2);
  const member = await join(EMPTY_CIRCLES, link, 3);
  return { owner, member, circle, inviteId: member.joined[0]!.credential.invite };
}

/** A registered peer's `update` carrying new circles (and whom it serves): how an owner pushes a revocation. */
export function updateCircles(peer: TestClient, exit: boolean, circles: CirclesState): void {
  peer.send({ type: 'update', exit, capacity: exit ? 6 : 0, load: 0, nat: 'unknown', circles });
}
