import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS } from '../../extension/core/settings';
import { startSignalingServer, type SignalingServer } from '../../signaling-server/server';
import { backgroundState, launchWithExtension, waitFor, type ExtensionBrowser } from '../helpers/chromium';
import { routedRequesterFor } from '../helpers/peer-pair';
import { startDohServer, type DohServer } from '../helpers/doh-server';
import { launchFirefoxPeer } from '../helpers/firefox';
import { DEV_ORIGIN_ADDRESS, SMALL_TEXT, startOriginServer, type OriginServer } from '../helpers/origin-server';
import { closeAll } from '../helpers/close-all';

/**
 * A routed page aims at the sharer's own network: a device on a private address (127.0.0.5 here,
 * 192.168.x.x in a home) behind a public-looking name that only the exit resolves, directly and
 * through a public redirect, by GET and by POST (the exit allows POST). The test watches the device,
 * not the answer: it must see no connection at all, from an exit of either browser, and the
 * requester must give up after one attempt (a refusal is final). The origin, on an address the
 * exit's development allow-list lets through, plays the public internet.
 */
const DEVICE_ADDRESS = '127.0.0.5';

let origin: OriginServer;
let signaling: SignalingServer;
let device: TcpServer;
const deviceConnections: string[] = [];
let appOrigin: string;

beforeAll(async () => {
  origin = await startOriginServer();
  signaling = await startSignalingServer({ port: 0 });
  appOrigin = `http://app.peerlane.test:${origin.port}`;
  // The device listens on the origin's port too: a request dialled by name after a rebinding would reach it.
  device = createTcpServer((socket) => {
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    deviceConnections.push(remote);
    socket.once('data', (data) => {
      deviceConnections.push(`${remote} ${data.toString('latin1').split('\r\n')[0]}`);
      socket.end('HTTP/1.1 200 OK\r\ncontent-length: 7\r\n\r\ndevice!');
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => device.listen(origin.port, DEVICE_ADDRESS, resolve));
}, 60_000);

afterAll(async () => {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- unset when beforeAll failed
  await new Promise<void>((resolve) => (device ? device.close(() => resolve()) : resolve()));
  await closeAll(signaling, origin);
});

const exitSettings = (publicAddress: string) => ({
  signalingUrl: signaling.url,
  share: true,
  privateAllowList: [`${publicAddress}/32`],
  exitMethods: ['GET', 'HEAD', 'POST'] as typeof DEFAULT_SETTINGS.exitMethods,
  exitPorts: [...DEFAULT_SETTINGS.exitPorts, origin.port],
});

// The requester resolves neither name: whatever happens to them happens at the exit.
const REQUESTER_RULES = [
  'MAP lan.peerlane.test ~NOTFOUND',
  'MAP rebind.peerlane.test ~NOTFOUND',
  'MAP app.peerlane.test 127.0.0.1',
];

/** The page's own fetch, and the browser's error with Peerlane's reason (its cause) when it fails. */
function pageFetch(page: Page, url: string, method: 'GET' | 'POST'): Promise<string> {
  return page.evaluate(
    async ({ target, verb }) => {
      try {
        const response = await fetch(target, verb === 'POST' ? { method: 'POST', body: 'secret=1' } : {});
        return `fetched ${response.status}: ${await response.text()}`;
      } catch (error) {
        const cause = (error as { cause?: { message?: string } }).cause?.message;
        return `${String(error)}${cause ? ` ${cause}` : ''}`;
      }
    },
    { target: url, verb: method },
  );
}

/** The stories both exits must tell alike; `more` adds a browser's own, with the same requester page. */
function privateTargetStories(
  label: string,
  publicAddress: string,
  start: () => Promise<{ requester: ExtensionBrowser; page: Page; close: () => Promise<void> }>,
  more?: (page: () => Page) => void,
): void {
  let requester: ExtensionBrowser;
  let page: Page;
  let close: () => Promise<void>;
  describe(`a ${label} exit and the sharer's own network`, () => {
    beforeAll(async () => {
      ({ requester, page, close } = await start());
    }, 90_000);
    afterAll(async () => {
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- unset when beforeAll failed
      await close?.();
    });

    const lan = (path: string): string => `http://lan.peerlane.test:${origin.port}${path}`;
    const viaRedirect = (to: string): string =>
      `http://${publicAddress}:${origin.port}/redirect?code=307&to=${encodeURIComponent(to)}`;
    const cases: { name: string; url: () => string; refusal: RegExp }[] = [
      {
        name: 'a public-looking name',
        url: () => lan(`/admin/name-${label}`),
        refusal: /destination_refused.*lan\.peerlane\.test resolves to private address 127\.0\.0\.5/,
      },
      {
        name: 'a public redirect to that name',
        url: () => viaRedirect(lan(`/admin/hop-name-${label}`)),
        refusal: /destination_refused.*lan\.peerlane\.test resolves to private address 127\.0\.0\.5/,
      },
      {
        name: 'a public redirect to its address',
        url: () => viaRedirect(`http://${DEVICE_ADDRESS}:${origin.port}/admin/hop-literal-${label}`),
        refusal: /destination_refused.*redirect refused: private or reserved address 127\.0\.0\.5/,
      },
    ];
    for (const { name, url, refusal } of cases) {
      for (const method of ['GET', 'POST'] as const) {
        it(`${method} to ${name}: the device sees no connection, and the refusal is not retried`, async () => {
          const before = new Set((await backgroundState(requester)).log.map((entry) => entry.id));
          const outcome = await pageFetch(page, url(), method);
          // The browser's own network error, with Peerlane's reason as its cause.
          expect(outcome).toMatch(/^TypeError: Failed to fetch/);
          expect(outcome).toMatch(refusal);
          const mine = (await backgroundState(requester)).log.filter(
            (entry) => entry.role === 'requester' && !before.has(entry.id),
          );
          expect(mine.map((entry) => ({ outcome: entry.outcome, attempts: entry.attempts }))).toEqual([
            { outcome: 'destination_refused', attempts: 1 },
          ]);
          expect(deviceConnections).toEqual([]);
        });
      }
    }
    more?.(() => page);
  });
}

/** A Chromium exit whose resolver answers as its host rules do, or as `resolver` when given (launched in the test's hook). */
async function chromiumStory(resolver?: () => DohServer) {
  // Chromium itself would connect `lan` and `rebind` to the device: only the exit's look-up stands between.
  const exit = await launchWithExtension([
    `MAP lan.peerlane.test ${DEVICE_ADDRESS}`,
    `MAP rebind.peerlane.test ${DEVICE_ADDRESS}`,
  ]);
  await exit.setSettings({
    ...exitSettings(DEV_ORIGIN_ADDRESS),
    ...(resolver ? { exitResolver: resolver().url } : {}),
  });
  return routedRequesterFor(exit, signaling.url, appOrigin, REQUESTER_RULES);
}

/**
 * Rebinding, as far as the lab can make it: the exit's resolver answers `rebind.peerlane.test` with
 * the public origin first (TTL 0) and the device next, while Chromium's own resolver already says
 * the device. The first request must go to the address the exit judged, not to what Chromium would
 * dial by name; the second is refused on its fresh look-up.
 */
let rebindingResolver: DohServer;
let rebindAsked = 0;
privateTargetStories(
  'Chromium',
  DEV_ORIGIN_ADDRESS,
  async () => {
    rebindingResolver = await startDohServer((name, type) => {
      if (name === 'lan.peerlane.test') return { addresses: [DEVICE_ADDRESS] };
      if (name !== 'rebind.peerlane.test') return 'NXDOMAIN';
      if (type === 'A') rebindAsked += 1;
      return { addresses: [rebindAsked <= 1 ? DEV_ORIGIN_ADDRESS : DEVICE_ADDRESS], ttlSeconds: 0 };
    });
    const story = await chromiumStory(() => rebindingResolver);
    return {
      ...story,
      close: async () => {
        await story.close();
        await rebindingResolver.close();
      },
    };
  },
  (page) =>
    it('a name that rebinds: the first request goes to the public address the exit judged, the second is refused, the device sees nothing', async () => {
      const first = await pageFetch(page(), `http://rebind.peerlane.test:${origin.port}/small.txt?rebind-1`, 'GET');
      expect(first).toBe(`fetched 200: ${SMALL_TEXT}`);
      expect(
        origin.requests
          .filter((request) => request.path === '/small.txt?rebind-1')
          .map((request) => [request.address, request.host]),
      ).toEqual([[DEV_ORIGIN_ADDRESS, `rebind.peerlane.test:${origin.port}`]]);
      const second = await pageFetch(page(), `http://rebind.peerlane.test:${origin.port}/small.txt?rebind-2`, 'POST');
      expect(second).toMatch(/destination_refused.*rebind\.peerlane\.test resolves to private address 127\.0\.0\.5/);
      expect(rebindingResolver.questions.filter((question) => question === 'rebind.peerlane.test A')).toHaveLength(2);
      expect(deviceConnections).toEqual([]);
    }),
);

// Every name this Firefox resolves is the device: its look-up (dns.resolve) is what refuses. Its
// forced address applies to IP literals as well, all but 127.0.0.1, so the public origin is there.
privateTargetStories('Firefox', '127.0.0.1', async () => {
  const exit = await launchFirefoxPeer([], { resolveOthersTo: DEVICE_ADDRESS });
  await exit.setSettings(exitSettings('127.0.0.1'));
  await waitFor(
    () => exit.state(),
    (state) => state.transport.signaling === 'connected' && state.access.allSites,
    'the Firefox exit online with access',
  );
  return routedRequesterFor(exit, signaling.url, appOrigin, REQUESTER_RULES);
});
