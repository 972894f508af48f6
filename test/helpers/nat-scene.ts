import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { DEFAULT_SETTINGS } from '../../extension/core/settings';
import type { PopupState } from '../../extension/core/channels/popup-channel';
import { backgroundState, launchWithExtension, waitFor, waitForRoutedScripts, type ExtensionBrowser } from './chromium';
import { outputMatch } from './child-output';
import { closeAll } from './close-all';
import { startCoturn, type Coturn } from './coturn';
import { createNatLab, type NatBehaviour, type NatLab } from './nat-lab';
import { DEV_PRIVATE_ALLOW_LIST } from './origin-server';

/**
 * The NAT lab (nat-lab.ts) with what a connection needs around it, shared by nat-traversal.spec.ts
 * and `npm run bench:nat`: coturn as STUN and TURN and the compiled signaling server on the "public"
 * side, an origin the exit reaches in its own home (on its loopback, with its resolver), and an app
 * origin on the public side that requesters load their page from. An exit is started behind router
 * B, and `attempt` starts a fresh requester behind router A, routes one GET through the exit and
 * closes it: one fresh connection through signaling, measured from the requester's start.
 */
const SIGNALING_PORT = 8790;
const STUN_PORT = 3478;
const APP_HOST = 'app.peerlane.test';

export interface NatScene {
  net: NatLab;
  coturn: Coturn;
  /** Behind router B, sharing; replaced by `startExit`. */
  exit: ExtensionBrowser | null;
  startExit(behaviours: { requester: NatBehaviour; exit: NatBehaviour }, relayOnly?: boolean): Promise<void>;
  /** A fresh requester behind router A with the app page open, routing through the exit. */
  requester(relayOnly?: boolean): Promise<SceneRequester>;
  attempt(options: AttemptOptions): Promise<Attempt>;
  close(): Promise<void>;
}

export interface SceneRequester {
  browser: ExtensionBrowser;
  /** Date.now() when its settings were saved: the start of registration, NAT probe and introduction. */
  startedAt: number;
  /** A routed GET of `path` on the exit's origin (its big body or a paced one), read to the end in the page. */
  get(path: string, deadlineMs: number): Promise<RoutedAnswer>;
  /** Bytes of the GET in progress read so far in the page. */
  received(): Promise<number>;
  close(): Promise<void>;
}

export interface RoutedAnswer {
  /** Epoch ms of the answer's head; null: no answer (then `error`). */
  headAt: number | null;
  status: number;
  error: string | null;
  /** The body is the origin's big body, byte for byte (SHA-256). */
  intact: boolean;
}

export interface AttemptOptions {
  relayOnly?: boolean;
  /** The attempt fails past this (the requester is closed either way). */
  deadlineMs: number;
  /** Looks at the requester while it is connected, before it closes (a test's own assertions). */
  inspect?: (requester: ExtensionBrowser, state: PopupState) => Promise<void>;
}

export interface Attempt {
  ok: boolean;
  /** From the requester's start (settings saved) to the routed answer's head, in ms. */
  ttfbMs: number | null;
  /** `relay→prflx` etc.: the requester's selected candidate pair (local→remote). */
  pair: string | null;
  path: string | null;
  nat: { requester: string; exit: string };
  /** Why it failed, in words. */
  failure: string | null;
}

interface Servers {
  originPort: number;
  bigSha256: string;
  exitResolver: string;
}

function spawnIn(ns: string, args: string[], env: NodeJS.ProcessEnv = process.env): ChildProcess {
  return spawn('ip', ['netns', 'exec', ns, process.execPath, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
}

async function stop(child: ChildProcess | null): Promise<void> {
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

/** `relay: false`: signaling offers no TURN relay (coturn still answers STUN), as an operator may run it. */
export async function startNatScene(bigBytes = 256 * 1024, { relay = true } = {}): Promise<NatScene> {
  const net = await createNatLab();
  const children: ChildProcess[] = [];
  let coturn: Coturn | null = null;
  let exit: ExtensionBrowser | null = null;
  const close = async (): Promise<void> => {
    await closeAll(exit, ...children.map((child) => ({ close: () => stop(child) })), coturn);
    await net.destroy();
  };
  try {
    const [first, second] = net.publicAddresses;
    const pub = net.publicNamespace;
    coturn = await startCoturn({ netns: pub, listeningIps: [first, second], port: STUN_PORT });
    // The compiled server, as operators run it.
    const signaling = spawnIn(pub, ['dist/signaling-server/main.js'], {
      ...process.env,
      PEERLANE_HOST: first,
      PEERLANE_PORT: String(SIGNALING_PORT),
      PEERLANE_PRINT_URL: '1',
      PEERLANE_QUIET: '1',
      LOG_LEVEL: 'warn',
      // Two STUN addresses, so a symmetric NAT shows two different mappings.
      PEERLANE_STUN_URLS: `stun:${first}:${STUN_PORT},stun:${second}:${STUN_PORT}`,
      ...(relay ? { PEERLANE_TURN_URLS: coturn.url, PEERLANE_TURN_SECRET: coturn.secret } : {}),
    });
    children.push(signaling);
    const signalingUrl = (await outputMatch(signaling, /PEERLANE_URL=(\S+)/, 'signaling in the lab', 15_000))[1]!;
    const servers = async (ns: string, alsoListenOn: string[]): Promise<Servers> => {
      const child = spawnIn(ns, ['--import', 'tsx', 'test/helpers/origin-main.ts', String(bigBytes), ...alsoListenOn]);
      children.push(child);
      return JSON.parse((await outputMatch(child, /^\{.*\}$/m, `the origin in ${ns}`, 20_000))[0]) as Servers;
    };
    const [target, app] = await Promise.all([servers(net.home.b, []), servers(pub, [first])]);
    const appOrigin = `http://${APP_HOST}:${app.originPort}`;
    const dataOrigin = `http://origin.peerlane.test:${target.originPort}`;

    const natOf = async (browser: ExtensionBrowser): Promise<string> =>
      (
        await waitFor(
          () => backgroundState(browser),
          (state) => state.transport.nat !== 'unknown',
          'the NAT probe',
          20_000,
        )
      ).transport.nat;

    const scene: NatScene = {
      net,
      coturn,
      exit: null,
      async startExit(behaviours, relayOnly = false) {
        await closeAll(exit);
        exit = null;
        scene.exit = null;
        net.setNat('a', behaviours.requester);
        net.setNat('b', behaviours.exit);
        exit = await launchWithExtension([], [], undefined, await net.wrapper(net.home.b, '/usr/bin/chromium'));
        scene.exit = exit;
        await exit.setSettings({
          signalingUrl,
          share: true,
          relayOnly,
          exitResolver: target.exitResolver,
          privateAllowList: DEV_PRIVATE_ALLOW_LIST,
          exitPorts: [...DEFAULT_SETTINGS.exitPorts, target.originPort],
        });
        await natOf(exit);
      },
      async requester(relayOnly = false) {
        const browser = await launchWithExtension(
          [`MAP ${APP_HOST} ${first}`, 'MAP origin.peerlane.test ~NOTFOUND'],
          [],
          undefined,
          await net.wrapper(net.home.a, '/usr/bin/chromium'),
        );
        try {
          const startedAt = Date.now();
          await browser.setSettings({ signalingUrl, routedOrigins: [appOrigin], relayOnly });
          await waitForRoutedScripts(browser);
          const page = await browser.context.newPage();
          await page.goto(`${appOrigin}/app`);
          const get = async (path: string, deadlineMs: number): Promise<RoutedAnswer> => {
            const answer = await page.evaluate(routedGet, {
              url: `${dataOrigin}${path}`,
              deadline: Date.now() + deadlineMs,
            });
            return {
              headAt: answer.headAt,
              status: answer.status,
              error: answer.error,
              intact: answer.headAt !== null && sha256(answer.base64) === target.bigSha256,
            };
          };
          const received = () => page.evaluate(() => (window as { peerlaneReceived?: number }).peerlaneReceived ?? 0);
          return { browser, startedAt, get, received, close: () => browser.close() };
        } catch (error) {
          await browser.close();
          throw error;
        }
      },
      async attempt({ relayOnly = false, deadlineMs, inspect }) {
        const sharing = exit;
        if (!sharing) throw new Error('startExit first');
        const result: Attempt = {
          ok: false,
          ttfbMs: null,
          pair: null,
          path: null,
          nat: { requester: 'unknown', exit: (await backgroundState(sharing)).transport.nat },
          failure: null,
        };
        const requester = await scene.requester(relayOnly);
        try {
          const answer = await requester.get('/big.bin', requester.startedAt + deadlineMs - Date.now());
          const state = await backgroundState(requester.browser);
          result.nat.requester = state.transport.nat;
          const peer = state.peers.find((candidate) => candidate.remoteRole === 'exit');
          result.path = peer?.path ?? null;
          result.pair = peer?.pair ? `${peer.pair.local}→${peer.pair.remote}` : null;
          if (answer.headAt === null) {
            result.failure = `${answer.error}; peers: ${state.peers.length}, signaling ${state.transport.signaling}`;
          } else if (answer.status !== 200 || !answer.intact) {
            result.failure = `answer ${answer.status}, body ${answer.intact ? 'intact' : 'not the origin’s (SHA-256 differs)'}`;
          } else {
            result.ok = true;
            result.ttfbMs = answer.headAt - requester.startedAt;
          }
          if (inspect) await inspect(requester.browser, state);
        } finally {
          await requester.close();
        }
        return result;
      },
      close,
    };
    return scene;
  } catch (error) {
    await close();
    throw error;
  }
}

const sha256 = (base64: string): string => createHash('sha256').update(Buffer.from(base64, 'base64')).digest('hex');

/** In the page: one GET read to the end (bytes counted as they come), base64 for Node to hash. */
async function routedGet({ url, deadline }: { url: string; deadline: number }) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), deadline - Date.now());
  const progress = window as { peerlaneReceived?: number };
  progress.peerlaneReceived = 0;
  try {
    const response = await fetch(url, { signal: controller.signal });
    const headAt = performance.timeOrigin + performance.now();
    const chunks: Uint8Array[] = [];
    const reader = response.body!.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      progress.peerlaneReceived += value.length;
    }
    // No crypto.subtle on a plain-HTTP page: the bytes go to Node to be hashed.
    let binary = '';
    for (const chunk of chunks)
      for (let at = 0; at < chunk.length; at += 0x8000)
        binary += String.fromCharCode(...chunk.subarray(at, at + 0x8000));
    return { headAt, status: response.status, base64: btoa(binary), error: null };
  } catch (error) {
    const cause = (error as { cause?: { message?: string } }).cause?.message;
    return { headAt: null, status: 0, base64: '', error: cause ? `${String(error)} (${cause})` : String(error) };
  } finally {
    clearTimeout(timer);
  }
}
