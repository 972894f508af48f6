import type { NodeEnvelope, SignalingBus } from './bus';
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
  ) {}

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
    this.bus.sendToNode(partnerNode, {
      type: 'signal',
      to: message.to,
      from: peer.id,
      fromNode: this.nodeId,
      data: message.data,
    });
  }

  /** What another node sent one of our clients. */
  fromNode(envelope: NodeEnvelope): void {
    switch (envelope.type) {
      case 'signal': {
        // The sender's node checked that its client was introduced to this peer: nodes trust each
        // other. A requester's first signal is how an exit on this node learns of it.
        const target = this.peers.get(envelope.to);
        if (!target) {
          this.metrics.rejects.inc({ reason: 'unknown_peer' });
          return;
        }
        if (target.partners?.get(envelope.from) !== envelope.fromNode) {
          addPartner(target, envelope.from, envelope.fromNode);
          if (target.exit) {
            (target.introducedTo ??= new Set()).add(envelope.from);
            this.directory.publishLoadSoon(target);
          }
        }
        sendTo(target, { type: 'signal', from: envelope.from, data: envelope.data });
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
