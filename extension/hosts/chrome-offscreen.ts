import { parseMessage, toTransportSchema, type FromTransport } from '../core/messages';
import { TransportHost } from '../transport/transport-host';

/** Chrome offscreen document: hosts the transport and relays with the service worker by postMessage. */
/** Resolved once; posting to it wakes a stopped service worker, so the reference stays valid. */
const worker = navigator.serviceWorker.ready.then((registration) => registration.active);

async function toServiceWorker(message: FromTransport, transfer: ArrayBuffer[] = []): Promise<void> {
  (await worker)?.postMessage(message, transfer);
}

const transport = new TransportHost((message, transfer) => void toServiceWorker(message, transfer));

navigator.serviceWorker.onmessage = (event: MessageEvent) => {
  const parsed = parseMessage(toTransportSchema, event.data);
  if (!parsed.ok) {
    console.warn('[peerlane] bad message from the service worker', parsed.error);
    return;
  }
  transport.handle(parsed.message);
};

void toServiceWorker({ type: 'transport-ready' });
