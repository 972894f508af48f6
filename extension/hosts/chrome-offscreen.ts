import { CHANNELS } from '../core/channels/channel-table';
import { parseMessage } from '../core/channels/parse';
import { ownBuffer, transferablesOf, type FromTransport } from '../core/channels/transport-channel';
import { TransportHost } from '../transport/transport-host';

/** Chrome offscreen document: hosts the transport and relays with the service worker by postMessage. */
/** Resolved once; posting to it wakes a stopped service worker, so the reference stays valid. */
const worker = navigator.serviceWorker.ready.then((registration) => registration.active);

async function toServiceWorker(message: FromTransport): Promise<void> {
  // A received frame may share a pooled buffer: own it once, then hand it over without another copy.
  const sent = message.type === 'frame' ? { ...message, data: ownBuffer(message.data) } : message;
  (await worker)?.postMessage(sent, transferablesOf(sent));
}

const transport = new TransportHost((message) => void toServiceWorker(message));

navigator.serviceWorker.onmessage = (event: MessageEvent) => {
  // Only our own service worker can post to this document; its messages are still checked on entry.
  const parsed = parseMessage(CHANNELS.transport.outbound, event.data);
  if (!parsed.ok) {
    console.warn('[peerlane] bad message from the service worker', parsed.error);
    return;
  }
  transport.handle(parsed.message);
};

void toServiceWorker({ type: 'transport-ready' });
