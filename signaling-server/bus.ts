import type { SignalData } from './protocol';

/**
 * What signaling nodes share: the directory of exits and messages addressed to peers on another
 * node. One node keeps both in memory (`MemoryBus`); several share them over Redis (`RedisBus`).
 * A peer id starts with its node's id, so a message finds its node without a lookup.
 */
export const NODE_ID_LENGTH = 6;

export function nodeOf(peerId: string): string {
  return peerId.slice(0, NODE_ID_LENGTH);
}

/** An exit as every node sees it. `seenAt` (epoch ms) ages it out when its node stops refreshing it. */
export interface ExitRecord {
  peerId: string;
  capacity: number;
  load: number;
  seenAt: number;
}

/**
 * Messages between nodes, addressed to one node. A `signal` is sent only after the sending node
 * checked its client was introduced to `to`; the receiving node trusts that check.
 */
export type NodeEnvelope = { type: 'signal'; to: string; from: string; data: SignalData } | { type: 'peer-gone'; to: string; peerId: string };

export interface BusHandlers {
  /** An exit appeared, changed or refreshed (`record`), or left (`null`). */
  onExit(peerId: string, record: ExitRecord | null): void;
  onEnvelope(envelope: NodeEnvelope): void;
}

export interface SignalingBus {
  readonly nodeId: string;
  start(handlers: BusHandlers): Promise<void>;
  publishExit(record: ExitRecord): void;
  removeExit(peerId: string): void;
  sendToNode(nodeId: string, envelope: NodeEnvelope): void;
  /** For /readyz: the shared store answers. */
  healthy(): Promise<boolean>;
  close(): Promise<void>;
}

/** One node: the directory and delivery are local and synchronous. */
export class MemoryBus implements SignalingBus {
  private handlers: BusHandlers | null = null;

  constructor(readonly nodeId: string) {}

  async start(handlers: BusHandlers): Promise<void> {
    this.handlers = handlers;
  }

  publishExit(record: ExitRecord): void {
    this.handlers?.onExit(record.peerId, record);
  }

  removeExit(peerId: string): void {
    this.handlers?.onExit(peerId, null);
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
