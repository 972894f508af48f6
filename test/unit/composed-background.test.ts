import { afterEach, describe, expect, it } from 'vitest';
import { createBackground, type Background } from '../../extension/background/background';
import type { ToPopup } from '../../extension/core/channels/popup-channel';
import type { ToRequester } from '../../extension/core/channels/request-channel';
import type { FromTransport, ToTransport } from '../../extension/core/channels/transport-channel';
import type { ExitFetcher } from '../../extension/core/exit/exit-service';
import { decodeFrame } from '../../extension/core/protocol/codec';
import { FakePlatform, TEST_EXTENSION_ORIGIN, type TestPort } from '../helpers/fake-platform';

/**
 * The whole background, composed as the hosts compose it, in Node: two of them (a requester and an
 * exit) joined by a transport that carries their frames directly, each on a fake platform.
 */
const ROUTED = 'https://app.example';
const BODY = new Uint8Array(300_000).map((_, index) => (index * 31) % 251);
const contentScript = (origin: string) => ({ url: `${origin}/page`, tabId: 7, frameId: 0 });
const extensionPage = (path: string) => ({ url: `${TEST_EXTENSION_ORIGIN}/${path}` });

interface Composed {
  platform: FakePlatform;
  background: Background;
  transportLog: ToTransport[];
}

let created: Composed[] = [];
afterEach(() => {
  for (const { platform } of created) platform.dispose();
  created = [];
});

function compose(platform: FakePlatform, exitFetcher: ExitFetcher, deliver: (message: ToTransport) => void): Composed {
  const transportLog: ToTransport[] = [];
  const background = createBackground(platform, {
    transport: {
      send: (message) => {
        transportLog.push(message);
        deliver(message);
      },
    },
    exitFetcher,
  });
  const composed = { platform, background, transportLog };
  created.push(composed);
  return composed;
}

const servedBy = (body: Uint8Array): { fetcher: ExitFetcher; fetched: string[] } => {
  const fetched: string[] = [];
  return {
    fetched,
    fetcher: async (request) => {
      fetched.push(request.url);
      return {
        head: {
          status: 200,
          statusText: 'OK',
          headers: [
            ['content-type', 'application/octet-stream'],
            ['content-length', String(body.byteLength)],
          ],
        },
        body: (async function* () {
          for (let offset = 0; offset < body.byteLength; offset += 40_000) yield body.slice(offset, offset + 40_000);
        })(),
      };
    },
  };
};
const neverFetches: ExitFetcher = async () => {
  throw new Error('this background is not an exit');
};

/** A requester routing ROUTED and an exit sharing, connected peer to peer; `served` replaces the exit's fetch, `requesterSettings` adds to the requester's. */
async function connectedPair(
  options: {
    served?: { fetcher: ExitFetcher; fetched: string[] };
    requesterSettings?: ConstructorParameters<typeof FakePlatform>[0];
  } = {},
): Promise<{ requester: Composed; exit: Composed; fetched: string[] }> {
  const { fetcher, fetched } = options.served ?? servedBy(BODY);
  let requester: Composed | null = null;
  let exit: Composed | null = null;
  const carry = (to: () => Composed | null, from: string) => (message: ToTransport) => {
    if (message.type !== 'frame') return;
    const copy = message.data.slice();
    queueMicrotask(() =>
      to()?.background.fromTransport({ type: 'frame', peerId: from, data: copy } satisfies FromTransport),
    );
  };
  exit = compose(
    new FakePlatform({ share: true }),
    fetcher,
    carry(() => requester, 'exit-peer-id'),
  );
  requester = compose(
    new FakePlatform({ routedOrigins: [ROUTED], ...options.requesterSettings }),
    neverFetches,
    carry(() => exit, 'requester-peer-id'),
  );
  await Promise.all([exit.background.ready, requester.background.ready]);
  exit.background.fromTransport({
    type: 'peer-up',
    peerId: 'requester-peer-id',
    remoteRole: 'requester',
    path: 'direct',
    pair: { local: 'host', remote: 'host' },
    connection: 1,
  });
  requester.background.fromTransport({
    type: 'peer-up',
    peerId: 'exit-peer-id',
    remoteRole: 'exit',
    path: 'direct',
    pair: { local: 'host', remote: 'host' },
    connection: 1,
  });
  return { requester, exit, fetched };
}

/** A routed GET of `url` from a content script of the routed site, as the bridge sends it. */
function routedGet(requester: Composed, url: string): TestPort {
  const port = requester.platform.connect('peerlane-request', contentScript(ROUTED));
  port.post({ type: 'request', method: 'GET', url, headers: [], priority: 'interactive' });
  return port;
}

/** Resolves once the first body chunk reached the port (the transfer is under way). */
const firstChunk = (port: TestPort) =>
  port.until((p) => p.received.some((message) => (message as ToRequester).type === 'chunk'));

/** Reads a request Port to its end as the bridge does, reporting what it consumed. */
async function readToEnd(
  port: TestPort,
): Promise<{ head: Extract<ToRequester, { type: 'head' }> | undefined; bytes: Uint8Array; last: ToRequester }> {
  const chunks: Uint8Array[] = [];
  let seen = 0;
  await port.until((p) => {
    for (const message of p.received.slice(seen) as ToRequester[]) {
      if (message.type === 'chunk') {
        chunks.push(message.data);
        p.post({ type: 'consumed', bytes: message.data.byteLength });
      }
    }
    seen = p.received.length;
    const last = p.received.at(-1) as ToRequester | undefined;
    return last?.type === 'end' || last?.type === 'error';
  });
  const messages = port.received as ToRequester[];
  const bytes = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0));
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return {
    head: messages.find((m): m is Extract<ToRequester, { type: 'head' }> => m.type === 'head'),
    bytes,
    last: messages.at(-1)!,
  };
}

describe('the composed background, in Node', () => {
  it('carries a routed request from a content-script port through the exit and back, bytes as bytes', async () => {
    const { requester, exit, fetched } = await connectedPair();
    const port = requester.platform.connect('peerlane-request', contentScript(ROUTED));
    port.post({
      type: 'request',
      method: 'GET',
      url: 'https://data.example/big.bin',
      headers: [['accept', '*/*']],
      priority: 'interactive',
    });
    const { head, bytes, last } = await readToEnd(port);
    expect(last.type).toBe('end');
    expect(head?.status).toBe(200);
    expect(head?.headers).toContainEqual(['x-peerlane-peer', 'exit-pee']);
    expect(bytes).toEqual(BODY);
    expect(
      (port.received as ToRequester[])
        .filter((m) => m.type === 'chunk')
        .every((m) => 'data' in m && m.data instanceof Uint8Array),
    ).toBe(true);
    expect(fetched).toEqual(['https://data.example/big.bin']);
    await expect.poll(() => requester.background.state().stats.completed).toBe(1);
    await expect.poll(() => exit.background.state().stats.sharedRequests).toBe(1);
    expect(exit.background.state().stats.sharedBytes).toBe(BODY.byteLength);
    expect(requester.background.state().log[0]).toMatchObject({
      role: 'requester',
      outcome: 'ok',
      status: 200,
      bytes: BODY.byteLength,
    });
  });

  it("the viewer adapter answers a Response whose body is the exit's", async () => {
    const { requester } = await connectedPair();
    const response = await requester.background.fetchThroughPeers(
      { method: 'GET', url: 'https://data.example/v', headers: [] },
      'document',
      new AbortController().signal,
    );
    expect(response.status).toBe(200);
    expect(new Uint8Array(await response.arrayBuffer())).toEqual(BODY);
  });

  it('a transfer goes on when the transport reports the same connection again (as after every saved setting); a new connection replaces the session', async () => {
    const { requester, exit } = await connectedPair();
    const port = routedGet(requester, 'https://data.example/big');
    // Mid-body, without reading on: both backgrounds hear their peer reported up again, same connection.
    await firstChunk(port);
    exit.background.fromTransport({
      type: 'peer-up',
      peerId: 'requester-peer-id',
      remoteRole: 'requester',
      path: 'direct',
      pair: { local: 'host', remote: 'host' },
      connection: 1,
    });
    requester.background.fromTransport({
      type: 'peer-up',
      peerId: 'exit-peer-id',
      remoteRole: 'exit',
      path: 'direct',
      pair: { local: 'host', remote: 'host' },
      connection: 1,
    });
    const { head, bytes, last } = await readToEnd(port);
    expect(head?.status).toBe(200);
    expect(last.type).toBe('end');
    expect(bytes).toEqual(BODY);
    // A new connection is a new session: what was in flight on the old one ends as peer_lost.
    const second = routedGet(requester, 'https://data.example/big');
    await firstChunk(second);
    requester.background.fromTransport({
      type: 'peer-up',
      peerId: 'exit-peer-id',
      remoteRole: 'exit',
      path: 'direct',
      pair: { local: 'host', remote: 'host' },
      connection: 2,
    });
    const cut = await readToEnd(second);
    expect(cut.last).toMatchObject({ type: 'error', error: { category: 'peer_lost' } });
  });

  it('an exit that pauses says so on the live session: the requester fails its next request at once with sharing_off, sending nothing; sharing again, it is served', async () => {
    const { requester, exit, fetched } = await connectedPair();
    const exitHealth = () => requester.background.state().peers.find((peer) => peer.remoteRole === 'exit')?.health;
    await expect.poll(exitHealth).toBe('warming');
    await exit.platform.setSettings({ sharePaused: true });
    await expect.poll(exitHealth).toBe('paused');
    const refused = routedGet(requester, 'https://data.example/p');
    expect((await readToEnd(refused)).last).toMatchObject({
      type: 'error',
      error: { category: 'sharing_off', message: 'every exit this browser is connected to has paused sharing' },
    });
    expect(fetched).toEqual([]);
    expect(exit.background.state().stats.refusedByCategory).toEqual({});
    // The transport is asked for other exits, the paused one not counted among those it has.
    expect(requester.transportLog.filter((message) => message.type === 'need-exits').at(-1)).toEqual({
      type: 'need-exits',
      paused: ['exit-peer-id'],
    });
    // The same session: no new connection was needed to hear it share again.
    await exit.platform.setSettings({ sharePaused: false });
    await expect.poll(exitHealth).toBe('warming');
    const served = routedGet(requester, 'https://data.example/q');
    expect((await readToEnd(served)).bytes).toEqual(BODY);
    expect(fetched).toEqual(['https://data.example/q']);
  });

  it('an exit whose person turns sharing off ends the download it serves with sharing_off at once, before its connections close', async () => {
    const { requester, exit, fetched } = await connectedPair();
    const port = routedGet(requester, 'https://data.example/big');
    // Mid-body, without reading on: the exit's window holds the rest back.
    await firstChunk(port);
    const framesBefore = exit.transportLog.length;
    await exit.platform.setSettings({ share: false });
    const { last } = await readToEnd(port);
    expect(last).toMatchObject({ type: 'error', error: { category: 'sharing_off' } });
    expect(fetched).toEqual(['https://data.example/big']);
    // The ERROR went to the transport before the configuration that closes the requesters' connections.
    const after = exit.transportLog
      .slice(framesBefore)
      .map((message) => (message.type === 'frame' ? decodeFrame(message.data).type : message.type));
    expect(after.indexOf('ERROR')).toBeGreaterThanOrEqual(0);
    expect(after.indexOf('ERROR')).toBeLessThan(after.indexOf('configure'));
  });

  it('a full queue answers 503 with Retry-After, as the error table says, and the refused request never reaches the exit', async () => {
    // The exit holds each answer until released: one request in flight (one slot), one waiting, the third refused.
    const fetched: string[] = [];
    const releases: (() => void)[] = [];
    const held: ExitFetcher = async (request) => {
      fetched.push(request.url);
      await new Promise<void>((resolve) => releases.push(resolve));
      return {
        head: { status: 200, statusText: 'OK', headers: [['content-length', '2']] },
        body: (async function* () {
          yield new TextEncoder().encode('ok');
        })(),
      };
    };
    const { DEFAULT_SETTINGS } = await import('../../extension/core/settings');
    const { requester } = await connectedPair({
      served: { fetcher: held, fetched },
      requesterSettings: { queue: { ...DEFAULT_SETTINGS.queue, maxQueued: 1, perPeerConcurrency: 1, hedging: false } },
    });
    const platform = requester.platform;
    const first = platform.connect('peerlane-request', contentScript(ROUTED));
    first.post({ type: 'request', method: 'GET', url: 'https://data.example/1', headers: [], priority: 'interactive' });
    await expect.poll(() => fetched).toEqual(['https://data.example/1']);
    const waiting = platform.connect('peerlane-request', contentScript(ROUTED));
    waiting.post({
      type: 'request',
      method: 'GET',
      url: 'https://data.example/2',
      headers: [],
      priority: 'interactive',
    });
    await expect.poll(() => requester.background.state().stats.queued).toBe(1);
    const refused = platform.connect('peerlane-request', contentScript(ROUTED));
    refused.post({
      type: 'request',
      method: 'GET',
      url: 'https://data.example/3',
      headers: [],
      priority: 'interactive',
    });
    const { head, bytes, last } = await readToEnd(refused);
    expect(last.type).toBe('end');
    expect(head?.status).toBe(503);
    expect(head?.headers).toContainEqual(['retry-after', '1']);
    expect(head?.headers).toContainEqual(['x-peerlane-error', 'queue_full']);
    expect(new TextDecoder().decode(bytes)).toMatch(/Retry after 1 s/);
    // The first answered, the waiting one goes; the refused one never does.
    releases.shift()!();
    await readToEnd(first);
    await expect.poll(() => fetched).toEqual(['https://data.example/1', 'https://data.example/2']);
    releases.shift()!();
    expect((await readToEnd(waiting)).head?.status).toBe(200);
    expect(fetched).toEqual(['https://data.example/1', 'https://data.example/2']);
  });

  it('configures the transport from the settings, and again when they change', async () => {
    const platform = new FakePlatform({ share: true, signalingUrl: 'ws://127.0.0.1:9999' });
    const { background, transportLog } = compose(platform, neverFetches, () => undefined);
    await background.ready;
    const configs = () => transportLog.flatMap((message) => (message.type === 'configure' ? [message.config] : []));
    expect(configs().at(-1)).toMatchObject({ signalingUrl: 'ws://127.0.0.1:9999', share: true, exitCapacity: 6 });
    await platform.setSettings({ sharePaused: true });
    await expect.poll(() => configs().at(-1)?.exitCapacity).toBe(0);
    // Access withdrawn: not offered any more, whatever the setting says.
    platform.granted.clear();
    await platform.setSettings({ sharePaused: false });
    await expect.poll(() => configs().at(-1)?.share).toBe(false);
  });
});

describe('the channel table, at connect', () => {
  async function alone(settings = { routedOrigins: [ROUTED], signalingToken: 'secret-token' }): Promise<Composed> {
    const composed = compose(new FakePlatform(settings), neverFetches, () => undefined);
    await composed.background.ready;
    return composed;
  }
  /** Lets the router judge (it waits for the settings) and any push go out. */
  const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

  it('a content-script port asking for the popup channel receives nothing and is disconnected', async () => {
    const { platform, background } = await alone();
    const port = platform.connect('peerlane-popup', contentScript(ROUTED));
    await port.until((p) => p.disconnectedByBackground);
    await settle();
    expect(port.received).toEqual([]);
    expect(background.state().stats.portsRefused).toBe(1);
  });

  it('our popup and options pages receive the state, settings included', async () => {
    const { platform } = await alone();
    for (const page of ['extension/ui/popup.html', 'extension/ui/options.html']) {
      const port = platform.connect('peerlane-popup', extensionPage(page));
      await port.until((p) => p.received.length > 0);
      expect((port.received[0] as ToPopup).state.settings.signalingToken).toBe('secret-token');
      expect(port.disconnectedByBackground).toBe(false);
    }
  });

  it('no secret reaches any other sender on the popup channel', async () => {
    const { platform, background } = await alone();
    const senders = [
      extensionPage('extension/ui/viewer.html'),
      extensionPage('extension/hosts/chrome-offscreen.html'),
      { url: `${TEST_EXTENSION_ORIGIN}.evil.example/extension/ui/popup.html` },
      { url: 'https://app.example/extension/ui/popup.html', tabId: 1 },
      {},
    ];
    const ports = senders.map((sender) => platform.connect('peerlane-popup', sender));
    for (const port of ports) await port.until((p) => p.disconnectedByBackground);
    await settle();
    expect(ports.flatMap((port) => port.received)).toEqual([]);
    expect(background.state().stats.portsRefused).toBe(senders.length);
  });

  it('the request channel admits only content scripts of routed origins, judged by exact origin', async () => {
    const { platform, background } = await alone();
    const refusedSenders = [
      contentScript('https://other.example'),
      contentScript('https://app.example:8443'),
      { url: `${ROUTED}/page` },
      extensionPage('extension/ui/popup.html'),
    ];
    const ports = refusedSenders.map((sender) => platform.connect('peerlane-request', sender));
    for (const port of ports)
      port.post({
        type: 'request',
        method: 'GET',
        url: 'https://data.example/x',
        headers: [],
        priority: 'interactive',
      });
    for (const port of ports) await port.until((p) => p.disconnectedByBackground);
    expect(ports.flatMap((port) => port.received)).toEqual([]);
    expect(background.state().stats.portsRefused).toBe(refusedSenders.length);
    // A routed origin added in the settings is admitted from then on.
    await platform.setSettings({ routedOrigins: [ROUTED, 'https://other.example'] });
    await expect.poll(() => background.state().settings.routedOrigins.length).toBe(2);
    const admitted = platform.connect('peerlane-request', contentScript('https://other.example'));
    admitted.post({
      type: 'request',
      method: 'GET',
      url: 'https://data.example/x',
      headers: [],
      priority: 'interactive',
    });
    await expect.poll(() => background.state().stats.queued).toBe(1);
    expect(admitted.disconnectedByBackground).toBe(false);
    admitted.disconnect();
    await expect.poll(() => background.state().stats.queued).toBe(0);
  });

  it('the viewer channel admits only our viewer page', async () => {
    const { platform, background } = await alone();
    const stranger = platform.connect('peerlane-viewer-request', contentScript(ROUTED));
    await stranger.until((p) => p.disconnectedByBackground);
    const viewer = platform.connect(
      'peerlane-viewer-request',
      extensionPage('extension/ui/viewer.html?url=https%3A%2F%2Fa.example%2F'),
    );
    viewer.post({ type: 'request', method: 'GET', url: 'https://a.example/', headers: [], priority: 'document' });
    await expect.poll(() => background.state().stats.queued).toBe(1);
    expect(viewer.disconnectedByBackground).toBe(false);
    viewer.disconnect();
  });

  it('a message that does not parse: the port is told why, disconnected and counted', async () => {
    const { platform, background } = await alone();
    const port = platform.connect('peerlane-request', contentScript(ROUTED));
    port.post({ type: 'request', method: 'GET', url: 42 });
    await port.until((p) => p.disconnectedByBackground);
    expect(port.received).toEqual([
      { type: 'error', error: { category: 'bad_message', message: expect.stringMatching(/url/) } },
    ]);
    expect(background.state().stats.portsInvalid).toBe(1);
    expect(background.state().stats.queued).toBe(0);
  });

  it('an unknown channel name is refused', async () => {
    const { platform, background } = await alone();
    const port = platform.connect('peerlane-anything', extensionPage('extension/ui/popup.html'));
    await port.until((p) => p.disconnectedByBackground);
    expect(port.received).toEqual([]);
    expect(background.state().stats.portsRefused).toBe(1);
  });
});
