import { WebSocket } from 'ws';
import type { TokenBucket } from './limits';
import type { MemberCredential, ShareWith } from '../protocol/circle-proof';
import type { NatKind, ServerMessage } from '../protocol/signaling-messages';

/** One connected client of this node. */
export interface Peer {
  /** The stable peer id, derived from the client's public key at registration; '' until then. */
  id: string;
  /** For logs before registration, and to tell a replaced connection from its successor (a node-wide counter). */
  connectionId: number;
  /** What this connection's `register` must sign, with the Host it connected to. */
  nonce: string;
  host: string;
  socket: WebSocket;
  ip: string;
  registered: boolean;
  exit: boolean;
  capacity: number;
  load: number;
  nat: NatKind;
  /** Circles signaling accepted this peer's credentials for (circle id → invite id); null: none. */
  circles: Map<string, string> | null;
  /** The credentials behind `circles`, as signed: sent along to an exit's node, which checks them itself. */
  credentials: MemberCredential[] | null;
  /** As an exit: whom it serves (`circle-proof.ts`). */
  shareWith: ShareWith;
  /** Counts the peer's circle reports, so a slow check of an older one never overwrites a newer. */
  circlesSeq: number;
  /** When the client last reported its state itself (register/update): what ages an exit out. */
  refreshedAt: number;
  /**
   * Requesters introduced to this exit and still connected: a load estimate the exit has not reported yet.
   * This and `partners` are made on first use: most connections are idle requesters never introduced,
   * and two empty collections are a tenth of what an idle connection costs.
   */
  introducedTo: Set<string> | null;
  /** Peers this one may exchange signals with, and the node each is on. */
  partners: Map<string, string> | null;
  alive: boolean;
  /** The heartbeat cut it off (no pong): it may come back from another network (returning-peers.ts). */
  reaped: boolean;
  invalid: number;
  bucket: TokenBucket;
}

export function addPartner(peer: Peer, partnerId: string, nodeId: string): void {
  (peer.partners ??= new Map()).set(partnerId, nodeId);
}

/** Whether the socket still carries messages; asked again after every await, as it may close meanwhile. */
export function isOpen(socket: WebSocket): boolean {
  return socket.readyState === WebSocket.OPEN;
}

/** A text frame's content, whatever form ws delivered it in (Buffer, ArrayBuffer or fragments). */
export function textOf(raw: WebSocket.RawData): string {
  if (Array.isArray(raw)) return Buffer.concat(raw).toString('utf8');
  if (raw instanceof ArrayBuffer) return Buffer.from(raw).toString('utf8');
  return raw.toString('utf8');
}

export function sendTo(peer: Peer, message: ServerMessage): void {
  if (isOpen(peer.socket)) peer.socket.send(JSON.stringify(message));
}
