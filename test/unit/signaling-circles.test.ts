import { afterEach, describe, expect, it } from 'vitest';
import {
  acceptRevocations,
  circlesStateFor,
  EMPTY_CIRCLES,
  join,
  readInviteLink,
  revoke,
} from '../../extension/core/circles/circles';
import { circleWithMember, findExits, registerWith, updateCircles, verdicts } from '../helpers/circles-fixture';
import { signalingFixture } from '../helpers/ws-client';

/**
 * Circles against a real signaling server on loopback: credentials made and checked by the
 * extension's own code (WebCrypto), judged by the server (node:crypto); revocations that cut a
 * member off at once and survive a server restart; independent reports that stop an exit's introductions.
 */
const { server, client, cleanup } = signalingFixture({
  heartbeatMs: 5000,
  drainMs: 500,
  reportThreshold: 2,
  reportMinAgeMs: 0,
});
afterEach(cleanup);

describe('circle credentials (extension side, pure)', () => {
  it('an invite link reads back to a signed credential; an altered one is refused with a clear error', async () => {
    const { owner, member, circle } = await circleWithMember();
    expect(member.joined[0]!.credential).toMatchObject({ circle, name: 'Family' });
    expect(owner.joined[0]!.owner).toBe(true);
    const link = owner.owned[0]!.invites[0]!.link;
    expect(await readInviteLink(link)).toEqual(member.joined[0]!.credential);
    const credential = JSON.parse(Buffer.from(link.replace('peerlane://join/', ''), 'base64url').toString());
    const renamed = `peerlane://join/${Buffer.from(JSON.stringify({ ...credential, name: 'Evil' })).toString('base64url')}`;
    await expect(readInviteLink(renamed)).rejects.toThrow(/not signed by its circle/);
    await expect(readInviteLink('https://example.com/')).rejects.toThrow(/not a Peerlane invite link/);
  });

  it('revocation lists only grow, only the owner signs them, and a revoked invite cannot be joined', async () => {
    const { owner, member, circle, inviteId } = await circleWithMember();
    const revoked = await revoke(owner, circle, inviteId);
    const list = revoked.revocations[0]!;
    expect(list).toMatchObject({ circle, version: 1, revoked: [inviteId] });
    const told = await acceptRevocations(member, list);
    expect(told).not.toBeNull();
    expect(circlesStateFor(told!, 'everyone').credentials).toEqual([]);
    expect(await acceptRevocations(told!, list)).toBeNull(); // not newer
    expect(await acceptRevocations(member, { ...list, revoked: [] })).toBeNull(); // signature no longer matches
    await expect(join(told!, owner.owned[0]!.invites[0]!.link, 5)).rejects.toThrow(/revoked/);
    await expect(revoke(member, circle, inviteId)).rejects.toThrow(/only the circle's owner/);
  });
});

describe('circles on a real signaling server', () => {
  it('a circle-only exit is introduced to members only; a forged credential is refused by name', async () => {
    const { owner, member, circle } = await circleWithMember();
    const signaling = await server();
    const exit = client(signaling.url);
    const exitId = await registerWith(exit, true, circlesStateFor(owner, 'circles'));
    expect(verdicts.get(exit)).toEqual({ type: 'circles', member: [circle], refused: [] });

    const memberClient = client(signaling.url);
    await registerWith(memberClient, false, circlesStateFor(member, 'everyone'));
    expect(await findExits(memberClient)).toEqual([expect.objectContaining({ peerId: exitId, circles: [circle] })]);

    const stranger = client(signaling.url);
    await registerWith(stranger, false);
    expect(await findExits(stranger)).toEqual([]);

    const forged = client(signaling.url);
    const credential = member.joined[0]!.credential;
    await registerWith(forged, false, {
      credentials: [{ ...credential, invite: `${credential.invite.slice(0, -2)}AA` }],
      revocations: [],
      shareWith: 'everyone',
    });
    expect(verdicts.get(forged)).toEqual({
      type: 'circles',
      member: [],
      refused: [{ circle, reason: 'bad_signature' }],
    });
    expect(await findExits(forged)).toEqual([]);
  });

  it('an exit serving both is introduced to everyone, its circle members first when they prefer it', async () => {
    const { owner, member } = await circleWithMember();
    const signaling = await server();
    const publicExit = client(signaling.url);
    const publicId = await registerWith(publicExit, true);
    const circleExit = client(signaling.url);
    const circleExitId = await registerWith(circleExit, true, circlesStateFor(owner, 'both'));
    // Busier than the public exit: without the preference it comes second.
    circleExit.send({ type: 'update', exit: true, capacity: 6, load: 5, nat: 'unknown' });
    const memberClient = client(signaling.url);
    await registerWith(memberClient, false, circlesStateFor(member, 'everyone'));
    await expect
      .poll(async () => (await findExits(memberClient, true)).map((exit) => exit.peerId))
      .toEqual([circleExitId, publicId]);
    const stranger = client(signaling.url);
    await registerWith(stranger, false);
    expect((await findExits(stranger, true)).map((exit) => exit.peerId).sort()).toEqual(
      [circleExitId, publicId].sort(),
    );
  });

  it('revoking a member cuts it off at once, and the revocation survives a restart while the owner is away', async () => {
    const { owner, member, circle, inviteId } = await circleWithMember();
    const signaling = await server();
    const exit = client(signaling.url);
    const exitId = await registerWith(exit, true, circlesStateFor(owner, 'circles'));
    const memberClient = client(signaling.url);
    const memberId = await registerWith(memberClient, false, circlesStateFor(member, 'everyone'));
    expect((await findExits(memberClient)).map((entry) => entry.peerId)).toEqual([exitId]);

    // The owner (here also the exit) revokes: one update carrying the new signed list.
    const revoked = await revoke(owner, circle, inviteId);
    updateCircles(exit, true, circlesStateFor(revoked, 'circles'));
    expect(await exit.next('access-ended')).toMatchObject({ peerId: memberId });
    expect(await memberClient.next('access-ended')).toMatchObject({ peerId: exitId });
    expect(await memberClient.next('circles')).toEqual({
      type: 'circles',
      member: [],
      refused: [{ circle, reason: 'revoked' }],
    });
    expect((await memberClient.next('circle-revocation')).list).toMatchObject({ version: 1, revoked: [inviteId] });
    expect(await findExits(memberClient)).toEqual([]);
    // Relaying to the former partner is refused too.
    memberClient.send({ type: 'signal', to: exitId, data: { type: 'offer', sdp: 'v=0' } });
    expect(await memberClient.next('error')).toMatchObject({ code: 'unknown_peer' });

    // Restart: the exit hands the list back; the member, still presenting its old credential, is refused.
    const port = signaling.port;
    await signaling.close();
    const restarted = await server({ port });
    const exitAgain = client(restarted.url, undefined, exit.identity);
    await registerWith(exitAgain, true, circlesStateFor(revoked, 'circles'));
    const memberAgain = client(restarted.url, undefined, memberClient.identity);
    await registerWith(memberAgain, false, circlesStateFor(member, 'everyone'));
    expect(verdicts.get(memberAgain)).toMatchObject({ member: [], refused: [{ circle, reason: 'revoked' }] });
    expect(await findExits(memberAgain)).toEqual([]);
  });

  it('leaving a circle, or an exit narrowing to its circles, ends pairings that no longer hold', async () => {
    const { owner, member } = await circleWithMember();
    const signaling = await server();
    const exit = client(signaling.url);
    const exitId = await registerWith(exit, true, circlesStateFor(owner, 'everyone'));
    const stranger = client(signaling.url);
    const strangerId = await registerWith(stranger, false);
    const memberClient = client(signaling.url);
    const memberId = await registerWith(memberClient, false, circlesStateFor(member, 'everyone'));
    expect((await findExits(stranger)).map((entry) => entry.peerId)).toEqual([exitId]);
    expect((await findExits(memberClient)).map((entry) => entry.peerId)).toEqual([exitId]);

    updateCircles(exit, true, circlesStateFor(owner, 'circles'));
    expect(await exit.next('access-ended')).toMatchObject({ peerId: strangerId });
    expect(await stranger.next('access-ended')).toMatchObject({ peerId: exitId });

    updateCircles(memberClient, false, circlesStateFor(EMPTY_CIRCLES, 'everyone'));
    expect(await exit.next('access-ended')).toMatchObject({ peerId: memberId });
    expect(await findExits(memberClient)).toEqual([]);
  });
});

describe('reports of exits that answer differently', () => {
  it('stops introducing an exit reported by enough independent requesters that were introduced to it', async () => {
    const signaling = await server();
    const exit = client(signaling.url);
    const exitId = await registerWith(exit, true);
    const outsider = client(signaling.url);
    await registerWith(outsider, false);
    const first = client(signaling.url);
    await registerWith(first, false);
    const second = client(signaling.url);
    await registerWith(second, false);
    expect((await findExits(first)).map((entry) => entry.peerId)).toEqual([exitId]);
    expect((await findExits(second)).map((entry) => entry.peerId)).toEqual([exitId]);

    // Not introduced to it: does not count. The same reporter twice: counts once.
    outsider.send({ type: 'report-exit', peerId: exitId, reason: 'altered_body' });
    first.send({ type: 'report-exit', peerId: exitId, reason: 'altered_body' });
    first.send({ type: 'report-exit', peerId: exitId, reason: 'altered_body' });
    expect((await findExits(outsider)).map((entry) => entry.peerId)).toEqual([exitId]);
    second.send({ type: 'report-exit', peerId: exitId, reason: 'altered_body' });
    await expect.poll(async () => (await findExits(outsider)).length).toBe(0);
    const health = (await (await fetch(signaling.url.replace('ws', 'http') + '/healthz')).json()) as {
      flaggedExits: number;
    };
    expect(health.flaggedExits).toBe(1);
  });

  it('counts a report only from an identity old enough, or from a circle member (Sybil resistance)', async () => {
    const { member } = await circleWithMember();
    const signaling = await server({ reportThreshold: 1, reportMinAgeMs: 60_000 });
    const exit = client(signaling.url);
    const exitId = await registerWith(exit, true);
    const fresh = client(signaling.url);
    await registerWith(fresh, false);
    const vouched = client(signaling.url);
    await registerWith(vouched, false, circlesStateFor(member, 'everyone'));
    expect((await findExits(fresh)).map((entry) => entry.peerId)).toEqual([exitId]);
    expect((await findExits(vouched)).map((entry) => entry.peerId)).toEqual([exitId]);
    // A minute-old identity is not yet old enough: its report is ignored (threshold 1).
    fresh.send({ type: 'report-exit', peerId: exitId, reason: 'altered_body' });
    expect((await findExits(fresh)).map((entry) => entry.peerId)).toEqual([exitId]);
    // A circle member's counts at once.
    vouched.send({ type: 'report-exit', peerId: exitId, reason: 'altered_body' });
    await expect.poll(async () => (await findExits(fresh)).length).toBe(0);
  });
});
