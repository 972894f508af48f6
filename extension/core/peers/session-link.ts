import type { PeerlaneError } from '../errors';
import type { Frame, Hello } from '../protocol/frames';

/**
 * What a role's streams need of the session they run on: a way to send a frame (dropped once the
 * session closed), whether and why it closed, what the peer said in its HELLO, and where a protocol
 * error goes.
 */
export interface SessionLink {
  sendFrame(frame: Frame): void;
  readonly closedWith: PeerlaneError | null;
  readonly remoteHello: Hello | null;
  protocolError(message: string): void;
}
