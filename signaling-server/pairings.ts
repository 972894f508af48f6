import type { Logger } from 'pino';
import type { RevocationList } from '../protocol/circle-proof';
import type { CirclesState } from '../protocol/signaling-messages';
import type { ExitRecord, SignalingBus } from './bus';
import type { CircleBook, CircleVerdict } from './circles';
import type { ExitDirectory } from './directory';
import { isOpen, sendTo as send, type Peer } from './peer';

export type JudgedCircles = { verdict: CircleVerdict; shareWith: CirclesState['shareWith'] };

/**
 * Who may stay paired with whom once circles change: a peer's circles judged (off the event loop),
 * a newer revocation list spread to every member here and to every other node (each checks it
 * itself and spreads it to its own members), and each pairing of an exit with a requester it may no
 * longer serve ended, both told (`access-ended`: the exit closes the connection).
 */
export class Pairings {
  constructor(
    private readonly peers: Map<string, Peer>,
    private readonly directory: ExitDirectory,
    private readonly circleBook: CircleBook,
    private readonly bus: SignalingBus,
    private readonly log: Logger,
  ) {
    directory.onRemoteExit = (record) => this.reviewRemoteExit(record);
  }

  /**
   * A revocation list another node accepted (or the store kept): checked here again, never taken on
   * that node's word, then applied to this node's members as a client's would be.
   */
  async revocationFromNode(list: RevocationList): Promise<void> {
    if (await this.circleBook.offerRevocations(list)) this.spreadRevocation(list, null);
  }

  /**
   * A peer's circles, judged off the event loop. Whom an exit serves applies at once (narrowing to its
   * circles must not wait for a signature check); memberships when their check returns, unless a
   * newer report came meanwhile.
   */
  async judge(peer: Peer, state: CirclesState): Promise<JudgedCircles | null> {
    const seq = (peer.circlesSeq += 1);
    if (peer.registered && state.shareWith !== peer.shareWith) {
      peer.shareWith = state.shareWith;
      this.review(peer);
      if (peer.exit) this.directory.publish(peer);
    }
    const verdict = await this.circleBook.judge(state);
    for (const list of verdict.newer) {
      this.spreadRevocation(list, peer);
      this.bus.publishTrust({ type: 'revocation', list });
    }
    return seq === peer.circlesSeq && isOpen(peer.socket) ? { verdict, shareWith: state.shareWith } : null;
  }

  apply(peer: Peer, { verdict, shareWith }: JudgedCircles): void {
    peer.shareWith = shareWith;
    // A list that arrived while this was checked may have revoked one of these.
    for (const [circle, invite] of verdict.member)
      if (this.circleBook.isRevoked(circle, invite)) verdict.member.delete(circle);
    peer.circles = verdict.member.size > 0 ? verdict.member : null;
    const kept = verdict.accepted.filter((credential) => verdict.member.has(credential.circle));
    peer.credentials = kept.length > 0 ? kept : null;
    send(peer, { type: 'circles', member: [...verdict.member.keys()], refused: verdict.refused });
    this.review(peer);
    if (peer.exit) this.directory.publish(peer);
  }

  /** A newer revocation list: every member here keeps it; a member it names loses the circle at once. */
  private spreadRevocation(list: RevocationList, from: Peer | null): void {
    this.log.info(
      { circle: list.circle.slice(0, 8), version: list.version, revoked: list.revoked.length },
      'circle revocations',
    );
    for (const peer of this.peers.values()) {
      const invite = peer.circles?.get(list.circle);
      if (invite === undefined) continue;
      if (peer !== from) send(peer, { type: 'circle-revocation', list });
      if (!list.revoked.includes(invite)) continue;
      peer.circles!.delete(list.circle);
      if (peer.circles!.size === 0) peer.circles = null;
      peer.credentials = peer.credentials?.filter((credential) => credential.circle !== list.circle) ?? null;
      send(peer, {
        type: 'circles',
        member: [...(peer.circles?.keys() ?? [])],
        refused: [{ circle: list.circle, reason: 'revoked' }],
      });
      this.review(peer);
      if (peer.exit) this.directory.publish(peer);
    }
  }

  /**
   * An exit on another node published itself: each requester here paired with it is judged against
   * whom it now serves (this node knows its requesters' circles; the exit's node does not).
   */
  private reviewRemoteExit(record: ExitRecord): void {
    if (record.shareWith !== 'circles') return;
    for (const peer of this.peers.values())
      if (peer.partners?.has(record.peerId) && !this.directory.mayServeFromRecord(record, peer))
        this.endRemote(record, peer);
  }

  /** After `peer`'s circles or whom it serves changed: end each pairing that may no longer be. */
  private review(peer: Peer): void {
    for (const partnerId of [...(peer.partners?.keys() ?? [])]) {
      const partner = this.peers.get(partnerId);
      if (!partner) {
        // An exit on another node: judged here from its record, where the requester's circles are known.
        const record = this.directory.record(partnerId);
        if (record && record.nodeId !== this.bus.nodeId && !this.directory.mayServeFromRecord(record, peer))
          this.endRemote(record, peer);
        continue;
      }
      if (peer.introducedTo?.has(partnerId) && !this.directory.mayServe(peer, partner)) this.end(peer, partner);
      else if (partner.introducedTo?.has(peer.id) && !this.directory.mayServe(partner, peer)) this.end(partner, peer);
    }
  }

  /** Ends a requester's pairing with an exit on another node: the requester hears here, the exit on its node. */
  private endRemote(exit: ExitRecord, requester: Peer): void {
    requester.partners?.delete(exit.peerId);
    const reason = 'no longer in a circle this exit serves';
    send(requester, { type: 'access-ended', peerId: exit.peerId, reason });
    this.bus.sendToNode(exit.nodeId, { type: 'access-ended', to: exit.peerId, peerId: requester.id, reason });
    this.log.info({ exit: exit.peerId, requester: requester.id }, 'circle access ended (exit on another node)');
  }

  private end(exit: Peer, requester: Peer): void {
    exit.partners?.delete(requester.id);
    requester.partners?.delete(exit.id);
    exit.introducedTo?.delete(requester.id);
    this.directory.publishLoadSoon(exit);
    const reason = 'no longer in a circle this exit serves';
    send(exit, { type: 'access-ended', peerId: requester.id, reason });
    send(requester, { type: 'access-ended', peerId: exit.id, reason });
    this.log.info({ exit: exit.id, requester: requester.id }, 'circle access ended');
  }
}
