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
  attempt(options: AttemptOptions): Promise<Attempt>;
  close(): Promise<void>;
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

export async function startNatScene(bigBytes = 256 * 1024): Promise<NatScene> {
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
      PEERLANE_TURN_URLS: coturn.url,
      PEERLANE_TURN_SECRET: coturn.secret,
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
    const dataUrl = `http://origin.peerlane.test:${target.originPort}/big.bin`;

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
      async attempt({ relayOnly = false, deadlineMs, inspect }) {
        const sharing = exit;
        if (!sharing) throw new Error('startExit first');
        const requester = await launchWithExtension(
          [`MAP ${APP_HOST} ${first}`, 'MAP origin.peerlane.test ~NOTFOUND'],
          [],
          undefined,
          await net.wrapper(net.home.a, '/usr/bin/chromium'),
        );
        const result: Attempt = {
          ok: false,
          ttfbMs: null,
          pair: null,
          path: null,
          nat: { requester: 'unknown', exit: (await backgroundState(sharing)).transport.nat },
          failure: null,
        };
        try {
          const startedAt = Date.now();
          await requester.setSettings({ signalingUrl, routedOrigins: [appOrigin], relayOnly });
          await waitForRoutedScripts(requester);
          const page = await requester.context.newPage();
          await page.goto(`${appOrigin}/app`);
          const answer = await page.evaluate(
            async ({ url, deadline }) => {
              const controller = new AbortController();
              const timer = setTimeout(() => controller.abort(), deadline - Date.now());
              try {
                const response = await fetch(url, { signal: controller.signal });
                const headAt = performance.timeOrigin + performance.now();
                // No crypto.subtle on a plain-HTTP page: the bytes go to Node to be hashed.
                const body = new Uint8Array(await response.arrayBuffer());
                let binary = '';
                for (let at = 0; at < body.length; at += 0x8000)
                  binary += String.fromCharCode(...body.subarray(at, at + 0x8000));
                return { headAt, status: response.status, base64: btoa(binary), error: null };
              } catch (error) {
                return { headAt: null, status: 0, base64: '', error: String(error) };
              } finally {
                clearTimeout(timer);
              }
            },
            { url: dataUrl, deadline: startedAt + deadlineMs },
          );
          const state = await backgroundState(requester);
          result.nat.requester = state.transport.nat;
          const peer = state.peers.find((candidate) => candidate.remoteRole === 'exit');
          result.path = peer?.path ?? null;
          result.pair = peer?.pair ? `${peer.pair.local}→${peer.pair.remote}` : null;
          if (answer.headAt === null) {
            result.failure = `${answer.error}; peers: ${state.peers.length}, signaling ${state.transport.signaling}`;
          } else if (answer.status !== 200 || sha256(answer.base64) !== target.bigSha256) {
            result.failure = `answer ${answer.status}, body SHA-256 ${sha256(answer.base64).slice(0, 12)}… (expected ${target.bigSha256.slice(0, 12)}…)`;
          } else {
            result.ok = true;
            result.ttfbMs = answer.headAt - startedAt;
          }
          if (inspect) await inspect(requester, state);
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
