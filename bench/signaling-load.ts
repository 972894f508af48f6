import { textOf } from '../signaling-server/peer';
import { WebSocket } from 'ws';
import { SigningIdentity } from '../test/helpers/signing-identity';

/**
 * One load process for `npm run bench:signaling` (several run side by side, each its own event
 * loop), speaking one of three dialects: `bare` (a bare ws echo server: connect, nothing else),
 * `peerlane` (answer the challenge with a signed `register`, each connection its own key, as the
 * extension does) or `peerjs` (PeerJS's server: `/peerjs?key&id&token`, ready at `OPEN`). Modes:
 * - `idle`: open `count` connections (spread over loopback addresses, as many people would be),
 *   make them ready, report `ready`, then hold them until told to stop;
 * - `burst`: open `count` connections at once; report when each became ready (p50, p99, max);
 * - `relay`: `count` pairs; one side sends a signal (`ice`: a trickled candidate, `sdp`: an offer) to
 *   its partner, which sends it back, in a closed loop for `seconds`; reports relayed messages/s.
 *   Peerlane pairs are made as the product makes them: exits register, requesters ask for one;
 * - `intro`: `count` registered requesters each ask for introductions in a closed loop for `seconds`;
 * - `echo`: the same closed loop against the bare echo server, with a message of the same size.
 * Every loop is bounded by count and time. Reports one JSON line on stdout.
 */
type Dialect = 'bare' | 'peerlane' | 'peerjs';
const [
  mode = 'idle',
  dialectText = 'peerlane',
  url = '',
  countText = '100',
  addressBase = '1',
  secondsText = '5',
  payloadKind = 'ice',
] = process.argv.slice(2);
const dialect = dialectText as Dialect;
const count = Number(countText);
const seconds = Number(secondsText);
const host = url ? new URL(url).host : '';
const FIND = JSON.stringify({ type: 'find-exits', count: 3, exclude: [] });

/** What simple-peer trickles, and a typical data-channel-only offer (about 600 bytes). */
const PAYLOADS = {
  ice: {
    type: 'candidate',
    candidate: {
      candidate:
        'candidate:842163049 1 udp 1677729535 203.0.113.7 46154 typ srflx raddr 0.0.0.0 rport 0 generation 0 ufrag sH4n network-cost 999',
      sdpMLineIndex: 0,
      sdpMid: '0',
    },
  },
  sdp: {
    type: 'offer',
    sdp: 'v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\na=extmap-allow-mixed\r\na=msid-semantic: WMS\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:sH4n\r\na=ice-pwd:Qp1vYJ2xMjd3nGkqJ7q8LzT0\r\na=ice-options:trickle\r\na=fingerprint:sha-256 5A:1F:8B:0C:77:3E:9D:21:44:AB:CD:10:FE:22:93:61:0B:7C:5D:6E:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55\r\na=setup:actpass\r\na=mid:0\r\na=sctp-port:5000\r\na=max-message-size:262144\r\n',
  },
} as const;
const payload = payloadKind === 'sdp' ? PAYLOADS.sdp : PAYLOADS.ice;

/** Connections per loopback address: well inside the server's default per-address limits, as separate households would be. */
const PER_ADDRESS = 10;
const addresses = Math.max(1, Math.ceil((mode === 'relay' ? count * 2 : count) / PER_ADDRESS));

interface Ready {
  socket: WebSocket;
  id: string;
}

function addressFor(index: number): string {
  // 127.<base>.x.y, consecutive connections on different addresses so each address connects slowly.
  const slot = index % addresses;
  return `127.${Number(addressBase)}.${Math.floor(slot / 250)}.${1 + (slot % 250)}`;
}

function nextMessage(socket: WebSocket): Promise<string> {
  return new Promise((resolve) => socket.once('message', (raw) => resolve(textOf(raw))));
}

/** Opens connection `index` and makes it ready in the dialect; `identity` made beforehand so a burst times the protocol, not key generation. */
function connect(index: number, role: { exit: boolean }, identity: SigningIdentity | null): Promise<Ready> {
  return new Promise((resolve, reject) => {
    const peerjsId = `p${addressBase}x${index}x${process.pid}`;
    const target = dialect === 'peerjs' ? `${url}/peerjs?key=peerjs&id=${peerjsId}&token=t${index}` : url;
    const socket = new WebSocket(target, { localAddress: addressFor(index), perMessageDeflate: false });
    socket.once('error', reject);
    // Closed before it was ready (after it, a settled promise ignores this): fail loudly, never hang.
    socket.once('close', (code, reason) =>
      reject(new Error(`${dialect} connection ${index} closed before ready: ${code} ${reason.toString()}`)),
    );
    if (dialect === 'bare') {
      socket.once('open', () => resolve({ socket, id: '' }));
      return;
    }
    if (dialect === 'peerjs') {
      socket.once('message', (raw) => {
        const message = JSON.parse(textOf(raw)) as { type: string };
        if (message.type === 'OPEN') resolve({ socket, id: peerjsId });
        else reject(new Error(`peerjs: ${textOf(raw)}`));
      });
      return;
    }
    const signer = identity ?? new SigningIdentity();
    socket.once('message', (raw) => {
      const { nonce } = JSON.parse(textOf(raw)) as { nonce: string };
      socket.once('message', (reply) => {
        const message = JSON.parse(textOf(reply)) as { type: string; peerId?: string };
        if (message.type === 'registered' && message.peerId) resolve({ socket, id: message.peerId });
        else reject(new Error(`peerlane: ${textOf(reply)}`));
      });
      socket.send(signer.register(host, nonce, { exit: role.exit, capacity: role.exit ? 1000 : 0, load: 0 }));
    });
  });
}

async function openAll(total: number, first: number, role: { exit: boolean }): Promise<Ready[]> {
  const ready: Ready[] = [];
  // Batches of 100: a steady connect rate, within the per-address connect budget.
  for (let start = 0; start < total; start += 100) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(100, total - start) }, (_, offset) => connect(first + start + offset, role, null)),
    );
    ready.push(...batch);
  }
  return ready;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function burst(): Promise<void> {
  const identities = dialect === 'peerlane' ? Array.from({ length: count }, () => new SigningIdentity()) : [];
  const started = performance.now();
  const times = await Promise.all(
    Array.from({ length: count }, async (_, index) => {
      const ready = await connect(index, { exit: false }, identities[index] ?? null);
      const at = performance.now() - started;
      ready.socket.terminate();
      return at;
    }),
  );
  times.sort((a, b) => a - b);
  report({
    p50: percentile(times, 50),
    p99: percentile(times, 99),
    max: times.at(-1) ?? NaN,
    times: JSON.stringify(times.map((time) => Math.round(time * 10) / 10)),
  });
}

/** Closed loops until the deadline; each pair has one message in flight; `send(i)` starts a round trip, `done` counts messages relayed. */
async function relay(): Promise<void> {
  let relayed = 0;
  // Set when the loops start (after every loader is set up and told to go), so each window is whole.
  let deadline = Infinity;
  let pairs: { ask: () => void }[] = [];
  let started = 0;
  const finished = new Promise<void>((resolve) => {
    let active = count;
    const oneDone = (): void => {
      active -= 1;
      if (active === 0) resolve();
    };
    /** One pair's loop: every answer (the message back, two relays) sends the next until the deadline; anything else is counted apart and ends the run. */
    const expected =
      dialect === 'peerjs' ? (payloadKind === 'sdp' ? '"type":"OFFER"' : '"type":"CANDIDATE"') : '"type":"signal"';
    const closedLoop = (socket: WebSocket, message: string): { ask: () => void } => {
      socket.on('message', (raw) => {
        const text = textOf(raw);
        if (!text.startsWith(`{${expected}`)) {
          report({ error: `relay: unexpected ${text.slice(0, 200)}` });
          process.exit(1);
        }
        relayed += 2;
        if (performance.now() < deadline) socket.send(message);
        else oneDone();
      });
      return { ask: () => socket.send(message) };
    };
    const begin = async (): Promise<void> => {
      if (dialect === 'peerjs') {
        const [asking, answering] = [
          await openAll(count, 0, { exit: false }),
          await openAll(count, count, { exit: false }),
        ];
        answering.forEach(({ socket }) =>
          socket.on('message', (raw) => {
            const message = JSON.parse(textOf(raw)) as { type: string; src: string; payload: unknown };
            if (message.type === 'CANDIDATE' || message.type === 'OFFER')
              socket.send(JSON.stringify({ type: message.type, dst: message.src, payload: message.payload }));
          }),
        );
        const type = payloadKind === 'sdp' ? 'OFFER' : 'CANDIDATE';
        pairs = asking.map(({ socket }, index) =>
          closedLoop(socket, JSON.stringify({ type, dst: answering[index]!.id, payload })),
        );
      } else {
        const exits = await openAll(count, 0, { exit: true });
        exits.forEach(({ socket }) =>
          socket.on('message', (raw) => {
            const message = JSON.parse(textOf(raw)) as { type: string; from: string; data: unknown };
            if (message.type === 'signal')
              socket.send(JSON.stringify({ type: 'signal', to: message.from, data: message.data }));
          }),
        );
        const requesters = await openAll(count, count, { exit: false });
        pairs = await Promise.all(
          requesters.map(async ({ socket }) => {
            const reply = nextMessage(socket);
            socket.send(JSON.stringify({ type: 'find-exits', count: 1, exclude: [] }));
            const exitId = (JSON.parse(await reply) as { exits: { peerId: string }[] }).exits[0]?.peerId;
            if (!exitId) throw new Error('no exit introduced');
            return closedLoop(socket, JSON.stringify({ type: 'signal', to: exitId, data: payload }));
          }),
        );
      }
    };
    void begin().then(
      async () => {
        // Set up: say so (a line that is not JSON) and wait for the bench's `go`, so all loaders run together.
        process.stdout.write('set-up\n');
        await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
        started = performance.now();
        deadline = started + seconds * 1000;
        for (const pair of pairs) pair.ask();
      },
      (error: unknown) => {
        report({ error: String(error) });
        process.exit(1);
      },
    );
  });
  await finished;
  const elapsed = (performance.now() - started) / 1000;
  report({ perSecond: relayed / elapsed, relayed, elapsed });
}

function report(result: Record<string, number | string>): void {
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

/** No load process outlives its bound: a stuck connection ends the run with an error, never a hang. */
const BOUND_MS = (seconds + 60) * 1000;

async function main(): Promise<void> {
  if (mode !== 'idle')
    setTimeout(() => {
      report({ error: `${mode} did not finish within ${BOUND_MS / 1000} s` });
      process.exit(1);
    }, BOUND_MS).unref();
  if (mode === 'burst') return burst();
  if (mode === 'relay') return relay();
  const ready = await openAll(count, 0, { exit: false });
  const sockets = ready.map((entry) => entry.socket);
  if (mode === 'idle') {
    let dropped = 0;
    for (const socket of sockets) socket.once('close', () => (dropped += 1));
    report({ ready: sockets.length });
    // Held until told to stop; the bench asks how many the server dropped meanwhile.
    await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
    if (dropped > 0)
      process.stderr.write(`idle ${dialect}: the server dropped ${dropped} of ${sockets.length} idle connections\n`);
    for (const socket of sockets) socket.terminate();
    process.exit(0);
  }
  let done = 0;
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    sockets.map(async (socket) => {
      while (performance.now() < deadline) {
        const reply = nextMessage(socket);
        socket.send(FIND);
        await reply;
        done += 1;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  report({ perSecond: done / elapsed, done, elapsed });
  for (const socket of sockets) socket.terminate();
  process.exit(0);
}

void main().then(
  () => {
    if (mode === 'burst' || mode === 'relay') process.exit(0);
  },
  (error: unknown) => {
    report({ error: String(error) });
    process.exit(1);
  },
);
