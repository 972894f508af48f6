import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backgroundState, launchWithExtension, waitFor, type ExtensionBrowser } from '../helpers/chromium';
import { startCoturn, type Coturn } from '../helpers/coturn';
import { createNatLab, type NatLab } from '../helpers/nat-lab';

/**
 * ICE across NATs, in namespaces (test/helpers/nat-lab.ts): two browsers each behind its own NAT
 * router, coturn and the signaling server on the "public" side. Behind cone NATs the browsers learn
 * server-reflexive candidates, report `cone` and connect directly; behind symmetric NATs they report
 * `symmetric`, signaling introduces them with the relay, and they connect through coturn.
 */
const SIGNALING_PORT = 8790;
const STUN_PORT = 3478;
let lab: NatLab;
let coturn: Coturn;
let signaling: ChildProcess;
let signalingUrl: string;
const browsers: ExtensionBrowser[] = [];

beforeAll(async () => {
  lab = await createNatLab();
  const [first, second] = lab.publicAddresses;
  const pub = (lab as NatLab & { ns: { pub: string } }).ns.pub;
  coturn = await startCoturn({ netns: pub, listeningIps: [first, second], port: STUN_PORT });
  // The compiled server, as operators run it, inside the public namespace.
  signaling = spawn('ip', ['netns', 'exec', pub, process.execPath, 'dist/signaling-server/main.js'], {
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
  signalingUrl = await new Promise<string>((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`signaling did not start in the lab: ${output}`)), 15_000);
    const read = (chunk: Buffer): void => {
      output += chunk.toString();
      const match = /PEERLANE_URL=(\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    signaling.stdout?.on('data', read);
    signaling.stderr?.on('data', read);
    signaling.once('exit', (code) => reject(new Error(`signaling exited with ${code}: ${output}`)));
  });
}, 60_000);

afterAll(async () => {
  for (const browser of browsers) await browser.close().catch(() => undefined);
  if (signaling && signaling.exitCode === null) {
    const exited = new Promise((resolve) => signaling.once('exit', resolve));
    signaling.kill('SIGKILL');
    await exited;
  }
  await coturn?.stop();
  await lab?.destroy();
});

async function pairBehind(behaviour: 'cone' | 'symmetric'): Promise<{ requester: ExtensionBrowser; exit: ExtensionBrowser }> {
  lab.setNat('a', behaviour);
  lab.setNat('b', behaviour);
  const exit = await launchWithExtension([], [], undefined, await lab.wrapper(lab.home.b, '/usr/bin/chromium'));
  browsers.push(exit);
  await exit.setSettings({ signalingUrl, share: true });
  const requester = await launchWithExtension([], [], undefined, await lab.wrapper(lab.home.a, '/usr/bin/chromium'));
  browsers.push(requester);
  // Routing a site makes the requester look for exits.
  await requester.setSettings({ signalingUrl, routedOrigins: ['http://app.peerlane.test'] });
  return { requester, exit };
}

describe('ICE across NATs (namespaces, coturn as STUN and TURN)', () => {
  it('behind cone NATs: server-reflexive candidates, reported as cone, connected directly', async () => {
    const { requester, exit } = await pairBehind('cone');
    for (const browser of [requester, exit]) {
      await waitFor(async () => (await backgroundState(browser)).transport.nat, (nat) => nat !== 'unknown', 'the NAT probe', 20_000);
      expect((await backgroundState(browser)).transport.nat).toBe('cone');
    }
    // ICE may answer first over the relay (its checks need no hole punched), then moves to the direct pair.
    const peers = await waitFor(async () => (await backgroundState(requester)).peers.filter((peer) => peer.remoteRole === 'exit'), (list) => list.length > 0 && list.every((peer) => peer.path === 'direct'), 'a direct connection to the exit', 60_000);
    expect(peers.map((peer) => peer.path)).toEqual(['direct']);
    for (const browser of [requester, exit]) await browser.close();
    browsers.length = 0;
  }, 120_000);

  it('behind symmetric NATs: reported as symmetric, introduced with the relay, connected through coturn', async () => {
    const { requester, exit } = await pairBehind('symmetric');
    for (const browser of [requester, exit]) {
      await waitFor(async () => (await backgroundState(browser)).transport.nat, (nat) => nat !== 'unknown', 'the NAT probe', 20_000);
      expect((await backgroundState(browser)).transport.nat).toBe('symmetric');
    }
    const peers = await waitFor(async () => (await backgroundState(requester)).peers.filter((peer) => peer.remoteRole === 'exit'), (list) => list.length > 0, 'a connection to the exit', 30_000);
    expect(peers.map((peer) => peer.path)).toEqual(['relayed']);
    expect((await backgroundState(exit)).peers.map((peer) => peer.path)).toEqual(['relayed']);
    expect(coturn.log()).toMatch(/ALLOCATE processed, success/);
  }, 90_000);
});
