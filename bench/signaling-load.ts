import { WebSocket } from 'ws';

/**
 * One load process for `npm run bench:signaling` (several run side by side, each its own event
 * loop). Modes:
 * - `idle`: open `count` connections (spread over loopback addresses, as many people would be),
 *   register them as requesters, report `ready`, then hold them until told to stop;
 * - `intro`: `count` registered requesters each ask for introductions in a closed loop for `seconds`;
 * - `echo`: the same closed loop against a bare echo server, with a message of the same size.
 * Every loop is bounded by count and time. Reports one JSON line on stdout.
 */
const [mode = 'idle', url = '', countText = '100', addressBase = '1', secondsText = '5'] = process.argv.slice(2);
const count = Number(countText);
const seconds = Number(secondsText);
const FIND = JSON.stringify({ type: 'find-exits', count: 3, exclude: [] });
const REGISTER = JSON.stringify({ type: 'register', protocol: 1, exit: false, capacity: 0, load: 0 });

/** Connections per loopback address: well inside the server's default per-address limits, as separate households would be. */
const PER_ADDRESS = 10;
const addresses = Math.max(1, Math.ceil(count / PER_ADDRESS));

function open(index: number): Promise<WebSocket> {
  // 127.<base>.x.y, consecutive connections on different addresses so each address connects slowly.
  const slot = index % addresses;
  const address = `127.${Number(addressBase)}.${Math.floor(slot / 250)}.${1 + (slot % 250)}`;
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { localAddress: address, perMessageDeflate: false });
    socket.once('open', () => resolve(socket));
    socket.once('error', reject);
  });
}

function nextMessage(socket: WebSocket): Promise<string> {
  return new Promise((resolve) => socket.once('message', (raw) => resolve(raw.toString())));
}

async function openAll(): Promise<WebSocket[]> {
  const sockets: WebSocket[] = [];
  // Batches of 100: a steady connect rate, within the per-address connect budget.
  for (let start = 0; start < count; start += 100) {
    const batch = await Promise.all(Array.from({ length: Math.min(100, count - start) }, (_, offset) => open(start + offset)));
    sockets.push(...batch);
  }
  return sockets;
}

async function main(): Promise<void> {
  const sockets = await openAll();
  if (mode !== 'echo') await Promise.all(sockets.map(async (socket) => {
    const reply = nextMessage(socket);
    socket.send(REGISTER);
    await reply;
  }));
  if (mode === 'idle') {
    process.stdout.write(`${JSON.stringify({ ready: sockets.length })}\n`);
    await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
    for (const socket of sockets) socket.terminate();
    process.exit(0);
  }
  let done = 0;
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(sockets.map(async (socket) => {
    while (performance.now() < deadline) {
      const reply = nextMessage(socket);
      socket.send(FIND);
      await reply;
      done += 1;
    }
  }));
  const elapsed = (performance.now() - started) / 1000;
  process.stdout.write(`${JSON.stringify({ perSecond: done / elapsed, done, elapsed })}\n`);
  for (const socket of sockets) socket.terminate();
  process.exit(0);
}

void main().catch((error: unknown) => {
  process.stdout.write(`${JSON.stringify({ error: String(error) })}\n`);
  process.exit(1);
});
