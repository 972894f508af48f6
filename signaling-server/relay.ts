import type { Logger } from 'pino';
import type { NodeEnvelope, SignalingBus } from './bus';
import type { CircleBook } from './circles';
import type { ExitDirectory } from './directory';
import type { SignalingMetrics } from './metrics';
import { addPartner, sendTo, type Peer } from './peer';
import type { ClientMessage } from '../protocol/signaling-messages';

/**
 * The relay: SDP and ICE only between introduced pairs, to a peer on this node directly and to
 * one on another node over the bus; departures reach the partners, wherever they are.
 */
export class Relay {
  constructor(
    private readonly nodeId: string,
    private readonly peers: ReadonlyMap<string, Peer>,
    private readonly directory: ExitDirectory,
    private readonly bus: SignalingBus,
    private readonly metrics: SignalingMetrics,
    private readonly circleBook: CircleBook,
    private readonly log: Logger,
  ) {}

  /** A circle-only exit's first contact from a requester on another node, being checked: later signals wait behind it. */
  private readonly checking = new Map<string, Promise<boolean>>();

  /** A client's signal for one of its partners. */
  fromClient(peer: Peer, message: Extract<ClientMessage, { type: 'signal' }>): void {
    const partnerNode = peer.partners?.get(message.to);
    if (partnerNode === undefined)
      return sendTo(peer, { type: 'error', code: 'unknown_peer', message: `no introduced peer ${message.to}` });
    const local = this.peers.get(message.to);
    if (local) {
      if (local.partners?.has(peer.id)) sendTo(local, { type: 'signal', from: peer.id, data: message.data });
      return;
    }
    if (partnerNode === this.nodeId)
      return sendTo(peer, { type: 'error', code: 'unknown_peer', message: `peer ${message.to} is gone` });
    // A circle-only exit's node checks the requester's circles itself: the credentials go along.
    const record = this.directory.record(message.to);
    const credentials =
      record?.shareWith === 'circles'
        ? (peer.credentials?.filter((credential) => record.circles?.includes(credential.circle)) ?? [])
        : null;
    this.bus.sendToNode(partnerNode, {
      type: 'signal',
      to: message.to,
      from: peer.id,
      fromNode: this.nodeId,
      data: message.data,
      ...(credentials ? { credentials } : {}),
    });
  }

  /** What another node sent one of our clients. */
  fromNode(envelope: NodeEnvelope): void {
    switch (envelope.type) {
      case 'signal': {
        // The sender's node checked that its client was introduced to this peer. A requester's first
        // signal is how an exit on this node learns of it; for a circle-only exit that first contact
        // waits for this node's own check of the requester's credentials (and later ones behind it).
        const target = this.peers.get(envelope.to);
        if (!target) {
          this.metrics.rejects.inc({ reason: 'unknown_peer' });
          return;
        }
        const known = target.partners?.get(envelope.from) === envelope.fromNode;
        const key = `${envelope.to}\n${envelope.from}`;
        const pending = this.checking.get(key);
        if (pending || (!known && target.exit && target.shareWith === 'circles')) {
          const next = (pending ?? this.admits(target, envelope)).then((ok) => {
            if (ok) this.deliverSignal(target, envelope);
            return ok;
          });
          this.checking.set(key, next);
          void next.finally(() => {
            if (this.checking.get(key) === next) this.checking.delete(key);
          });
          return;
        }
        this.deliverSignal(target, envelope);
        return;
      }
      case 'peer-gone': {
        const partner = this.peers.get(envelope.to);
        if (partner) this.directory.forgetPartner(partner, envelope.peerId);
        return;
      }
      case 'access-ended': {
        const exit = this.peers.get(envelope.to);
        if (!exit?.partners?.delete(envelope.peerId)) return;
        if (exit.introducedTo?.delete(envelope.peerId)) this.directory.publishLoadSoon(exit);
        sendTo(exit, { type: 'access-ended', peerId: envelope.peerId, reason: envelope.reason });
        return;
      }
    }
  }

  private deliverSignal(target: Peer, envelope: Extract<NodeEnvelope, { type: 'signal' }>): void {
    if (target.partners?.get(envelope.from) !== envelope.fromNode) {
      addPartner(target, envelope.from, envelope.fromNode);
      if (target.exit) {
        (target.introducedTo ??= new Set()).add(envelope.from);
        this.directory.publishLoadSoon(target);
      }
    }
    sendTo(target, { type: 'signal', from: envelope.from, data: envelope.data });
  }

  /**
   * Whether a requester on another node may reach this circle-only exit: one of the credentials it
   * sent along is signed by a circle the exit serves and not revoked, checked here (never on the
   * sending node's word). A refusal is counted and logged; the requester's signals go nowhere.
   */
  private async admits(exit: Peer, envelope: Extract<NodeEnvelope, { type: 'signal' }>): Promise<boolean> {
    const verdict = await this.circleBook.judge({
      credentials: envelope.credentials ?? [],
      revocations: [],
      shareWith: 'everyone',
    });
    if ([...verdict.member.keys()].some((circle) => exit.circles?.has(circle))) return true;
    this.metrics.rejects.inc({ reason: 'not_in_circle' });
    this.log.warn(
      { exit: exit.id, requester: envelope.from, node: envelope.fromNode },
      'relayed signal refused: the requester shows no credential of a circle this exit serves',
    );
    return false;
  }

  /** `peer` left this node: each partner hears it, here or on its own node. */
  departed(peer: Peer): void {
    for (const [partnerId, partnerNode] of peer.partners ?? []) {
      const partner = this.peers.get(partnerId);
      if (partner) this.directory.forgetPartner(partner, peer.id);
      else if (partnerNode !== this.nodeId)
        this.bus.sendToNode(partnerNode, { type: 'peer-gone', to: partnerId, peerId: peer.id });
    }
  }
}
