import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PopupState } from '../../extension/core/channels/popup-channel';
import { DEFAULT_SETTINGS, type Settings } from '../../extension/core/settings';
import { startSignalingServer, type SignalingServer } from '../../signaling-server/server';
import { backgroundState, launchWithExtension, waitFor } from '../helpers/chromium';
import { routedRequesterFor } from '../helpers/peer-pair';
import { launchFirefoxPeer } from '../helpers/firefox';
import {
  DEV_ORIGIN_ADDRESS,
  DEV_PRIVATE_ALLOW_LIST,
  startOriginServer,
  type OriginServer,
} from '../helpers/origin-server';
import { closeAll } from '../helpers/close-all';

/**
 * People change settings while their browsers work: a requester saves its options, an exit raises
 * its bandwidth cap, while a routed download is under way. The download goes on and arrives whole
 * (SHA-256), in one attempt, with each browser on each side. Saving a setting once closed the
 * session under it: the requester's GET failed at once with peer_lost, the exit's left the page
 * waiting for its timeout.
 */
const BODY_BYTES = 3 * 1024 * 1024;

let origin: OriginServer;
let signaling: SignalingServer;
let appOrigin: string;
let dataOrigin: string;

beforeAll(async () => {
  origin = await startOriginServer({ bigBytes: BODY_BYTES });
  signaling = await startSignalingServer({ port: 0 });
  appOrigin = `http://app.peerlane.test:${origin.port}`;
  dataOrigin = `http://origin.peerlane.test:${origin.port}`;
}, 60_000);

afterAll(async () => {
  await closeAll(signaling, origin);
});

/** One side as a test drives it, whichever browser it is. */
interface Side {
  state(): Promise<PopupState>;
  setSettings(settings: Partial<Settings>): Promise<void>;
  close(): Promise<void>;
}

interface Pairing {
  requester: Side;
  exit: Side;
  /** A paced download (~4 s) started in the requester's routed page: its bytes, base64 (no crypto.subtle on this http page). */
  download(url: string): Promise<string>;
}

const exitSettings = (): Partial<Settings> => ({
  signalingUrl: signaling.url,
  share: true,
  privateAllowList: DEV_PRIVATE_ALLOW_LIST,
  exitPorts: [...DEFAULT_SETTINGS.exitPorts, origin.port],
});

/** Runs in the page. */
async function downloadInPage(url: string): Promise<string> {
  const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
  let binary = '';
  for (let offset = 0; offset < bytes.length; offset += 0x8000)
    binary += String.fromCharCode(...bytes.subarray(offset, offset + 0x8000));
  return btoa(binary);
}

async function chromiumExit(): Promise<Side> {
  const exit = await launchWithExtension([`MAP origin.peerlane.test ${DEV_ORIGIN_ADDRESS}`]);
  await exit.setSettings(exitSettings());
  return {
    state: () => backgroundState(exit),
    setSettings: (settings) => exit.setSettings(settings),
    close: () => exit.close(),
  };
}

async function firefoxExit(): Promise<Side> {
  const exit = await launchFirefoxPeer([], { resolveOthersTo: DEV_ORIGIN_ADDRESS });
  await exit.setSettings(exitSettings());
  await waitFor(
    () => exit.state(),
    (state) => state.transport.signaling === 'connected' && state.access.allSites,
    'the Firefox exit online with access',
  );
  return {
    state: () => exit.state(),
    setSettings: (settings) => exit.setSettings(settings),
    close: () => exit.close(),
  };
}

async function chromiumRequester(exit: Side): Promise<Pairing> {
  // Closing the requester here closes only it: each side is closed on its own.
  const { requester, page } = await routedRequesterFor({ close: async () => undefined }, signaling.url, appOrigin, [
    'MAP origin.peerlane.test ~NOTFOUND',
    'MAP app.peerlane.test 127.0.0.1',
  ]);
  return {
    requester: {
      state: () => backgroundState(requester),
      setSettings: (settings) => requester.setSettings(settings),
      close: () => requester.close(),
    },
    exit,
    download: (url) => page.evaluate(downloadInPage, url),
  };
}

async function firefoxRequester(exit: Side): Promise<Pairing> {
  // Firefox maps only the app's name: the data host does not resolve here, so what arrives came through the exit.
  const requester = await launchFirefoxPeer(['app.peerlane.test']);
  await requester.setSettings({ signalingUrl: signaling.url, routedOrigins: [appOrigin] });
  await waitFor(
    () => requester.state(),
    (state) => state.stats.peers === 1 && state.access.unroutable.length === 0,
    'the Firefox requester connected, with access to the routed site',
  );
  const page = await requester.browser.newPage();
  await page.goto(`${appOrigin}/app`);
  return {
    requester: {
      state: () => requester.state(),
      setSettings: (settings) => requester.setSettings(settings),
      close: () => requester.close(),
    },
    exit,
    download: (url) => page.evaluate(downloadInPage, url),
  };
}

function settingsMidTransfer(label: string, start: () => Promise<Pairing>): void {
  const slug = label.toLowerCase().replace(/\W+/g, '-');
  describe(`a setting changed mid-transfer, ${label}`, () => {
    let pairing: Pairing;
    beforeAll(async () => {
      pairing = await start();
    }, 90_000);
    afterAll(async () => {
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- unset when beforeAll failed
      await closeAll(pairing?.requester, pairing?.exit);
    });

    /** Starts the download, changes a setting once the origin is sending it, and checks it arrives whole in one attempt. */
    async function changedMidway(marker: string, change: (pairing: Pairing) => Promise<void>): Promise<void> {
      const url = `${dataOrigin}/paced.bin?ms=4000&${marker}`;
      const download = pairing.download(url);
      await expect
        .poll(() => origin.requests.some((request) => request.path.endsWith(marker)), { timeout: 10_000, interval: 50 })
        .toBe(true);
      await expect
        .poll(async () => (await pairing.requester.state()).stats.inflight, { timeout: 10_000, interval: 50 })
        .toBe(1);
      await change(pairing);
      const received = Buffer.from(await download, 'base64');
      expect(received.length).toBe(BODY_BYTES);
      expect(createHash('sha256').update(received).digest('hex')).toBe(origin.bigSha256);
      const logged = (await pairing.requester.state()).log.filter(
        (entry) => entry.role === 'requester' && entry.url.endsWith('/paced.bin'),
      );
      expect(logged.at(-1)).toMatchObject({ outcome: 'ok', attempts: 1, resumed: 0 });
      expect(origin.requests.filter((request) => request.path.endsWith(marker))).toHaveLength(1);
    }

    it('the requester saves its options: the download goes on and arrives whole, in one attempt', async () => {
      await changedMidway(`requester-saves-${slug}`, async ({ requester }) => {
        await requester.setSettings({ checkExitsPercent: 7, queue: { ...DEFAULT_SETTINGS.queue, maxQueued: 200 } });
        await expect.poll(async () => (await requester.state()).settings.checkExitsPercent).toBe(7);
      });
    }, 60_000);

    it('the exit raises its bandwidth cap: the download goes on and arrives whole, in one attempt', async () => {
      await changedMidway(`exit-saves-${slug}`, async ({ exit }) => {
        await exit.setSettings({ exitCaps: { ...DEFAULT_SETTINGS.exitCaps, rateMBps: 4 } });
        await expect.poll(async () => (await exit.state()).settings.exitCaps.rateMBps).toBe(4);
      });
    }, 60_000);

    it('the exit pauses sharing: the requester hears it on the live session, and the download under way still arrives whole, in one attempt', async () => {
      const exitHealth = async () =>
        (await pairing.requester.state()).peers.find((peer) => peer.remoteRole === 'exit')?.health;
      await changedMidway(`exit-pauses-${slug}`, async ({ exit }) => {
        await exit.setSettings({ sharePaused: true });
        await expect.poll(exitHealth, { timeout: 5000 }).toBe('paused');
      });
      await pairing.exit.setSettings({ sharePaused: false });
      await expect.poll(exitHealth, { timeout: 5000 }).not.toBe('paused');
    }, 60_000);
  });
}

settingsMidTransfer('Chromium to Chromium', async () => chromiumRequester(await chromiumExit()));
settingsMidTransfer('Chromium requester, Firefox exit', async () => chromiumRequester(await firefoxExit()));
settingsMidTransfer('Firefox requester, Chromium exit', async () => firefoxRequester(await chromiumExit()));
