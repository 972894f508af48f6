import { CHANNELS } from '../core/channels/channel-table';
import { parseMessage } from '../core/channels/parse';
import { forTransfer, type FromTransport } from '../core/channels/transport-channel';
import { TransportHost } from '../transport/transport-host';

/** Chrome offscreen document: hosts the transport and relays with the service worker by postMessage. */
/** Resolved once; posting to it wakes a stopped service worker, so the reference stays valid. */
const worker = navigator.serviceWorker.ready.then((registration) => registration.active);

async function toServiceWorker(original: FromTransport): Promise<void> {
  const { message, transfer } = forTransfer(original);
  (await worker)?.postMessage(message, transfer);
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
