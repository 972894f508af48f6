import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS } from '../../extension/core/settings';
import { issueToken } from '../../signaling-server/auth';
import { startSignalingServer, type SignalingServer } from '../../signaling-server/server';
import {
  backgroundState,
  launchWithExtension,
  waitFor,
  waitForRoutedScripts,
  type ExtensionBrowser,
} from '../helpers/chromium';
import {
  DEV_ORIGIN_ADDRESS,
  DEV_PRIVATE_ALLOW_LIST,
  SMALL_TEXT,
  startOriginServer,
  type OriginServer,
} from '../helpers/origin-server';
import { runBytes, runResults, startRuns } from '../helpers/page-runs';
import { freePort, startRedis, type RedisProcess } from '../helpers/redis';
import { startSignalingNode, type SignalingNode } from '../helpers/signaling-node';
import { startTcpBalancer, type TcpBalancer } from '../helpers/tcp-balancer';
import { closeAll } from '../helpers/close-all';

/**
 * Signaling can go away without taking the product with it: a restart mid-transfer leaves the data
 * channel (and the transfer) alone and new introductions work after it; two nodes over Redis behind
 * a balancer introduce across nodes, and when one node dies its browsers reconnect to the other.
 */
let origin: OriginServer;
let appOrigin: string;
let dataOrigin: string;
const browsers: ExtensionBrowser[] = [];

beforeAll(async () => {
  origin = await startOriginServer();
  appOrigin = `http://app.peerlane.test:${origin.port}`;
  dataOrigin = `http://origin.peerlane.test:${origin.port}`;
}, 30_000);

afterAll(async () => {
  for (const browser of browsers) await browser.close().catch(() => undefined);
  await closeAll(origin);
});

async function exitOn(signalingUrl: string): Promise<ExtensionBrowser> {
  const exit = await launchWithExtension([`MAP origin.peerlane.test ${DEV_ORIGIN_ADDRESS}`]);
  browsers.push(exit);
  await exit.setSettings({
    signalingUrl,
    share: true,
    privateAllowList: DEV_PRIVATE_ALLOW_LIST,
    exitPorts: [...DEFAULT_SETTINGS.exitPorts, origin.port],
  });
  return exit;
}

async function requesterOn(signalingUrl: string): Promise<ExtensionBrowser> {
  const requester = await launchWithExtension([
    'MAP origin.peerlane.test ~NOTFOUND',
    'MAP app.peerlane.test 127.0.0.1',
  ]);
  browsers.push(requester);
  await requester.setSettings({ signalingUrl, routedOrigins: [appOrigin] });
  await waitForRoutedScripts(requester);
  await waitFor(
    async () => (await backgroundState(requester)).stats.peers,
    (peers) => peers >= 1,
    'the requester connected to an exit',
  );
  return requester;
}

async function routedSmallText(requester: ExtensionBrowser): Promise<string> {
  const page = await requester.context.newPage();
  await page.goto(`${appOrigin}/app`);
  const text = await page.evaluate(
    async (url) => (await fetch(url)).text(),
    `${dataOrigin}/small.txt?${Math.random()}`,
  );
  await page.close();
  return text;
}

const health = async (httpBase: string): Promise<{ peers: number; exits: number; node: string }> =>
  (await (await fetch(`${httpBase}/healthz`)).json()) as { peers: number; exits: number; node: string };

describe('a signaling server that requires tokens and extension origins', () => {
  it('admits the extension with the token from its options, and refuses it without one', async () => {
    const signaling = await startSignalingServer({
      port: 0,
      tokenSecret: 'operator-secret',
      allowedOrigins: ['chrome-extension://*', 'moz-extension://*'],
    });
    try {
      const browser = await launchWithExtension([]);
      browsers.push(browser);
      await browser.setSettings({ signalingUrl: signaling.url });
      const httpBase = signaling.url.replace(/^ws/, 'http');
      // Refused at the door (401 token_missing): the extension keeps retrying, never connected.
      await waitFor(
        async () =>
          (await (await fetch(`${httpBase}/metrics`)).text()).match(
            /rejects_total\{reason="token_missing"\} (\d+)/,
          )?.[1] ?? '0',
        (count) => count !== '0',
        'a refusal for the missing token',
      );
      expect((await backgroundState(browser)).transport.signaling).not.toBe('connected');
      await browser.setSettings({ signalingToken: issueToken('operator-secret', 'e2e', Date.now() / 1000 + 3600) });
      await waitFor(
        async () => (await backgroundState(browser)).transport.signaling,
        (state) => state === 'connected',
        'connected with the token',
      );
      // Connected is the socket; registered (challenge signed, checked) follows a moment later.
      await waitFor(
        () => health(httpBase),
        (seen) => seen.peers === 1,
        'registered with the token',
        10_000,
      );
    } finally {
      await signaling.close();
    }
  }, 60_000);
});

describe('a signaling restart', () => {
  let signaling: SignalingServer;
  let port: number;

  afterAll(async () => {
    await closeAll(signaling);
  });

  it('mid-transfer: the transfer completes over the data channel, both peers re-register, a new requester is introduced', async () => {
    port = await freePort();
    signaling = await startSignalingServer({ port, reconnectWithinMs: 500, drainMs: 3000 });
    const exit = await exitOn(signaling.url);
    const requester = await requesterOn(signaling.url);
    const idsBefore = [
      (await backgroundState(exit)).transport.selfId,
      (await backgroundState(requester)).transport.selfId,
    ];
    const page = await requester.context.newPage();
    await page.goto(`${appOrigin}/app`);
    // A 5 MB body trickled over 6 s; the page reports progress so the restart lands mid-body.
    await startRuns(page, [{ key: 'paced', url: `${dataOrigin}/paced.bin?ms=6000` }]);
    const readSoFar = async () => (await runBytes(page, ['paced']))[0]!;
    await expect.poll(readSoFar, { timeout: 20_000, interval: 100 }).toBeGreaterThan(512 * 1024);

    await signaling.close(); // drains: both browsers are told to reconnect, then the server is gone
    const receivedWhileDown = await readSoFar();
    signaling = await startSignalingServer({ port, reconnectWithinMs: 500 });

    expect((await runResults(page, ['paced'])).paced).toMatchObject({ status: 200, sha256: origin.bigSha256 });
    expect(await readSoFar()).toBeGreaterThan(receivedWhileDown);

    const httpBase = signaling.url.replace(/^ws/, 'http');
    await waitFor(
      () => health(httpBase),
      (seen) => seen.peers === 2 && seen.exits === 1,
      'both browsers registered again after the restart',
      20_000,
    );
    expect(await backgroundState(exit)).toMatchObject({ transport: { signaling: 'connected' } });
    // Stable identities: both came back under the ids they had, and once the requester has asked the
    // new server for exits (excluding the one it has, by that id), it still holds exactly one channel.
    expect([
      (await backgroundState(exit)).transport.selfId,
      (await backgroundState(requester)).transport.selfId,
    ]).toEqual(idsBefore);
    await waitFor(
      async () =>
        (await (await fetch(`${httpBase}/metrics`)).text()).match(/messages_total\{type="find-exits"\} (\d+)/)?.[1] ??
        '0',
      (count) => Number(count) >= 2,
      'the requester asked the new server for exits',
    );
    const requesterPeers = (await backgroundState(requester)).peers;
    // (The popup's peer list shows ids by their first 8 characters.)
    expect(requesterPeers.map((peer) => peer.peerId)).toEqual([idsBefore[0]!.slice(0, 8)]);
    expect((await backgroundState(exit)).peers.map((peer) => peer.peerId)).toEqual([idsBefore[1]!.slice(0, 8)]);
    const newcomer = await requesterOn(signaling.url);
    expect(await routedSmallText(newcomer)).toBe(SMALL_TEXT);
  }, 120_000);
});

describe('a browser restart', () => {
  it("keeps the install's peer id: the key pair outlives the browser", async () => {
    const signaling = await startSignalingServer({ port: 0 });
    const profile = await mkdtemp(join(tmpdir(), 'peerlane-kept-profile-'));
    try {
      const connectedId = async (browser: ExtensionBrowser): Promise<string | null> => {
        await browser.setSettings({ signalingUrl: signaling.url });
        return (
          await waitFor(
            async () => (await backgroundState(browser)).transport,
            (transport) => transport.signaling === 'connected' && transport.selfId !== null,
            'registered',
          )
        ).selfId;
      };
      const first = await launchWithExtension([], [], profile);
      const before = await connectedId(first);
      await first.close();
      const second = await launchWithExtension([], [], profile);
      browsers.push(second);
      expect(await connectedId(second)).toBe(before);
      // Another install (another profile) has another id.
      const other = await launchWithExtension([]);
      browsers.push(other);
      expect(await connectedId(other)).not.toBe(before);
    } finally {
      await signaling.close();
      await rm(profile, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('two signaling nodes over Redis behind a balancer', () => {
  let redis: RedisProcess;
  let nodes: SignalingNode[] = [];
  let balancer: TcpBalancer;

  beforeAll(async () => {
    redis = await startRedis();
    const ports = [await freePort()];
    while (ports.length < 2) {
      const port = await freePort();
      if (!ports.includes(port)) ports.push(port);
    }
    nodes = await Promise.all(
      ports.map((port) => startSignalingNode(port, { REDIS_URL: redis.url, PEERLANE_DRAIN_MS: '1000' })),
    );
    balancer = await startTcpBalancer(nodes.map((node) => node.port));
  }, 60_000);

  afterAll(async () => {
    await closeAll(balancer);
    for (const node of nodes) await node.kill();
    await closeAll(redis);
  });

  it('introduces a requester on one node to an exit on the other; when a node dies its browsers reconnect to the survivor', async () => {
    const viaBalancer = `ws://127.0.0.1:${balancer.port}`;
    const exit = await exitOn(viaBalancer);
    const exitNode = await waitFor(
      async () =>
        (
          await Promise.all(nodes.map(async (node) => ({ node, seen: await health(node.url.replace(/^ws/, 'http')) })))
        ).find((entry) => entry.seen.exits === 1)?.node ?? null,
      (node) => node !== null,
      'the exit registered on a node',
    );
    const requester = await requesterOn(viaBalancer);
    const [requesterNode] = await Promise.all(
      nodes.map(async (node) => ({ node, seen: await health(node.url.replace(/^ws/, 'http')) })),
    ).then((all) =>
      all.filter((entry) => entry.node !== exitNode && entry.seen.peers === 1).map((entry) => entry.node),
    );
    // Round robin put them on different nodes: the introduction and the SDP/ICE crossed Redis.
    expect(requesterNode).toBeDefined();
    expect(await routedSmallText(requester)).toBe(SMALL_TEXT);

    const survivor = nodes.find((node) => node !== exitNode)!;
    await exitNode!.kill();
    await waitFor(
      () => health(survivor.url.replace(/^ws/, 'http')),
      (seen) => seen.peers === 2 && seen.exits === 1,
      'both browsers on the surviving node',
      30_000,
    );
    expect((await backgroundState(exit)).transport.signaling).toBe('connected');
    // Routing still works (the data channel outlived the node), and new introductions come from the survivor.
    expect(await routedSmallText(requester)).toBe(SMALL_TEXT);
    const newcomer = await requesterOn(viaBalancer);
    expect(await routedSmallText(newcomer)).toBe(SMALL_TEXT);
  }, 120_000);
});
