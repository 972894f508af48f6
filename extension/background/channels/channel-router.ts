import {
  channelByName,
  CHANNELS,
  judgeSender,
  type ChannelIn,
  type ChannelOut,
  type PortChannelName,
} from '../../core/channels/channel-table';
import { parseMessage } from '../../core/channels/parse';
import type { Configuration } from '../configuration/configuration';
import type { BackgroundPlatform, PlatformPort } from '../platform/platform';
import type { Telemetry } from '../telemetry/telemetry';
import type { TypedPort } from './typed-port';

/**
 * The background's one `onConnect`. Each Port is judged at connect time against its channel's rule
 * in `core/channels/channel-table.ts` (after the settings are loaded: a restarted worker gets the
 * port first), and each inbound message is parsed once here. A port on an unknown channel, from a
 * sender the channel does not admit, or that sends a message that does not parse is disconnected
 * and counted; a refused port is sent nothing at all.
 */
export type ChannelHandlers = { [K in PortChannelName]: (port: TypedPort<ChannelIn<K>, ChannelOut<K>>) => void };

export function routeChannels(
  platform: BackgroundPlatform,
  configuration: Configuration,
  telemetry: Telemetry,
  ready: Promise<void>,
  handlers: ChannelHandlers,
): void {
  platform.onConnect((port) => {
    // Buffer what arrives before the verdict: the first message of a request Port comes at once.
    const early: unknown[] = [];
    let deliver: ((message: unknown) => void) | null = null;
    let gone = false;
    const disconnectListeners: (() => void)[] = [];
    port.onMessage((message) => (deliver ? deliver(message) : early.push(message)));
    port.onDisconnect(() => {
      gone = true;
      for (const listener of disconnectListeners.splice(0)) listener();
    });
    void ready.then(() => {
      const channel = channelByName(port.name);
      const sender = channel
        ? judgeSender(CHANNELS[channel].admits, port.sender, {
            extensionOrigin: platform.extensionOrigin,
            isRouted: (origin) => configuration.isRouted(origin),
          })
        : null;
      if (!channel || !sender) {
        platform.log.warn('[peerlane] port refused:', port.name, port.sender.url ?? 'unknown sender');
        telemetry.count('portsRefused');
        port.disconnect();
        return;
      }
      if (gone) return;
      serve(channel, port, sender, early, (listener) => (deliver = listener), disconnectListeners);
    });
  });

  function serve<K extends PortChannelName>(
    channel: K,
    port: PlatformPort,
    sender: NonNullable<ReturnType<typeof judgeSender>>,
    early: unknown[],
    setDeliver: (listener: (message: unknown) => void) => void,
    disconnectListeners: (() => void)[],
  ): void {
    const spec = CHANNELS[channel];
    const listeners: ((message: ChannelIn<K>) => void)[] = [];
    let failed = false;
    const typed: TypedPort<ChannelIn<K>, ChannelOut<K>> = {
      sender,
      post: (message) => {
        try {
          port.postMessage(message);
          return true;
        } catch {
          return false;
        }
      },
      disconnect: () => port.disconnect(),
      onMessage: (listener) => listeners.push(listener),
      onDisconnect: (listener) => disconnectListeners.push(listener),
    };
    const receive = (raw: unknown): void => {
      if (failed) return;
      const parsed = parseMessage(spec.inbound, raw);
      if (!parsed.ok) {
        failed = true;
        telemetry.count('portsInvalid');
        platform.log.warn('[peerlane] bad message on', spec.name, parsed.error);
        if ('invalid' in spec) typed.post(spec.invalid(parsed.error) as ChannelOut<K>);
        port.disconnect();
        // A disconnect we make is not reported to our own onDisconnect: tell the service.
        for (const listener of disconnectListeners.splice(0)) listener();
        return;
      }
      for (const listener of listeners) listener(parsed.message as ChannelIn<K>);
    };
    handlers[channel](typed);
    setDeliver(receive);
    for (const message of early.splice(0)) receive(message);
  }
}
