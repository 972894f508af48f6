import { spawn, type ChildProcess } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { backgroundState, launchWithExtension, waitFor, type ExtensionBrowser } from '../helpers/chromium';
import { startCoturn, type Coturn } from '../helpers/coturn';
import { outputMatch } from '../helpers/child-output';
import { createNatLab, type NatLab } from '../helpers/nat-lab';
import { closeAll } from '../helpers/close-all';

/**
 * ICE across NATs, in namespaces (test/helpers/nat-lab.ts): two browsers each behind its own NAT
 * router, coturn and the signaling server on the "public" side. Behind cone NATs the browsers learn
 * server-reflexive candidates, report `cone` and connect directly; behind symmetric NATs they report
 * `symmetric`, signaling introduces them with the relay, and they connect through coturn.
 */
const SIGNALING_PORT = 8790;
const STUN_PORT = 3478;

/** One lab per scenario (namespaces, coturn, signaling): nothing of one NAT's mappings or relays leaks into the next. */
interface Lab {
  net: NatLab;
  coturn: Coturn;
  signalingUrl: string;
  browsers: ExtensionBrowser[];
  close(): Promise<void>;
}

async function startLab(): Promise<Lab> {
  const net = await createNatLab();
  const browsers: ExtensionBrowser[] = [];
  let coturn: Coturn | null = null;
  let signaling: ChildProcess | null = null;
  const close = async (): Promise<void> => {
    for (const browser of browsers) await browser.close().catch(() => undefined);
    if (signaling && signaling.exitCode === null) {
      const exited = new Promise((resolve) => signaling!.once('exit', resolve));
      signaling.kill('SIGKILL');
      await exited;
    }
    await closeAll(coturn);
    await net.destroy();
  };
  try {
    const [first, second] = net.publicAddresses;
    const pub = net.publicNamespace;
    coturn = await startCoturn({ netns: pub, listeningIps: [first, second], port: STUN_PORT });
    // The compiled server, as operators run it, inside the public namespace.
    const child = spawn('ip', ['netns', 'exec', pub, process.execPath, 'dist/signaling-server/main.js'], {
      env: {
        ...process.env,
        PEERLANE_HOST: first,
        PEERLANE_PORT: String(SIGNALING_PORT),
        PEERLANE_PRINT_URL: '1',
        PEERLANE_QUIET: '1',
        LOG_LEVEL: 'warn',
        // Two STUN addresses, so a symmetric NAT shows two different mappings.
        PEERLANE_STUN_URLS: `stun:${first}:${STUN_PORT},stun:${second}:${STUN_PORT}`,
        PEERLANE_TURN_URLS: coturn.url,
        PEERLANE_TURN_SECRET: coturn.secret,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    signaling = child;
    const signalingUrl = (await outputMatch(child, /PEERLANE_URL=(\S+)/, 'signaling in the lab', 15_000))[1]!;
    return { net, coturn, signalingUrl, browsers, close };
  } catch (error) {
    await close();
    throw error;
  }
}

async function pairBehind(
  lab: Lab,
  behaviour: 'cone' | 'symmetric',
): Promise<{ requester: ExtensionBrowser; exit: ExtensionBrowser }> {
  const { net, signalingUrl, browsers } = lab;
  net.setNat('a', behaviour);
  net.setNat('b', behaviour);
  const flags: string[] = [];
  const exit = await launchWithExtension([], flags, undefined, await net.wrapper(net.home.b, '/usr/bin/chromium'));
  browsers.push(exit);
  await exit.setSettings({ signalingUrl, share: true });
  const requester = await launchWithExtension([], flags, undefined, await net.wrapper(net.home.a, '/usr/bin/chromium'));
  browsers.push(requester);
  // Routing a site makes the requester look for exits.
  await requester.setSettings({ signalingUrl, routedOrigins: ['http://app.peerlane.test'] });
  return { requester, exit };
}

/** A fresh lab with a pair behind `behaviour` NATs; both must report that NAT kind before `check` runs. */
async function behind(
  behaviour: 'cone' | 'symmetric',
  check: (lab: Lab, pair: { requester: ExtensionBrowser; exit: ExtensionBrowser }) => Promise<void>,
): Promise<void> {
  const lab = await startLab();
  try {
    const pair = await pairBehind(lab, behaviour);
    for (const browser of [pair.requester, pair.exit]) {
      await waitFor(
        async () => (await backgroundState(browser)).transport.nat,
        (nat) => nat !== 'unknown',
        'the NAT probe',
        20_000,
      );
      expect((await backgroundState(browser)).transport.nat).toBe(behaviour);
    }
    await check(lab, pair);
  } finally {
    await lab.close();
  }
}

const exitPeers = async (requester: ExtensionBrowser) =>
  (await backgroundState(requester)).peers.filter((peer) => peer.remoteRole === 'exit');

describe('ICE across NATs (namespaces, coturn as STUN and TURN)', () => {
  it('behind cone NATs: server-reflexive candidates, reported as cone, connected directly', async () => {
    await behind('cone', async (_lab, { requester }) => {
      // ICE may answer first over the relay (its checks need no hole punched), then moves to the direct pair.
      const peers = await waitFor(
        () => exitPeers(requester),
        (list) => list.length > 0 && list.every((peer) => peer.path === 'direct'),
        'a direct connection to the exit',
        60_000,
      );
      expect(peers.map((peer) => peer.path)).toEqual(['direct']);
    });
  }, 120_000);

  it('behind symmetric NATs: reported as symmetric, introduced with the relay, connected through coturn', async () => {
    await behind('symmetric', async (lab, { requester, exit }) => {
      // About one attempt in three never completes in the lab; the mesh gives up after 20 s and the next
      // introduction connects. 120 s leaves six attempts: three failing in a row was seen in CI, once
      // beyond a 60 s bound and once 77 s into a 90 s one.
      const peers = await waitFor(
        () => exitPeers(requester),
        (list) => list.length > 0,
        'a connection to the exit',
        120_000,
      );
      expect(peers.map((peer) => peer.path)).toEqual(['relayed']);
      expect((await backgroundState(exit)).peers.map((peer) => peer.path)).toEqual(['relayed']);
      expect(lab.coturn.log()).toMatch(/ALLOCATE processed, success/);
    });
  }, 180_000);
});
