import type { AdmittedSender } from '../../core/channels/channel-table';

/** A Port the channel table admitted: inbound messages already parsed, outbound typed. */
export interface TypedPort<In, Out> {
  readonly sender: AdmittedSender;
  /** False once the other side is gone. */
  post(message: Out): boolean;
  disconnect(): void;
  onMessage(listener: (message: In) => void): void;
  onDisconnect(listener: () => void): void;
}
