import type { ShareWith } from '../protocol/circle-proof';
import type { NatKind, SignalData } from '../protocol/signaling-messages';

/**
 * What signaling nodes share: the directory of exits and messages addressed to peers on another
 * node. One node keeps both in memory (`MemoryBus`); several share them over Redis (`RedisBus`).
 * Peer ids are stable (derived from each install's key), so they say nothing of the node a peer is
 * on: an exit's record names its node, and a relayed signal names the sender's, so each node learns
 * where its clients' partners are from the introduction or the first signal, without a lookup.
 */
export const NODE_ID_LENGTH = 6;

/** An exit as every node sees it. `seenAt` (epoch ms) ages it out when its node stops refreshing it. */
export interface ExitRecord {
  peerId: string;
  nodeId: string;
  nat: NatKind;
  capacity: number;
  load: number;
  seenAt: number;
  /** Whom it serves; absent (an older node's record): everyone. */
  shareWith?: ShareWith;
  /** The circles it serves, when `shareWith` is not `everyone`. */
  circles?: string[];
}

/**
 * Messages between nodes, addressed to one node. A `signal` is sent only after the sending node
 * checked its client was introduced to `to`; the receiving node trusts that check.
 */
export type NodeEnvelope =
  | { type: 'signal'; to: string; from: string; fromNode: string; data: SignalData }
  | { type: 'peer-gone'; to: string; peerId: string };

export interface BusHandlers {
  /** An exit appeared, changed or refreshed (`record`), or left (`null`, withdrawn by node `byNode`). */
  onExit(peerId: string, record: ExitRecord | null, byNode: string): void;
  onEnvelope(envelope: NodeEnvelope): void;
}

export interface SignalingBus {
  readonly nodeId: string;
  start(handlers: BusHandlers): Promise<void>;
  publishExit(record: ExitRecord): void;
  /** Withdraws the exit if this node published it last (it may have reconnected to another node since). */
  removeExit(peerId: string): void;
  sendToNode(nodeId: string, envelope: NodeEnvelope): void;
  /** For /readyz: the shared store answers. */
  healthy(): Promise<boolean>;
  close(): Promise<void>;
}

/** One node: the directory and delivery are local and synchronous; every record is this node's. */
export class MemoryBus implements SignalingBus {
  private handlers: BusHandlers | null = null;

  constructor(readonly nodeId: string) {}

  async start(handlers: BusHandlers): Promise<void> {
    this.handlers = handlers;
  }

  publishExit(record: ExitRecord): void {
    this.handlers?.onExit(record.peerId, record, this.nodeId);
  }

  removeExit(peerId: string): void {
    this.handlers?.onExit(peerId, null, this.nodeId);
  }

  sendToNode(nodeId: string, envelope: NodeEnvelope): void {
    if (nodeId === this.nodeId) this.handlers?.onEnvelope(envelope);
  }

  async healthy(): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {
    this.handlers = null;
  }
}
