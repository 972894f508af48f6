import type { MemberCredential, RevocationList, ShareWith } from '../protocol/circle-proof';
import type { NatKind, SignalData } from '../protocol/signaling-messages';

/**
 * What signaling nodes share: the directory of exits and messages addressed to peers on another
 * node. One node keeps both in memory (`MemoryBus`); several share them over Redis (`RedisBus`).
 * Peer ids are stable (derived from each install's key), so they say nothing of the node a peer is
 * on: an exit's record names its node, and a relayed signal names the sender's, so each node learns
 * where its clients' partners are from the introduction or the first signal, without a lookup.
 */
export const NODE_ID_LENGTH = 6;
const MAX_IDENTITIES_IN_MEMORY = 200_000;

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
 * checked its client was introduced to `to`; for an exit that serves only its circles, it carries
 * the sender's credentials, and the exit's node checks them itself before the first one reaches
 * the exit (relay.ts): no node takes another's word for who is in a circle.
 */
export type NodeEnvelope =
  | {
      type: 'signal';
      to: string;
      from: string;
      fromNode: string;
      data: SignalData;
      credentials?: MemberCredential[];
    }
  | { type: 'peer-gone'; to: string; peerId: string }
  /** The requester's node ended this exit's pairing with `peerId` (its circles no longer allow it). */
  | { type: 'access-ended'; to: string; peerId: string; reason: string };

/**
 * What every node must decide alike, whichever node a peer is on: a requester's report of an exit
 * (enough of them stop the exit's introductions everywhere) and a circle's newer revocation list
 * (each node checks the owner's signature itself before acting on it). Kept in the shared store, so
 * a node that starts later, or again, knows them all.
 */
export type TrustEvent =
  { type: 'report'; exitId: string; reporterId: string } | { type: 'revocation'; list: RevocationList };

export interface BusHandlers {
  /** An exit appeared, changed or refreshed (`record`), or left (`null`, withdrawn by node `byNode`). */
  onExit(peerId: string, record: ExitRecord | null, byNode: string): void;
  onEnvelope(envelope: NodeEnvelope): void;
  /** Another node's report or revocation, or one kept in the store (at start). */
  onTrust(event: TrustEvent): void;
}

export interface SignalingBus {
  readonly nodeId: string;
  start(handlers: BusHandlers): Promise<void>;
  publishExit(record: ExitRecord): void;
  /** Withdraws the exit if this node published it last (it may have reconnected to another node since). */
  removeExit(peerId: string): void;
  sendToNode(nodeId: string, envelope: NodeEnvelope): void;
  /** An identity registered at `now`: kept if it is the first time any node saw it (nothing awaited). */
  noteSeen(peerId: string, now: number): void;
  /** When any node first saw the identity (epoch ms), or null if none did: asked only when it reports. */
  firstSeen(peerId: string): Promise<number | null>;
  /** Keeps a report or revocation this node accepted, and tells every other node. */
  publishTrust(event: TrustEvent): void;
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

  /** One node: it already acted on what it publishes; nothing outlives the process. */
  publishTrust(): void {}

  private readonly seen = new Map<string, number>();

  noteSeen(peerId: string, now: number): void {
    if (this.seen.has(peerId)) return;
    // Bounded: past the cap the oldest entry is forgotten (in memory nothing outlives the process anyway).
    if (this.seen.size >= MAX_IDENTITIES_IN_MEMORY) this.seen.delete(this.seen.keys().next().value!);
    this.seen.set(peerId, now);
  }

  async firstSeen(peerId: string): Promise<number | null> {
    return this.seen.get(peerId) ?? null;
  }

  async healthy(): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {
    this.handlers = null;
  }
}
