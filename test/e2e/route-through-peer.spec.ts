import { createHash } from 'node:crypto';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS } from '../../extension/core/settings';
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
import { closeAll } from '../helpers/close-all';

/**
 * The walking skeleton's story: Alice shares her connection; Bob routes a site; Bob's page fetches
 * from a host only Alice's browser can resolve, and gets the bytes through her.
 */
let origin: OriginServer;
let signaling: SignalingServer;
let exit: ExtensionBrowser;
let requester: ExtensionBrowser;
let appOrigin: string;
let dataOrigin: string;

beforeAll(async () => {
  origin = await startOriginServer();
  signaling = await startSignalingServer({ port: 0 });
  appOrigin = `http://app.peerlane.test:${origin.port}`;
  dataOrigin = `http://origin.peerlane.test:${origin.port}`;
  // The exit reaches the origin on its one allowed private address; `loopback.` names 127.0.0.1.
  exit = await launchWithExtension([
    `MAP origin.peerlane.test ${DEV_ORIGIN_ADDRESS}`,
    'MAP loopback.peerlane.test 127.0.0.1',
  ]);
  // The exit's own browser holds a cookie for the origin: it must never be sent for others.
  await exit.context.addCookies([{ name: 'exit-session', value: 'secret', domain: 'origin.peerlane.test', path: '/' }]);
  // The production policy with a one-address development allow-list, and the origin's port allowed.
  await exit.setSettings({
    signalingUrl: signaling.url,
    share: true,
    exitMethods: ['GET', 'HEAD', 'POST', 'PUT'],
    privateAllowList: DEV_PRIVATE_ALLOW_LIST,
    exitPorts: [...DEFAULT_SETTINGS.exitPorts, origin.port],
  });
  requester = await launchWithExtension([
    'MAP origin.peerlane.test ~NOTFOUND',
    'MAP loopback.peerlane.test ~NOTFOUND',
    'MAP app.peerlane.test 127.0.0.1',
    'MAP other.peerlane.test 127.0.0.1',
  ]);
  await requester.setSettings({ signalingUrl: signaling.url, routedOrigins: [appOrigin] });
  await waitForRoutedScripts(requester);
}, 60_000);

/** Fetches `url` in the page and reports `fetched <status>` or the error the page saw. */
function fetchOutcome(page: Page, url: string): Promise<string> {
  return page.evaluate(async (target) => {
    try {
      const response = await fetch(target);
      return `fetched ${response.status}`;
    } catch (error) {
      // A routed failure is the browser's own TypeError; Peerlane's reason is its cause.
      return `${String(error)}${(error as { cause?: { message?: string } }).cause?.message ? ` ${(error as { cause: { message: string } }).cause.message}` : ''}`;
    }
  }, url);
}

afterAll(async () => {
  await closeAll(requester, exit, signaling, origin);
});

describe('a routed page request travels through a peer', () => {
  it('small text arrives with the exit peer named, and without the origin cookie', async () => {
    const page = await requester.context.newPage();
    await page.goto(`${appOrigin}/app`);
    const result = await page.evaluate(async (url) => {
      const response = await fetch(url);
      return {
        status: response.status,
        text: await response.text(),
        peer: response.headers.get('x-peerlane-peer'),
        cookie: response.headers.get('set-cookie'),
        custom: response.headers.get('x-origin'),
      };
    }, `${dataOrigin}/small.txt`);
    expect(result).toMatchObject({ status: 200, text: SMALL_TEXT, custom: 'yes', cookie: null });
    expect(result.peer).toMatch(/^[A-Za-z0-9_-]{8}$/);
    // The origin saw the exit's fetch, with the Origin Bob's browser would have sent and no cookie of Alice's.
    const seen = origin.requests.filter((request) => request.path === '/small.txt');
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((request) => request.headers.origin === appOrigin && request.headers.cookie === undefined)).toBe(
      true,
    );
    await page.close();
  }, 90_000);

  it('a 5 MB body arrives intact (SHA-256) by fetch and by XMLHttpRequest', async () => {
    const page = await requester.context.newPage();
    await page.goto(`${appOrigin}/app`);
    const viaFetch = await page.evaluate(async (url) => {
      const response = await fetch(url);
      const bytes = new Uint8Array(await response.arrayBuffer());
      // crypto.subtle is unavailable on this plain-http fixture origin: hand the bytes to Node to hash.
      let binary = '';
      for (let offset = 0; offset < bytes.length; offset += 0x8000)
        binary += String.fromCharCode(...bytes.subarray(offset, offset + 0x8000));
      return { base64: btoa(binary), peer: response.headers.get('x-peerlane-peer') };
    }, `${dataOrigin}/big.bin`);
    const received = Buffer.from(viaFetch.base64, 'base64');
    expect(received.length).toBe(origin.bigBody.length);
    expect(createHash('sha256').update(received).digest('hex')).toBe(origin.bigSha256);
    expect(viaFetch.peer).not.toBeNull();
    const viaXhr = await page.evaluate(
      (url) =>
        new Promise<{ status: number; base64: string; peer: string | null }>((resolve, reject) => {
          const xhr = new XMLHttpRequest();
          xhr.open('GET', url);
          xhr.responseType = 'arraybuffer';
          xhr.onload = () => {
            const bytes = new Uint8Array(xhr.response as ArrayBuffer);
            let binary = '';
            for (let offset = 0; offset < bytes.length; offset += 0x8000)
              binary += String.fromCharCode(...bytes.subarray(offset, offset + 0x8000));
            resolve({ status: xhr.status, base64: btoa(binary), peer: xhr.getResponseHeader('x-peerlane-peer') });
          };
          xhr.onerror = () => reject(new Error('xhr failed'));
          xhr.send();
        }),
      `${dataOrigin}/big.bin`,
    );
    expect(viaXhr.status).toBe(200);
    const receivedByXhr = Buffer.from(viaXhr.base64, 'base64');
    expect(receivedByXhr.length).toBe(origin.bigBody.length);
    expect(createHash('sha256').update(receivedByXhr).digest('hex')).toBe(origin.bigSha256);
    expect(viaXhr.peer).not.toBeNull();
    await page.close();
  }, 90_000);

  it('aborting the page fetch cancels the exit fetch: the origin sees the connection closed', async () => {
    const page = await requester.context.newPage();
    await page.goto(`${appOrigin}/app`);
    const firstChunk = await page.evaluate(async (url) => {
      const controller = new AbortController();
      const response = await fetch(url, { signal: controller.signal });
      const reader = response.body!.getReader();
      const { value } = await reader.read();
      controller.abort();
      return value?.byteLength ?? 0;
    }, `${dataOrigin}/slow`);
    expect(firstChunk).toBeGreaterThan(0);
    await expect(
      Promise.race([
        origin.slowClientGone.then(() => 'closed'),
        new Promise((resolve) => setTimeout(() => resolve('still open'), 15_000)),
      ]),
    ).resolves.toBe('closed');
    await page.close();
  }, 30_000);

  it('a page on a site that is not routed cannot reach the same URL', async () => {
    const page = await requester.context.newPage();
    await page.goto(`http://other.peerlane.test:${origin.port}/app`);
    expect(await fetchOutcome(page, `${dataOrigin}/small.txt`)).not.toMatch(/^fetched/);
    await page.close();
  }, 30_000);

  it('request bodies travel: fetch with text, JSON, form data with a file, a Blob, a stream; XHR with a buffer', async () => {
    const page = await requester.context.newPage();
    await page.goto(`${appOrigin}/app`);
    const echoed = await page.evaluate(async (url) => {
      const read = async (response: Response) =>
        (await response.json()) as { method: string; contentType: string | null; bytes: number; text: string | null };
      const form = new FormData();
      form.append('name', 'peer');
      form.append('file', new Blob(['file contents'], { type: 'text/plain' }), 'notes.txt');
      const big = new Uint8Array(300_000).map((_, index) => index % 256);
      const stream = new ReadableStream({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('streamed '));
          controller.enqueue(new TextEncoder().encode('body'));
          controller.close();
        },
      });
      const xhr = await new Promise<{ status: number; text: string }>((resolve) => {
        const request = new XMLHttpRequest();
        request.open('PUT', `${url}?xhr`);
        request.onload = () => resolve({ status: request.status, text: request.responseText });
        request.onerror = () => resolve({ status: 0, text: 'error' });
        request.send(new TextEncoder().encode('xhr buffer').buffer);
      });
      return {
        text: await read(await fetch(url, { method: 'POST', body: 'plain text' })),
        json: await read(
          await fetch(url, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ a: 1 }),
          }),
        ),
        form: await read(await fetch(url, { method: 'POST', body: form })),
        params: await read(await fetch(url, { method: 'POST', body: new URLSearchParams({ q: 'peer lane' }) })),
        blob: await read(await fetch(url, { method: 'POST', body: new Blob([big]) })),
        stream: await read(await fetch(url, { method: 'POST', body: stream, duplex: 'half' } as RequestInit)),
        xhr: JSON.parse(xhr.text) as { method: string; text: string },
      };
    }, `${dataOrigin}/echo`);
    expect(echoed.text).toMatchObject({ method: 'POST', contentType: 'text/plain;charset=UTF-8', text: 'plain text' });
    expect(echoed.json).toMatchObject({ contentType: 'application/json', text: '{"a":1}' });
    expect(echoed.form.contentType).toMatch(/^multipart\/form-data; boundary=/);
    expect(echoed.form.text).toContain('filename="notes.txt"');
    expect(echoed.form.text).toContain('file contents');
    expect(echoed.params).toMatchObject({
      contentType: 'application/x-www-form-urlencoded;charset=UTF-8',
      text: 'q=peer+lane',
    });
    expect(echoed.blob.bytes).toBe(300_000);
    expect(echoed.stream.text).toBe('streamed body');
    expect(echoed.xhr).toMatchObject({ method: 'PUT', text: 'xhr buffer' });
    // Every one came through the exit: the requester cannot resolve the origin.
    expect(
      origin.requests
        .filter((request) => request.path.startsWith('/echo'))
        .every((request) => request.address === DEV_ORIGIN_ADDRESS),
    ).toBe(true);
    await page.close();
  }, 60_000);

  it('the popup counts the completed requests and shows the peer', async () => {
    const page = await requester.context.newPage();
    await page.goto(`chrome-extension://${requester.extensionId}/extension/ui/popup.html`);
    await page.waitForFunction(
      () => Number(document.querySelector('[data-testid="completed"]')?.textContent) >= 3,
      undefined,
      { timeout: 10_000 },
    );
    expect(Number(await page.getByTestId('peers').textContent())).toBeGreaterThanOrEqual(1);
    expect(await page.getByTestId('failed').textContent()).toBe('0');
    await page.setViewportSize({ width: 340, height: 600 });
    await page.screenshot({ path: 'test/artifacts/popup-requester.png', fullPage: true });
    const exitPopup = await exit.context.newPage();
    await exitPopup.goto(`chrome-extension://${exit.extensionId}/extension/ui/popup.html`);
    await exitPopup.waitForFunction(
      () => Number(document.querySelector('[data-testid="shared-requests"]')?.textContent) >= 3,
      undefined,
      { timeout: 10_000 },
    );
    await exitPopup.setViewportSize({ width: 340, height: 600 });
    await exitPopup.screenshot({ path: 'test/artifacts/popup-exit.png', fullPage: true });
    await exitPopup.close();
    await page.close();
  }, 30_000);

  it("a request body goes under the exit's credit: an XHR upload reports progress as the exit takes it; a method the exit does not carry fails before any byte leaves", async () => {
    const page = await requester.context.newPage();
    await page.goto(`${appOrigin}/app`);
    const upload = await page.evaluate(async (url) => {
      const body = new Uint8Array(3 * 1024 * 1024).map((_, index) => (index * 31) % 256);
      const events: { type: string; loaded: number; total: number; computable: boolean }[] = [];
      const echoed = await new Promise<string>((resolve) => {
        const request = new XMLHttpRequest();
        for (const type of ['loadstart', 'progress', 'load', 'loadend']) {
          request.upload.addEventListener(type, (event) => {
            const progress = event as ProgressEvent;
            events.push({
              type,
              loaded: progress.loaded,
              total: progress.total,
              computable: progress.lengthComputable,
            });
          });
        }
        request.open('POST', url);
        request.onload = () => resolve(request.responseText);
        request.onerror = () => resolve('error');
        request.send(body);
      });
      return { events, echoed: JSON.parse(echoed) as { bytes: number; sha256: string } };
    }, `${dataOrigin}/echo?upload`);
    const total = 3 * 1024 * 1024;
    const sent = new Uint8Array(total).map((_, index) => (index * 31) % 256);
    expect(upload.echoed).toMatchObject({ bytes: total, sha256: createHash('sha256').update(sent).digest('hex') });
    expect(upload.events[0]?.type).toBe('loadstart');
    expect(upload.events.slice(-2)).toEqual([
      { type: 'load', loaded: total, total, computable: true },
      { type: 'loadend', loaded: total, total, computable: true },
    ]);
    // Progress as the exit's credit came back, a window at a time: several steps, rising, each of the whole.
    const progress = upload.events.filter((event) => event.type === 'progress');
    expect(
      progress.filter((event) => event.loaded < total).length,
      JSON.stringify(upload.events),
    ).toBeGreaterThanOrEqual(3);
    expect(progress.map((event) => event.loaded)).toEqual(progress.map((event) => event.loaded).sort((a, b) => a - b));
    expect(progress.every((event) => event.total === total && event.computable)).toBe(true);

    // This exit carries GET, HEAD, POST and PUT (it said so in its HELLO): a DELETE is refused by the requester itself.
    const exitBefore = await backgroundState(exit);
    const refused = await page.evaluate(async (url) => {
      try {
        await fetch(url, { method: 'DELETE', body: new Uint8Array(1024 * 1024) });
        return null;
      } catch (error) {
        return {
          name: (error as Error).name,
          category: ((error as Error).cause as { category?: string } | undefined)?.category,
          reason: ((error as Error).cause as { message?: string } | undefined)?.message,
        };
      }
    }, `${dataOrigin}/echo/refused-delete`);
    expect(refused).toMatchObject({ name: 'TypeError', category: 'method_refused' });
    expect(refused?.reason).toMatch(/nothing was sent/);
    const exitAfter = await backgroundState(exit);
    // The exit never saw it: no refusal counted, no log line, and the origin had no DELETE.
    expect(exitAfter.stats.refusedByCategory.method_refused ?? 0).toBe(
      exitBefore.stats.refusedByCategory.method_refused ?? 0,
    );
    expect(exitAfter.log.some((entry) => entry.url.endsWith('/echo/refused-delete'))).toBe(false);
    const requesterLog = await waitFor(
      async () => (await backgroundState(requester)).log,
      (log) => log.some((entry) => entry.url.endsWith('/echo/refused-delete')),
      'the requester logged the refused DELETE',
    );
    const logged = requesterLog.find((entry) => entry.url.endsWith('/echo/refused-delete'));
    // Cross-origin, the DELETE needs a preflight first: that OPTIONS (judged as the DELETE it asks about) is what was refused, and the DELETE never went.
    expect(logged, JSON.stringify(logged)).toMatchObject({
      method: 'OPTIONS',
      outcome: 'method_refused',
      status: null,
      bytes: 0,
    });
    expect(refused?.reason).toMatch(/method DELETE is not carried/);
    expect(origin.requests.some((request) => request.method === 'DELETE')).toBe(false);
    await page.close();
  }, 60_000);

  it('the exit refuses a name that resolves to loopback (outside its allow-list) and the page learns why', async () => {
    const page = await requester.context.newPage();
    await page.goto(`${appOrigin}/app`);
    const outcome = await fetchOutcome(page, `http://loopback.peerlane.test:${origin.port}/big.bin`);
    expect(outcome).toMatch(/destination_refused/);
    expect(outcome).toMatch(/127\.0\.0\.1/);
    const popup = await requester.context.newPage();
    await popup.goto(`chrome-extension://${requester.extensionId}/extension/ui/popup.html`);
    await popup.waitForFunction(
      () => /destination refused 1/.test(document.querySelector('[data-testid="failures"]')?.textContent ?? ''),
      undefined,
      { timeout: 10_000 },
    );
    await popup.close();
    // The browser's own network error, which libraries recognise; Peerlane's reason rides in `cause`.
    const thrown = await page.evaluate(async (url) => {
      try {
        await fetch(url);
        return null;
      } catch (error) {
        return {
          name: (error as Error).name,
          message: (error as Error).message,
          category: ((error as Error).cause as { category?: string } | undefined)?.category,
        };
      }
    }, `http://loopback.peerlane.test:${origin.port}/small.txt?cause`);
    expect(thrown).toEqual({ name: 'TypeError', message: 'Failed to fetch', category: 'destination_refused' });
    await page.close();
  }, 60_000);

  it('redirects are followed by hand, every hop judged again, at most five', async () => {
    const page = await requester.context.newPage();
    await page.goto(`${appOrigin}/app`);
    const followed = await page.evaluate(async (url) => {
      const response = await fetch(url);
      return { status: response.status, text: await response.text() };
    }, `${dataOrigin}/redirect?to=/small.txt`);
    expect(followed).toEqual({ status: 200, text: SMALL_TEXT });
    // Reported as the browser reports them: final URL, redirected, no fragment, the same for XHR.
    const reported = await page.evaluate(async (base) => {
      const redirected = await fetch(`${base}/redirect?to=/small.txt#frag`);
      const plain = await fetch(`${base}/small.txt#frag`);
      const xhr = await new Promise<string>((resolve) => {
        const request = new XMLHttpRequest();
        request.open('GET', `${base}/redirect?to=/small.txt#x`);
        request.onload = () => resolve(request.responseURL);
        request.send();
      });
      return {
        redirectedUrl: redirected.url,
        redirected: redirected.redirected,
        plainUrl: plain.url,
        plainRedirected: plain.redirected,
        xhr,
      };
    }, dataOrigin);
    expect(reported).toEqual({
      redirectedUrl: `${dataOrigin}/small.txt`,
      redirected: true,
      plainUrl: `${dataOrigin}/small.txt`,
      plainRedirected: false,
      xhr: `${dataOrigin}/small.txt`,
    });
    expect(origin.requests.some((request) => request.path === '/redirect?to=/small.txt')).toBe(true);

    // A hop to a port the exit does not serve, or with credentials in the URL, is refused like a first
    // request would be. (Chrome itself fails redirects to its unsafe ports and non-http schemes.)
    const toPort = await fetchOutcome(
      page,
      `${dataOrigin}/redirect?to=${encodeURIComponent('http://origin.peerlane.test:9999/')}`,
    );
    expect(toPort).toMatch(/\(destination_refused\).*redirect refused: port 9999/);
    const withCredentials = await fetchOutcome(
      page,
      `${dataOrigin}/redirect?to=${encodeURIComponent(`http://user:pw@origin.peerlane.test:${origin.port}/small.txt`)}`,
    );
    expect(withCredentials).toMatch(/\(destination_refused\).*redirect refused: URLs with credentials/);

    const loopsBefore = origin.requests.filter((request) => request.path.startsWith('/redirect-loop/')).length;
    const loop = await fetchOutcome(page, `${dataOrigin}/redirect-loop/0`);
    expect(loop).toMatch(/\(too_many_redirects\).*more than 5 redirects/);
    // The first request and five followed hops, then the exit stopped.
    expect(origin.requests.filter((request) => request.path.startsWith('/redirect-loop/')).length - loopsBefore).toBe(
      6,
    );
    await page.close();
  }, 60_000);
});
