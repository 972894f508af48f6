import { WebSocket } from 'ws';
import type { TokenBucket } from './limits';
import type { ServerMessage } from './protocol';

/** One connected client of this node. */
export interface Peer {
  id: string;
  socket: WebSocket;
  ip: string;
  registered: boolean;
  exit: boolean;
  capacity: number;
  load: number;
  /** Requesters introduced to this exit and still connected: a load estimate the exit has not reported yet. */
  introducedTo: Set<string>;
  /** Peers this one may exchange signals with. */
  partners: Set<string>;
  alive: boolean;
  invalid: number;
  bucket: TokenBucket;
}

export function sendTo(peer: Peer, message: ServerMessage): void {
  if (peer.socket.readyState === WebSocket.OPEN) peer.socket.send(JSON.stringify(message));
}
