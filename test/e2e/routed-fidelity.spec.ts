import { createHash } from 'node:crypto';
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
import { launchFirefoxPeer, type FirefoxPeer } from '../helpers/firefox';
import {
  DEV_ORIGIN_ADDRESS,
  DEV_PRIVATE_ALLOW_LIST,
  FIXTURE_ETAG,
  SMALL_TEXT,
  startOriginServer,
  type OriginServer,
} from '../helpers/origin-server';
import { closeAll } from '../helpers/close-all';

/**
 * A routed page behaves as the browser itself: one battery of checks runs on a page that reaches the
 * origin directly and on the same page routed through a peer, in Chromium and in Firefox, and the two
 * results are compared check by check. A difference not in DELIBERATE (docs/routing.md's table) fails.
 * The requesters cannot resolve the data origins at all (host rules; Firefox knows only the app's
 * name): whatever a routed page read came through the exit.
 *
 * The battery: CORS (core/http/cors.ts: which cross-origin answers a page may read, which headers it
 * sees, preflights, no-cors, credentials, redirects, fetch and XMLHttpRequest alike), redirect modes
 * and Subresource Integrity (core/http/integrity.ts); the page's other ways out (page-surfaces.ts):
 * EventSource, sendBeacon, frames' fetch, WebSocket and Worker; XMLHttpRequest to the standard
 * (upload events of a 2 MB body among them); the origin's plain HTTP cases (204, 404, 500, a 304 to a
 * page's own If-None-Match, gzip and negotiated compression, binary and 5 MB bodies, a late first
 * byte, a slow chunked body, an origin that never answers); and the client libraries people use
 * (axios, jQuery, superagent, ky), each as its documentation shows.
 */

/**
 * Runs in the page, given the data origin and a third origin. Kept as source text: it must reach
 * both browsers' pages exactly as written (no helper the test runner's transform would add).
 */
const BATTERY = `async (data, other, digests) => {
  const out = {};
  const reasons = {};
  /** Why a check's request failed, where its error says: Peerlane's category in the cause chain (a library wraps the TypeError). */
  function noteReason(name, error) {
    let link = error;
    for (let depth = 0; depth < 5 && link; depth += 1) {
      if (link.cause && typeof link.cause.category === 'string') { reasons[name] = link.cause.category; return; }
      link = link.cause;
    }
  }
  async function check(name, run) {
    try { out[name] = await run(); } catch (error) {
      out[name] = 'rejected ' + error.name + ': ' + error.message;
      noteReason(name, error);
    }
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
  await check('window messages the page saw from its first script on', async () => JSON.stringify(window.messagesSeen));
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
  await check('a redirect that allows no origin, to one that allows any', () => fetch(data + '/cors/redirect-bare?to=' + encodeURIComponent(other + '/cors/star')).then(summary));
  await check('a redirect that allows no origin, within its own origin', () => fetch(data + '/cors/redirect-bare?to=/cors/star').then(summary));
  await check('a cross-origin redirect back to the page origin (still CORS, origin "null")', () => fetch(data + '/cors/redirect?to=' + encodeURIComponent(location.origin + '/cors/star')).then(summary));
  await check('XHR: a redirect that allows no origin', () => xhr(data + '/cors/redirect-bare?to=/cors/star', {}));
  await check('XHR: exposed headers only', () => xhr(data + '/cors/expose', {}));
  await check('XHR: refused read', () => xhr(data + '/cors/none', {}));
  await check('XHR: with credentials, wildcard', () => xhr(data + '/cors/star', { withCredentials: true }));
  await check('XHR: with credentials, exact origin', () => xhr(data + '/cors/app', { withCredentials: true }));
  await check('redirect: manual, same origin', () => fetch('/redirect?to=/small.txt', { redirect: 'manual' }).then(summary));
  await check('redirect: manual, across origins', () => fetch(data + '/redirect?to=/small.txt', { redirect: 'manual' }).then(summary));
  await check('redirect: error', () => fetch('/redirect?to=/small.txt', { redirect: 'error' }).then(summary));
  await check('redirect: a POST through a 307 stays a POST with its body', () => fetch('/redirect?code=307&to=/echo', { method: 'POST', body: 'kept' }).then((response) => response.json()).then((echo) => echo.method + ' ' + echo.text));
  await check('redirect: a POST through a 302 becomes a GET', () => fetch('/redirect?code=302&to=/echo', { method: 'POST', body: 'dropped' }).then((response) => response.json()).then((echo) => echo.method + ' ' + echo.bytes));
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
  await check('a fresh frame reached as window[i], at once: its fetch', async () => {
    const frame = document.createElement('iframe');
    document.body.append(frame);
    try { return await window[window.length - 1].fetch(data + '/cors/star').then(summary); } finally { frame.remove(); }
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
  function xhrEvents(url, setup) {
    return new Promise((resolve) => {
      const request = new XMLHttpRequest();
      // Each kind of event in the order it first fired (how many chunks a body came in differs
      // between any two networks), and what the last one of the request's own said of its length.
      const seen = [];
      let last = '';
      const note = (entry) => { if (!seen.includes(entry)) seen.push(entry); };
      request.onreadystatechange = () => note('rs' + request.readyState);
      for (const type of ['loadstart', 'progress', 'load', 'error', 'abort', 'timeout']) {
        request.addEventListener(type, (event) => { note(type); last = type + '(' + event.lengthComputable + ' ' + event.loaded + '/' + event.total + ')'; });
      }
      for (const type of ['loadstart', 'progress', 'load', 'loadend']) request.upload.addEventListener(type, () => note('upload ' + type));
      request.addEventListener('loadend', () => resolve(seen.concat('loadend', 'last ' + last, 'status ' + request.status, 'readyState ' + request.readyState).join(' ')));
      request.open(setup.method ?? 'GET', url);
      if (setup.timeout) request.timeout = setup.timeout;
      request.send(setup.body ?? null);
    });
  }
  await check('XHR: events and progress of a GET', () => xhrEvents(data + '/bytes/200000', {}));
  await check('XHR: upload events of a POST', () => xhrEvents(data + '/echo?xhr-upload', { method: 'POST', body: 'x'.repeat(5000) }));
  await check('XHR: timeout', () => xhrEvents(data + '/slow?xhr-timeout', { timeout: 300 }));
  await check('XHR: upload events of a 2 MB POST: rising, then load at the whole', () => new Promise((resolve) => {
    const request = new XMLHttpRequest();
    const kinds = [];
    const loaded = [];
    let last = '';
    for (const type of ['loadstart', 'progress', 'load', 'loadend']) {
      request.upload.addEventListener(type, (event) => {
        if (!kinds.includes(type)) kinds.push(type);
        if (type === 'progress') loaded.push(event.loaded);
        last = type + '(' + event.lengthComputable + ' ' + event.loaded + '/' + event.total + ')';
      });
    }
    request.onloadend = () => resolve([kinds.join(' '), loaded.every((value, index) => index === 0 || value >= loaded[index - 1]) ? 'rising' : 'fell: ' + loaded.join(','), 'last ' + last, 'status ' + request.status, JSON.parse(request.responseText).bytes].join(' '));
    request.open('POST', data + '/echo?xhr-upload-2mb');
    request.send(new Uint8Array(2 * 1024 * 1024));
  }));
  await check('XHR: responseText grows while LOADING; abort() ends it at once', () => new Promise((resolve) => {
    const request = new XMLHttpRequest();
    const lengths = [];
    const seen = [];
    request.onreadystatechange = () => {
      seen.push('rs' + request.readyState);
      if (request.readyState !== 3) return;
      lengths.push(request.responseText.length);
      if (request.responseText.length < 3072) return;
      request.onreadystatechange = () => seen.push('rs' + request.readyState + ' during abort');
      request.onabort = () => seen.push('abort during abort');
      request.onloadend = () => seen.push('loadend during abort');
      request.abort();
      seen.push('after abort: readyState ' + request.readyState + ' status ' + request.status + ' text ' + JSON.stringify(request.responseText));
      resolve([lengths.every((length, index) => index === 0 || length >= lengths[index - 1]) && lengths[lengths.length - 1] > lengths[0] ? 'grew' : 'did not grow: ' + lengths.join(','), seen.filter((entry) => entry !== 'rs3').join(' ')].join(' | '));
    };
    request.open('GET', data + '/slow?xhr-abort');
    request.send();
  }));
  await check('XHR: text in the response charset', () => xhr(data + '/latin1', {}));
  await check('XHR: overrideMimeType', () => new Promise((resolve) => {
    const request = new XMLHttpRequest();
    request.open('GET', data + '/latin1');
    request.overrideMimeType('text/plain; charset=utf-8');
    request.onloadend = () => resolve(JSON.stringify(request.responseText));
    request.send();
  }));
  await check('XHR: responseXML', () => new Promise((resolve) => {
    const request = new XMLHttpRequest();
    request.open('GET', data + '/xml');
    request.onloadend = () => resolve(request.responseXML ? request.responseXML.documentElement.nodeName + ' ' + [...request.responseXML.getElementsByTagName('item')].map((item) => item.getAttribute('id') + '=' + item.textContent).join(',') : 'null');
    request.send();
  }));
  await check('XHR: responseType document', () => new Promise((resolve) => {
    const request = new XMLHttpRequest();
    request.open('GET', '/app');
    request.responseType = 'document';
    request.onloadend = () => resolve(request.response ? 'title ' + request.response.title : 'null');
    request.send();
  }));
  await check('XHR: calls out of order', async () => {
    const request = new XMLHttpRequest();
    const tries = [];
    for (const [name, run] of [['setRequestHeader before open', () => request.setRequestHeader('x-a', '1')], ['send before open', () => request.send()]]) {
      try { run(); tries.push(name + ': allowed'); } catch (error) { tries.push(name + ': ' + error.name); }
    }
    request.open('GET', data + '/cors/star');
    request.open('GET', data + '/cors/star');
    tries.push('open twice: readyState ' + request.readyState);
    try { request.responseType = 'json'; void request.responseText; tries.push('responseText of json: allowed'); } catch (error) { tries.push('responseText of json: ' + error.name); }
    return tries.join('; ');
  });
  // The origin's plain HTTP cases: statuses, a validator, compressed bodies, binary and large bodies, slow and silent answers.
  function checksum(buffer) {
    const bytes = new Uint8Array(buffer);
    let sum = 0;
    for (let index = 0; index < bytes.length; index += 1) sum = (sum * 31 + bytes[index]) >>> 0;
    return bytes.length + ' bytes, checksum ' + sum;
  }
  for (const code of [204, 404, 500]) await check('status ' + code, () => fetch(data + '/status/' + code).then(summary));
  await check('status 404 by XHR', () => xhr(data + '/status/404', {}));
  await check('304 to a request naming the ETag', () => fetch(data + '/etag', { headers: { 'if-none-match': digests.etag } }).then(summary));
  await check('200 with the ETag, read twice', async () => [await fetch(data + '/etag').then(summary), await fetch(data + '/etag').then(summary)].join(' | '));
  // A resource fresh for an hour, then asked for in each cache mode (each check's own URL: the browser's cache and Peerlane's start equal).
  for (const mode of ['default', 'force-cache', 'no-cache', 'no-store', 'reload'])
    await check('cache mode ' + mode + ' after a fresh read', async () => {
      const url = data + '/cached?k=fidelity-' + mode;
      return [await fetch(url).then(summary), await fetch(url, { cache: mode }).then(summary)].join(' | ');
    });
  await check('cache mode only-if-cached across origins', () => fetch(data + '/cached?k=fidelity-oic', { cache: 'only-if-cached' }).then(summary));
  await check('gzip body', () => fetch(data + '/gzip').then(summary));
  await check('a body compressed as negotiated (br or gzip)', () => fetch(data + '/negotiated').then(async (response) => response.headers.get('content-encoding') + ' ' + await summary(response)));
  await check('gzip body by XHR', () => xhr(data + '/gzip', {}));
  await check('binary body', () => fetch(data + '/bytes/65536').then((response) => response.arrayBuffer()).then(checksum));
  await check('5 MB body', () => fetch(data + '/bytes/5242880').then((response) => response.arrayBuffer()).then(checksum));
  await check('late first byte', () => fetch(data + '/late-first-byte').then(summary));
  await check('slow chunked body, read as it comes', async () => {
    const reader = (await fetch(data + '/trickle')).body.getReader();
    const decoder = new TextDecoder();
    let text = '';
    for (let next = await reader.read(); !next.done; next = await reader.read()) text += decoder.decode(next.value, { stream: true });
    return JSON.stringify(text);
  });
  await check('an origin that never answers, given up by a timeout signal', () => fetch(data + '/never', { signal: AbortSignal.timeout(400) }).then(summary));
  // The client libraries, each as its documentation shows (the page /libs loads axios, jQuery, superagent; ky is a module).
  await check('axios: GET with download progress', async () => {
    let progressed = false;
    const response = await axios.get(data + '/cors/expose', { onDownloadProgress: () => { progressed = true; } });
    return [response.status, JSON.stringify(response.data), 'x-shown=' + response.headers['x-shown'], 'x-hidden=' + response.headers['x-hidden'], 'progress=' + progressed].join(' ');
  });
  await check('axios: JSON POST (preflighted)', async () => { const response = await axios.post(data + '/echo?axios', { a: 1 }); return response.status + ' ' + response.data.method + ' ' + response.data.contentType + ' ' + response.data.text; });
  await check('axios: a read CORS refuses', () => axios.get(data + '/cors/none').then(() => 'read', (error) => error.name + ' ' + error.code + ' ' + error.message));
  await check('jQuery: $.ajax text', () => new Promise((resolve) => $.ajax({ url: data + '/cors/star', dataType: 'text' }).done((text, status, xhr) => resolve(status + ' ' + xhr.status + ' ' + JSON.stringify(text))).fail((xhr, status) => resolve('fail ' + status))));
  await check('jQuery: $.getJSON', () => new Promise((resolve) => $.getJSON(data + '/echo?jquery').done((json) => resolve(json.method + ' ' + json.bytes)).fail((xhr, status) => resolve('fail ' + status))));
  await check('jQuery: a read CORS refuses', () => new Promise((resolve) => $.ajax({ url: data + '/cors/none' }).done(() => resolve('read')).fail((xhr, status, error) => resolve('fail ' + status + ' ' + xhr.status + ' ' + JSON.stringify(error)))));
  await check('superagent: GET', async () => { const response = await superagent.get(data + '/cors/star'); return response.status + ' ' + JSON.stringify(response.text) + ' x-hidden=' + response.header['x-hidden']; });
  await check('superagent: JSON POST', async () => { const response = await superagent.post(data + '/echo?superagent').send({ b: 2 }); return response.status + ' ' + response.body.method + ' ' + response.body.text; });
  await check('superagent: a read CORS refuses', () => superagent.get(data + '/cors/none').then(() => 'read', (error) => (noteReason('superagent: a read CORS refuses', error), 'rejected ' + (error.crossDomain ? 'crossDomain ' : '') + error.message)));
  const ky = (await import(location.origin + '/lib/ky/index.js')).default;
  await check('ky: GET json', async () => JSON.stringify(await ky.get(data + '/echo?ky').json()));
  await check('ky: a network error it recognises (and retries once)', () => ky.get(data + '/cors/none', { retry: { limit: 1, delay: () => 10 } }).text().then(() => 'read', (error) => (noteReason('ky: a network error it recognises (and retries once)', error), 'rejected ' + error.name + ': ' + error.message)));
  return { results: out, reasons };
}`;

/** Checks whose routed result differs from the browser's on purpose, with what the routed page gets and why (docs/routing.md, "What differs when routed"). */
const DELIBERATE: Record<string, { routed: RegExp; why: string }> = {
  'WebSocket to the page origin': {
    routed: /^error close 1006 clean=false$/,
    why: "the exit does not carry WebSockets: a routed page's socket fails as an unreachable server's would (libraries then fall back to HTTP, which is routed), never opening directly",
  },
  'a Worker': {
    routed: /^rejected SecurityError: Peerlane routes this site through peers and cannot route a Worker's requests/,
    why: "a worker's requests cannot be hooked, so a routed page starts none rather than let it reach out directly",
  },
};

type Results = Record<string, string>;
/** What the battery returns: each check's result, and for a rejection the reason its error carried (Peerlane's category, routed only). */
interface Battery {
  results: Results;
  reasons: Record<string, string>;
}
/** The reasons a routed page may be refused for where the browser refuses too: its CORS rules, a redirect the request forbade, a wrong integrity digest. */
const BROWSER_REFUSALS = ['cors', 'redirect', 'integrity_mismatch'];

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
  etag: FIXTURE_ETAG,
};
const battery = () =>
  `(${BATTERY})(${JSON.stringify(dataOrigin())}, ${JSON.stringify(otherOrigin())}, ${JSON.stringify(digests)})`;

beforeAll(async () => {
  origin = await startOriginServer();
  port = origin.port;
  signaling = await startSignalingServer({ port: 0 });
  // The exit's browser also serves as Chromium's direct reference: nothing of it is routed.
  exit = await launchWithExtension(
    ['app', 'origin', 'other'].map((name) => `MAP ${name}.peerlane.test ${DEV_ORIGIN_ADDRESS}`),
  );
  await exit.setSettings({
    signalingUrl: signaling.url,
    share: true,
    exitMethods: ['GET', 'HEAD', 'POST', 'PUT'],
    privateAllowList: DEV_PRIVATE_ALLOW_LIST,
    exitPorts: [...DEFAULT_SETTINGS.exitPorts, port],
  });
  chromiumRequester = await launchWithExtension([
    'MAP origin.peerlane.test ~NOTFOUND',
    'MAP other.peerlane.test ~NOTFOUND',
    'MAP app.peerlane.test 127.0.0.1',
  ]);
  await chromiumRequester.setSettings({ signalingUrl: signaling.url, routedOrigins: [appOrigin()] });
  await waitForRoutedScripts(chromiumRequester);
  firefoxRequester = await launchFirefoxPeer(['app.peerlane.test']);
  await firefoxRequester.setSettings({ signalingUrl: signaling.url, routedOrigins: [appOrigin()] });
  firefoxDirect = await launchFirefoxPeer(['app.peerlane.test', 'origin.peerlane.test', 'other.peerlane.test']);
  await waitFor(
    async () => (await backgroundState(chromiumRequester)).stats.peers,
    (peers) => peers === 1,
    'the Chromium requester connected',
  );
  await waitFor(
    async () => (await firefoxRequester.state()).stats.peers,
    (peers) => peers === 1,
    'the Firefox requester connected',
  );
}, 120_000);

afterAll(async () => {
  // A browser that crashed mid-suite may fail to close; the servers are stopped all the same.
  await closeAll(firefoxDirect, firefoxRequester, chromiumRequester, exit).catch(() => undefined);
  await closeAll(signaling, origin);
});

/** The battery on a fresh page of the app (a Playwright or a Puppeteer page). */
async function batteryOn(page: {
  goto(url: string): Promise<unknown>;
  evaluate(expression: string): Promise<unknown>;
  close(): Promise<void>;
}): Promise<Battery> {
  await page.goto(`${appOrigin()}/libs`);
  const results = (await page.evaluate(battery())) as Battery;
  await page.close();
  return results;
}

/** Every check the same on both pages, except the deliberate ones, which must differ as the table says. */
function compare(browser: string, directBattery: Battery, routedBattery: Battery): void {
  const direct = directBattery.results;
  const routed = routedBattery.results;
  if (process.env.PEERLANE_SHOW_BATTERY)
    console.log(JSON.stringify({ direct, routed, reasons: routedBattery.reasons }, null, 1));
  expect(Object.keys(routed).sort()).toEqual(Object.keys(direct).sort());
  expect(directBattery.reasons, 'the browser itself gives no Peerlane reason').toEqual({});
  for (const [check, expected] of Object.entries(direct)) {
    const deliberate = DELIBERATE[check];
    if (deliberate) expect(routed[check], `${check} (deliberate: ${deliberate.why})`).toMatch(deliberate.routed);
    else expect(routed[check], check).toBe(expected);
    // The same rejection for the same reason: where the browser refused with its network error, the
    // routed page was refused by the same rule, not because routing failed (a refused destination, a
    // lost peer); any other rejection (the page's own abort or timeout) carries no Peerlane reason at all.
    const reason = routedBattery.reasons[check];
    // (XMLHttpRequest's error event carries no cause: libraries built on it, superagent and axios, report none.)
    // (A TypeError for the arguments themselves, before any request, is not a network error: no reason either.)
    const networkError = /^rejected TypeError: (Failed to fetch|NetworkError)/.test(String(expected));
    if (!deliberate && networkError)
      expect(BROWSER_REFUSALS, `${check}: routed rejection's reason ${reason ?? '(none)'}`).toContain(reason);
    else if (
      !deliberate &&
      (!String(expected).startsWith('rejected ') || String(expected).startsWith('rejected TypeError'))
    )
      expect(reason, `${check}: no Peerlane reason`).toBeUndefined();
  }
  const deliberate = Object.keys(direct).filter((check) => DELIBERATE[check]).length;
  console.log(
    `${browser}: ${Object.keys(direct).length} checks, ${Object.keys(direct).length - deliberate} identical, ${deliberate} deliberate differences`,
  );
}

describe('a routed page sees what the browser itself would: CORS, redirect modes, integrity, its other ways out', () => {
  it('in Chromium: every check as direct, but the deliberate differences', async () => {
    const putsBefore = origin.requests.filter(
      (request) => request.path === '/cors/preflight-denied' && request.method !== 'OPTIONS',
    ).length;
    const direct = await batteryOn(await exit.context.newPage());
    const routed = await batteryOn(await chromiumRequester.context.newPage());
    compare('Chromium', direct, routed);
    // The browser's own verdicts, to be sure the comparison compares something.
    expect(direct.results['wildcard: safelisted headers only']).toMatch(
      /^cors 200 .* x-hidden=null x-shown=null "any origin"$/,
    );
    expect(direct.results['cross-origin without CORS headers']).toMatch(/^rejected TypeError/);
    expect(direct.results['a redirect that allows no origin, to one that allows any']).toMatch(/^rejected TypeError/);
    expect(direct.results['a cross-origin redirect back to the page origin (still CORS, origin "null")']).toMatch(
      /^cors 200 redirected /,
    );
    expect(direct.results['no-cors: opaque']).toMatch(/^opaque 0 /);
    expect(direct.results['redirect: manual, same origin']).toMatch(/^opaqueredirect 0 /);
    expect(direct.results['integrity: a wrong sha256']).toMatch(/^rejected TypeError/);
    expect(direct.results['WebSocket to the page origin']).toMatch(/^open message hello from the origin close 1000/);
    expect(direct.results['a Worker']).toBe('worker up');
    // Neither sent a request its preflight refused; the routed one's preflight went through the exit.
    expect(
      origin.requests.filter((request) => request.path === '/cors/preflight-denied' && request.method !== 'OPTIONS')
        .length,
    ).toBe(putsBefore);
    // The routed preflight and beacon left from the exit (its fetch sends no Referer; the page's does),
    // carrying what the browser's would: the page's Origin, the preflight's own headers.
    const fromExit = (path: string, method: string) =>
      origin.requests.filter(
        (request) => request.path === path && request.method === method && request.headers.referer === undefined,
      );
    expect(
      fromExit('/cors/preflight', 'OPTIONS').map((request) => [
        request.headers.origin,
        request.headers['access-control-request-method'],
        request.headers['access-control-request-headers'],
      ]),
    ).toContainEqual([appOrigin(), 'PUT', 'x-api-key']);
    await expect
      .poll(() => fromExit('/echo?beacon', 'POST').map((request) => request.headers.origin), { timeout: 10_000 })
      .toContain(appOrigin());
    // No routed request named the exit's extension as its Origin.
    expect(
      origin.requests.filter((request) => String(request.headers.origin).startsWith('chrome-extension://')),
    ).toEqual([]);
  }, 60_000);

  it('in Firefox: every check as direct, but the deliberate differences', async () => {
    const direct = await batteryOn(await firefoxDirect.browser.newPage());
    const routed = await batteryOn(await firefoxRequester.browser.newPage());
    compare('Firefox', direct, routed);
    expect(direct.results['wildcard: safelisted headers only']).toMatch(
      /^cors 200 .* x-hidden=null x-shown=null "any origin"$/,
    );
    expect(direct.results['cross-origin without CORS headers']).toMatch(/^rejected TypeError/);
  }, 60_000);
});
