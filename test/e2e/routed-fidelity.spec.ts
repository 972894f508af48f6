import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS } from '../../extension/core/settings';
import { startSignalingServer, type SignalingServer } from '../../signaling-server/server';
import { backgroundState, launchWithExtension, waitFor, waitForRoutedScripts, type ExtensionBrowser } from '../helpers/chromium';
import { launchFirefoxPeer, type FirefoxPeer } from '../helpers/firefox';
import { DEV_ORIGIN_ADDRESS, DEV_PRIVATE_ALLOW_LIST, SMALL_TEXT, startOriginServer, type OriginServer } from '../helpers/origin-server';

/**
 * A routed page behaves as the browser itself: one battery of checks runs on a page that reaches the
 * origin directly and on the same page routed through a peer, in Chromium and in Firefox, and the two
 * results are compared check by check. A difference not in DELIBERATE (the README's table) fails.
 * The requesters cannot resolve the data origins at all (host rules; Firefox knows only the app's
 * name): whatever a routed page read came through the exit.
 *
 * The battery: CORS (core/http/cors.ts: which cross-origin answers a page may read, which headers it
 * sees, preflights, no-cors, credentials, redirects, fetch and XMLHttpRequest alike), redirect modes
 * and Subresource Integrity (core/http/integrity.ts); the page's other ways out (page-surfaces.ts):
 * EventSource, sendBeacon, frames' fetch, WebSocket and Worker.
 */

/**
 * Runs in the page, given the data origin and a third origin. Kept as source text: it must reach
 * both browsers' pages exactly as written (no helper the test runner's transform would add).
 */
const BATTERY = `async (data, other, digests) => {
  const out = {};
  async function check(name, run) {
    try { out[name] = await run(); } catch (error) { out[name] = 'rejected ' + error.name + ': ' + error.message; }
  }
  function names(headers) { return [...headers.keys()].filter((name) => name !== 'x-peerlane-peer').sort().join(','); }
  async function summary(response) {
    const body = await response.text();
    return [response.type, response.status, response.redirected ? 'redirected' : 'direct', response.url.replace(data, 'DATA').replace(other, 'OTHER'), 'headers[' + names(response.headers) + ']', 'x-hidden=' + response.headers.get('x-hidden'), 'x-shown=' + response.headers.get('x-shown'), JSON.stringify(body)].join(' ');
  }
  function xhr(url, init) {
    return new Promise((resolve) => {
      const request = new XMLHttpRequest();
      const events = [];
      for (const type of ['load', 'error', 'abort']) request.addEventListener(type, () => events.push(type));
      request.addEventListener('loadend', () => resolve([events.join('+'), request.readyState, request.status, 'headers[' + request.getAllResponseHeaders().split('\\r\\n').map((line) => line.split(':')[0]).filter((name) => name && name !== 'x-peerlane-peer').sort().join(',') + ']', 'x-hidden=' + request.getResponseHeader('x-hidden'), JSON.stringify(request.responseText)].join(' ')));
      request.open(init.method ?? 'GET', url);
      request.withCredentials = init.withCredentials === true;
      request.send(init.body ?? null);
    });
  }
  await check('same origin: all of it', () => fetch('/cors/none').then(summary));
  await check('cross-origin without CORS headers', () => fetch(data + '/cors/none').then(summary));
  await check('wildcard: safelisted headers only', () => fetch(data + '/cors/star').then(summary));
  await check('a header exposed by name', () => fetch(data + '/cors/expose').then(summary));
  await check('every header exposed', () => fetch(data + '/cors/expose-all').then(summary));
  await check('wildcard, credentials asked for', () => fetch(data + '/cors/star', { credentials: 'include' }).then(summary));
  await check('exact origin, credentials allowed', () => fetch(data + '/cors/app', { credentials: 'include' }).then(summary));
  await check('the Origin reflected back', () => fetch(data + '/cors/reflect').then(summary));
  await check('no-cors: opaque', () => fetch(data + '/cors/none', { mode: 'no-cors' }).then(summary));
  await check('same-origin mode, another origin', () => fetch(data + '/cors/star', { mode: 'same-origin' }).then(summary));
  await check('HEAD across origins', () => fetch(data + '/cors/star', { method: 'HEAD' }).then(summary));
  await check('simple POST across origins', () => fetch(data + '/cors/preflight', { method: 'POST', body: 'x', headers: { 'content-type': 'text/plain' } }).then(summary));
  await check('preflighted PUT, allowed', () => fetch(data + '/cors/preflight', { method: 'PUT', body: 'x', headers: { 'x-api-key': 'k' } }).then(summary));
  await check('preflighted PUT, method not allowed', () => fetch(data + '/cors/preflight-denied', { method: 'PUT', body: 'x' }).then(summary));
  await check('preflighted JSON POST, header not allowed', () => fetch(data + '/cors/preflight-denied', { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } }).then(summary));
  await check('redirect within the data origin', () => fetch(data + '/cors/redirect?to=/cors/star').then(summary));
  await check('redirect to a third origin that allows any', () => fetch(data + '/cors/redirect?to=' + encodeURIComponent(other + '/cors/star')).then(summary));
  await check('redirect to a third origin that names the app (origin now "null")', () => fetch(data + '/cors/redirect?to=' + encodeURIComponent(other + '/cors/app')).then(summary));
  await check('XHR: exposed headers only', () => xhr(data + '/cors/expose', {}));
  await check('XHR: refused read', () => xhr(data + '/cors/none', {}));
  await check('XHR: with credentials, wildcard', () => xhr(data + '/cors/star', { withCredentials: true }));
  await check('XHR: with credentials, exact origin', () => xhr(data + '/cors/app', { withCredentials: true }));
  await check('redirect: manual, same origin', () => fetch('/redirect?to=/small.txt', { redirect: 'manual' }).then(summary));
  await check('redirect: manual, across origins', () => fetch(data + '/redirect?to=/small.txt', { redirect: 'manual' }).then(summary));
  await check('redirect: error', () => fetch('/redirect?to=/small.txt', { redirect: 'error' }).then(summary));
  await check('redirect: followed, the fragment never in url', () => fetch('/redirect?to=' + encodeURIComponent('/small.txt#part') + '#mine').then(summary));
  await check('integrity: the right sha384', () => fetch(data + '/small.txt', { integrity: 'sha384-' + digests.sha384 }).then(summary));
  await check('integrity: a wrong sha256', () => fetch(data + '/small.txt', { integrity: 'sha256-' + digests.wrong256 }).then(summary));
  await check('integrity: only the strongest algorithm counts', () => fetch(data + '/small.txt', { integrity: 'sha256-' + digests.sha256 + ' sha512-' + digests.sha256 }).then(summary));
  await check('integrity: an unknown algorithm checks nothing', () => fetch(data + '/small.txt', { integrity: 'md5-abcdef' }).then(summary));
  await check('EventSource: events, ids, names, multi-line data', () => new Promise((resolve) => {
    const source = new EventSource(data + '/events');
    const seen = [];
    const done = () => { source.close(); resolve(seen.join(' | ') + ' readyState=' + source.readyState); };
    source.onopen = () => seen.push('open');
    source.onmessage = (event) => { seen.push(JSON.stringify(event.data) + '#' + event.lastEventId); if (event.data.startsWith('multi')) done(); };
    source.addEventListener('named', (event) => seen.push('named ' + JSON.stringify(event.data) + '#' + event.lastEventId));
    source.onerror = () => { seen.push('error'); if (source.readyState === EventSource.CLOSED) done(); };
  }));
  await check('sendBeacon', () => navigator.sendBeacon(data + '/echo?beacon', 'beacon body'));
  await check('a fresh about:blank frame: its fetch', async () => {
    const frame = document.createElement('iframe');
    document.body.append(frame);
    try { return await frame.contentWindow.fetch(data + '/cors/star').then(summary); } finally { frame.remove(); }
  });
  await check('a srcdoc frame: its own fetch', () => new Promise((resolve) => {
    const frame = document.createElement('iframe');
    const onMessage = (event) => { if (event.source !== frame.contentWindow) return; window.removeEventListener('message', onMessage); frame.remove(); resolve(event.data); };
    window.addEventListener('message', onMessage);
    frame.srcdoc = '<script>fetch(' + JSON.stringify(data + '/cors/star') + ').then((r) => r.text()).then((t) => parent.postMessage("read " + t, "*"), (e) => parent.postMessage("rejected " + e.name, "*"))<' + '/script>';
    document.body.append(frame);
  }));
  await check('WebSocket to the page origin', () => new Promise((resolve) => {
    const socket = new WebSocket(location.origin.replace('http:', 'ws:') + '/socket');
    const seen = [];
    socket.onopen = () => seen.push('open');
    socket.onmessage = (event) => { seen.push('message ' + event.data); socket.close(1000); };
    socket.onerror = () => seen.push('error');
    socket.onclose = (event) => resolve(seen.concat('close ' + event.code + ' clean=' + event.wasClean).join(' '));
  }));
  await check('a Worker', async () => {
    const worker = new Worker(URL.createObjectURL(new Blob(['postMessage("worker up")'], { type: 'text/javascript' })));
    const message = await new Promise((resolve) => { worker.onmessage = (event) => resolve(event.data); });
    worker.terminate();
    return message;
  });
  return out;
}`;

/** Checks whose routed result differs from the browser's on purpose, with what the routed page gets and why (README, "What differs when routed"). */
const DELIBERATE: Record<string, { routed: RegExp; why: string }> = {
  'the Origin reflected back': {
    routed: /^rejected TypeError/,
    why: 'the exit\'s request does not carry the page\'s Origin (an extension\'s fetch cannot set it), so a server that allows only the Origin it was sent does not allow the page',
  },
  'WebSocket to the page origin': {
    routed: /^error close 1006 clean=false$/,
    why: 'the exit does not carry WebSockets: a routed page\'s socket fails as an unreachable server\'s would (libraries then fall back to HTTP, which is routed), never opening directly',
  },
  'a Worker': {
    routed: /^rejected SecurityError: Peerlane routes this site through peers and cannot route a Worker's requests/,
    why: 'a worker\'s requests cannot be hooked, so a routed page starts none rather than let it reach out directly',
  },
};

type Results = Record<string, string>;

let origin: OriginServer;
let signaling: SignalingServer;
let exit: ExtensionBrowser;
let chromiumRequester: ExtensionBrowser;
let firefoxRequester: FirefoxPeer;
let firefoxDirect: FirefoxPeer;
let port: number;
const appOrigin = () => `http://app.peerlane.test:${port}`;
const dataOrigin = () => `http://origin.peerlane.test:${port}`;
const otherOrigin = () => `http://other.peerlane.test:${port}`;
const digests = {
  sha256: createHash('sha256').update(SMALL_TEXT).digest('base64'),
  sha384: createHash('sha384').update(SMALL_TEXT).digest('base64'),
  wrong256: createHash('sha256').update('another body').digest('base64'),
};
const battery = () => `(${BATTERY})(${JSON.stringify(dataOrigin())}, ${JSON.stringify(otherOrigin())}, ${JSON.stringify(digests)})`;

beforeAll(async () => {
  origin = await startOriginServer();
  port = origin.port;
  signaling = await startSignalingServer({ port: 0 });
  // The exit's browser also serves as Chromium's direct reference: nothing of it is routed.
  exit = await launchWithExtension(['app', 'origin', 'other'].map((name) => `MAP ${name}.peerlane.test ${DEV_ORIGIN_ADDRESS}`));
  await exit.setSettings({ signalingUrl: signaling.url, share: true, exitMethods: ['GET', 'HEAD', 'POST', 'PUT'], privateAllowList: DEV_PRIVATE_ALLOW_LIST, exitPorts: [...DEFAULT_SETTINGS.exitPorts, port] });
  chromiumRequester = await launchWithExtension(['MAP origin.peerlane.test ~NOTFOUND', 'MAP other.peerlane.test ~NOTFOUND', 'MAP app.peerlane.test 127.0.0.1']);
  await chromiumRequester.setSettings({ signalingUrl: signaling.url, routedOrigins: [appOrigin()] });
  await waitForRoutedScripts(chromiumRequester);
  firefoxRequester = await launchFirefoxPeer(['app.peerlane.test']);
  await firefoxRequester.setSettings({ signalingUrl: signaling.url, routedOrigins: [appOrigin()] });
  firefoxDirect = await launchFirefoxPeer(['app.peerlane.test', 'origin.peerlane.test', 'other.peerlane.test']);
  await waitFor(async () => (await backgroundState(chromiumRequester)).stats.peers, (peers) => peers === 1, 'the Chromium requester connected');
  await waitFor(async () => (await firefoxRequester.state()).stats.peers, (peers) => peers === 1, 'the Firefox requester connected');
}, 120_000);

afterAll(async () => {
  await firefoxDirect?.close().catch(() => undefined);
  await firefoxRequester?.close().catch(() => undefined);
  await chromiumRequester?.close().catch(() => undefined);
  await exit?.close().catch(() => undefined);
  await signaling?.close();
  await origin?.close();
});

/** The battery on a fresh page of the app (a Playwright or a Puppeteer page). */
async function batteryOn(page: { goto(url: string): Promise<unknown>; evaluate(expression: string): Promise<unknown>; close(): Promise<void> }): Promise<Results> {
  await page.goto(`${appOrigin()}/app`);
  const results = (await page.evaluate(battery())) as Results;
  await page.close();
  return results;
}

/** Every check the same on both pages, except the deliberate ones, which must differ as the table says. */
function compare(direct: Results, routed: Results): void {
  expect(Object.keys(routed).sort()).toEqual(Object.keys(direct).sort());
  for (const [check, expected] of Object.entries(direct)) {
    const deliberate = DELIBERATE[check];
    if (deliberate) expect(routed[check], `${check} (deliberate: ${deliberate.why})`).toMatch(deliberate.routed);
    else expect(routed[check], check).toBe(expected);
  }
}

describe('a routed page sees what the browser itself would: CORS, redirect modes, integrity, its other ways out', () => {
  it('in Chromium: every check as direct, but the deliberate differences', async () => {
    const putsBefore = origin.requests.filter((request) => request.path === '/cors/preflight-denied' && request.method !== 'OPTIONS').length;
    const direct = await batteryOn(await exit.context.newPage());
    const routed = await batteryOn(await chromiumRequester.context.newPage());
    compare(direct, routed);
    // The browser's own verdicts, to be sure the comparison compares something.
    expect(direct['wildcard: safelisted headers only']).toMatch(/^cors 200 .* x-hidden=null x-shown=null "any origin"$/);
    expect(direct['cross-origin without CORS headers']).toMatch(/^rejected TypeError/);
    expect(direct['no-cors: opaque']).toMatch(/^opaque 0 /);
    expect(direct['redirect: manual, same origin']).toMatch(/^opaqueredirect 0 /);
    expect(direct['integrity: a wrong sha256']).toMatch(/^rejected TypeError/);
    expect(direct['WebSocket to the page origin']).toMatch(/^open message hello from the origin close 1000/);
    expect(direct['a Worker']).toBe('worker up');
    // Neither sent a request its preflight refused; the routed one's preflight went through the exit.
    expect(origin.requests.filter((request) => request.path === '/cors/preflight-denied' && request.method !== 'OPTIONS').length).toBe(putsBefore);
    const exitPreflights = origin.requests.filter((request) => request.path === '/cors/preflight' && request.method === 'OPTIONS' && request.headers.origin !== appOrigin());
    expect(exitPreflights.length, 'the routed preflight went through the exit').toBeGreaterThanOrEqual(1);
    // The routed beacon went out from the exit (its extension fetch names the extension as Origin).
    await expect.poll(() => origin.requests.filter((request) => request.path === '/echo?beacon' && String(request.headers.origin).startsWith('chrome-extension://')).length, { timeout: 10_000 }).toBeGreaterThanOrEqual(1);
  }, 60_000);

  it('in Firefox: every check as direct, but the deliberate differences', async () => {
    const direct = await batteryOn(await firefoxDirect.browser.newPage());
    const routed = await batteryOn(await firefoxRequester.browser.newPage());
    compare(direct, routed);
    expect(direct['wildcard: safelisted headers only']).toMatch(/^cors 200 .* x-hidden=null x-shown=null "any origin"$/);
    expect(direct['cross-origin without CORS headers']).toMatch(/^rejected TypeError/);
  }, 60_000);
});
