import { textOf } from '../../signaling-server/peer';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { hostilePage, HOSTILE_CSS, NORMAL_CSS, NORMAL_HTML, searchResults, solidPng } from './viewer-fixtures';

/**
 * A loopback origin for e2e tests and benches. It answers for every fixture host name (the browsers
 * map those names with --host-resolver-rules, Firefox with its DNS prefs) and logs each request so
 * tests can tell who fetched. It listens twice on one port: on `DEV_ORIGIN_ADDRESS`, the one private
 * address exits under test may reach (their production policy with `DEV_PRIVATE_ALLOW_LIST`), where
 * data is fetched through exits; and on 127.0.0.1, where requesters load their pages directly and
 * which every exit must refuse.
 *
 * Like a public API or CDN, it allows every origin to read its answers (`Access-Control-Allow-Origin:
 * *`, every header exposed, every preflight passed): routed pages read them across origins only because it does
 * (core/http/cors.ts). `/cors/*` are the exceptions the CORS checks are tried on, see `corsFixture`.
 */
export const DEV_ORIGIN_ADDRESS = '127.0.0.2';
export const DEV_PRIVATE_ALLOW_LIST = [`${DEV_ORIGIN_ADDRESS}/32`];
/** `/checked/*` answers requests that arrive on this address with an altered body (same ETag): pass it in `alsoListenOn`. */
export const ALTERING_ORIGIN_ADDRESS = '127.0.0.3';
/** `/checked/slow-*` answers requests that arrive on this address 1.5 s late: pass it in `alsoListenOn`. */
export const DELAYING_ORIGIN_ADDRESS = '127.0.0.4';

export interface OriginRequest {
  /** The port the request arrived on: per-exit host mappings to different ports tell exits apart. */
  port: number;
  /** The local address it arrived on: DEV_ORIGIN_ADDRESS (through an exit) or 127.0.0.1. */
  address: string;
  method: string;
  host: string;
  path: string;
  headers: IncomingHttpHeaders;
}

export interface OriginServer {
  port: number;
  requests: OriginRequest[];
  bigBody: Buffer;
  bigSha256: string;
  /** Resolves when a client of `/slow` hangs up before the endless body ends. */
  slowClientGone: Promise<void>;
  /** POSTs that reached `/post-slow` (each one is answered after `postDelayMs`). */
  postCount(): number;
  /** `/hedge/*` requests whose client hung up before the (delayed) answer: cancelled hedge losers. */
  hedgeAbandoned(): number;
  /** Serves the same handler on one more loopback port and returns it. */
  addPort(): Promise<number>;
  close(): Promise<void>;
}

export interface OriginOptions {
  bigBytes?: number;
  /** `/hedge/*` answers after this delay (0: at once), on the addresses of `hedgeDelayOn` when given: an exit that reaches the origin there is the slow one. */
  hedgeDelayMs?: number;
  hedgeDelayOn?: string[];
  /** `/post-slow` holds its answer this long, so a test can kill the exit in between. */
  postDelayMs?: number;
  /** More addresses to listen on, on the same port (the far side of an emulated link). */
  alsoListenOn?: string[];
}

/** ETag of the paced body: resumes with If-Range must match it. */
export const PACED_ETAG = '"paced-v1"';

export const SMALL_TEXT = 'hello from the origin, via a peer\n';

/** Deterministic bytes, so a hash mismatch means corruption, never chance. */
export function deterministicBytes(size: number): Buffer {
  const out = Buffer.alloc(size);
  let state = 0x12345678;
  for (let index = 0; index < size; index += 1) {
    state = (state * 1664525 + 1013904223) >>> 0;
    out[index] = state >>> 24;
  }
  return out;
}

const IMAGES: Record<string, [number, number, number]> = {
  'blue.png': [40, 90, 200],
  'green.png': [40, 160, 80],
  'red.png': [200, 50, 50],
  'stripe.png': [90, 110, 140],
  'img.png': [120, 120, 40],
};

/** The peer viewer's fixture sites (test/helpers/viewer-fixtures.ts), by path; traps are 404s that still get logged. */
function viewerFixture(path: string, origin: string): { type: string; body: string | Buffer } | null {
  const pathname = path.split('?')[0]!;
  if (pathname === '/hostile/index.html' || pathname === '/hostile/next.html')
    return { type: 'text/html; charset=utf-8', body: hostilePage(origin) };
  if (pathname === '/hostile/style.css') return { type: 'text/css', body: HOSTILE_CSS };
  if (pathname === '/hostile/imported.css') return { type: 'text/css', body: '#title { font-style: italic }' };
  if (pathname === '/normal/index.html') return { type: 'text/html; charset=utf-8', body: NORMAL_HTML };
  if (pathname === '/normal/css/site.css') return { type: 'text/css', body: NORMAL_CSS };
  if (pathname === '/normal/search')
    return {
      type: 'text/html; charset=utf-8',
      body: searchResults(new URL(path, 'http://x').searchParams.get('q') ?? ''),
    };
  const image = /^\/(?:normal\/img|hostile)\/([a-z]+\.png)$/.exec(pathname)?.[1];
  if (image && IMAGES[image])
    return { type: 'image/png', body: solidPng(image === 'stripe.png' ? 8 : 40, 40, IMAGES[image]) };
  return null;
}

/**
 * Answers that allow (or refuse) a cross-origin read in one way each, for the CORS checks
 * (test/e2e/routed-fidelity.spec.ts). `app:PORT` in a header is the app origin on this port.
 */
/** The client libraries' browser builds (devDependencies), served to the fixture page `/libs`. */
const LIBRARIES: Record<string, string> = {
  '/lib/axios.js': 'node_modules/axios/dist/axios.min.js',
  '/lib/jquery.js': 'node_modules/jquery/dist/jquery.min.js',
  '/lib/superagent.js': 'node_modules/superagent/dist/superagent.min.js',
};
/** ky ships as ES modules importing each other: its whole directory, under /lib/ky/. */
const KY_DIR = resolve('node_modules/ky/distribution');

function libraryFile(path: string): string | null {
  const pathname = path.split('?')[0]!;
  if (LIBRARIES[pathname]) return LIBRARIES[pathname];
  if (!pathname.startsWith('/lib/ky/') || !pathname.endsWith('.js')) return null;
  const file = resolve(KY_DIR, `.${pathname.slice('/lib/ky'.length)}`);
  return file.startsWith(`${KY_DIR}/`) ? file : null;
}

/** The text every compressed fixture carries, and the validator of `/etag`. */
export const COMPRESSED_TEXT = 'compressed by the origin, '.repeat(40);
export const FIXTURE_ETAG = '"fixture-v1"';

/**
 * The origin's plain HTTP cases, for the fidelity battery: statuses, a validator, compressed bodies,
 * a late first byte, a slow chunked body, one that never answers. True when it answered `path`.
 */
function fixtureResponse(request: IncomingMessage, response: ServerResponse, path: string): boolean {
  const pathname = path.split('?')[0]!;
  const status = /^\/status\/(\d{3})$/.exec(pathname);
  if (status) {
    const code = Number(status[1]);
    response.writeHead(code, { 'content-type': 'text/plain' });
    response.end(code === 204 || code === 304 ? undefined : `status ${code}`);
    return true;
  }
  const checked = /^\/checked\/([\w-]{1,40})$/.exec(pathname);
  if (checked) {
    // The same strong validator everywhere; the body differs for a request that came in on the
    // altering address (one exit's browser maps the origin's name there: an exit that alters answers).
    // `slow-*` names come late on the delaying address (one exit's browser maps the origin there: a slow exit).
    const altered = request.socket.localAddress === ALTERING_ORIGIN_ADDRESS;
    const delayMs =
      request.socket.localAddress === DELAYING_ORIGIN_ADDRESS && checked[1]!.startsWith('slow-') ? 1500 : 0;
    const timer = setTimeout(() => {
      response.writeHead(200, {
        'content-type': 'text/plain',
        etag: `"checked-${checked[1]}-v1"`,
        'cache-control': 'no-cache',
      });
      response.end(
        altered ? `checked ${checked[1]}: altered on the way\n` : `checked ${checked[1]}: as the origin sent it\n`,
      );
    }, delayMs);
    response.on('close', () => clearTimeout(timer));
    return true;
  }
  switch (pathname) {
    case '/etag':
      // A strong validator: a request that names it gets 304 and no body.
      if (request.headers['if-none-match'] === FIXTURE_ETAG) {
        response.writeHead(304, { etag: FIXTURE_ETAG });
        response.end();
      } else {
        response.writeHead(200, { 'content-type': 'text/plain', etag: FIXTURE_ETAG, 'cache-control': 'no-cache' });
        response.end('tagged body');
      }
      return true;
    case '/gzip':
    case '/negotiated': {
      // `/negotiated` as real origins do: br only to a client that asks for it (browsers ask only over https), else gzip.
      const brotli = pathname === '/negotiated' && /\bbr\b/.test(String(request.headers['accept-encoding'] ?? ''));
      const body = brotli ? brotliCompressSync(COMPRESSED_TEXT) : gzipSync(COMPRESSED_TEXT);
      response.writeHead(200, {
        'content-type': 'text/plain',
        'content-encoding': brotli ? 'br' : 'gzip',
        'content-length': String(body.length),
        vary: 'accept-encoding',
      });
      response.end(body);
      return true;
    }
    case '/late-first-byte': {
      const timer = setTimeout(() => {
        response.writeHead(200, { 'content-type': 'text/plain' });
        response.end('worth the wait');
      }, 600);
      response.on('close', () => clearTimeout(timer));
      return true;
    }
    case '/trickle': {
      // Five chunks 80 ms apart, then the end: a slow chunked body.
      response.writeHead(200, { 'content-type': 'text/plain' });
      let sent = 0;
      const timer = setInterval(() => {
        sent += 1;
        response.write(`tick ${sent};`);
        if (sent === 5) {
          clearInterval(timer);
          response.end();
        }
      }, 80);
      response.on('close', () => clearInterval(timer));
      return true;
    }
    case '/never':
      // Never answers; the connection stays until the client gives up.
      return true;
    default:
      return false;
  }
}

function corsFixture(request: IncomingMessage, response: ServerResponse): void {
  const url = new URL(request.url ?? '/', 'http://fixture');
  const appOrigin = `http://app.peerlane.test:${request.socket.localPort ?? 0}`;
  const text = (headers: Record<string, string>, body: string, status = 200): void => {
    response.writeHead(status, { 'content-type': 'text/plain', 'x-hidden': 'hidden', ...headers });
    response.end(request.method === 'HEAD' ? undefined : body);
  };
  switch (url.pathname) {
    case '/cors/none':
      return text({}, 'no CORS headers');
    case '/cors/star':
      return text({ 'access-control-allow-origin': '*', 'x-shown': 'shown' }, 'any origin');
    case '/cors/expose':
      return text(
        { 'access-control-allow-origin': '*', 'access-control-expose-headers': 'X-Shown', 'x-shown': 'shown' },
        'x-shown exposed',
      );
    case '/cors/expose-all':
      return text(
        { 'access-control-allow-origin': '*', 'access-control-expose-headers': '*', 'x-shown': 'shown' },
        'every header exposed',
      );
    case '/cors/app':
      return text(
        { 'access-control-allow-origin': appOrigin, 'access-control-allow-credentials': 'true', vary: 'origin' },
        'the app origin, with credentials',
      );
    case '/cors/reflect':
      // Common on real APIs: the allowed origin is whatever Origin the request carried.
      return text(
        request.headers.origin ? { 'access-control-allow-origin': request.headers.origin, vary: 'origin' } : {},
        "the request's own Origin",
      );
    case '/cors/preflight':
      if (request.method === 'OPTIONS')
        return text(
          {
            'access-control-allow-origin': '*',
            'access-control-allow-methods': 'PUT, DELETE',
            'access-control-allow-headers': 'X-Api-Key, Content-Type',
          },
          '',
          204,
        );
      return text({ 'access-control-allow-origin': '*' }, `preflighted ${request.method}`);
    case '/cors/preflight-denied':
      // The preflight allows the origin but not the method: the browser never sends the PUT.
      if (request.method === 'OPTIONS') return text({ 'access-control-allow-origin': '*' }, '', 204);
      return text({ 'access-control-allow-origin': '*' }, `should never arrive: ${request.method}`);
    case '/cors/redirect':
      response.writeHead(302, {
        location: url.searchParams.get('to') ?? '/cors/star',
        'access-control-allow-origin': '*',
      });
      response.end();
      return;
    case '/cors/redirect-bare':
      // A redirect that allows no origin: a CORS request may not follow it, whatever its target allows.
      response.writeHead(302, { location: url.searchParams.get('to') ?? '/cors/star' });
      response.end();
      return;
    default:
      return text({}, 'no such CORS fixture', 404);
  }
}

export async function startOriginServer(options: OriginOptions | number = {}): Promise<OriginServer> {
  const {
    bigBytes = 5 * 1024 * 1024,
    hedgeDelayMs = 0,
    hedgeDelayOn,
    postDelayMs = 3000,
    alsoListenOn = [],
  } = typeof options === 'number' ? { bigBytes: options } : options;
  const bigBody = deterministicBytes(bigBytes);
  const sockets = new WebSocketServer({ noServer: true });
  let posts = 0;
  let abandoned = 0;
  const requests: OriginRequest[] = [];
  let markSlowGone: () => void = () => undefined;
  const slowClientGone = new Promise<void>((resolve) => {
    markSlowGone = resolve;
  });
  const handle = (request: IncomingMessage, response: ServerResponse): void => {
    const path = request.url ?? '/';
    requests.push({
      port: request.socket.localPort ?? 0,
      address: request.socket.localAddress ?? '',
      method: request.method ?? 'GET',
      host: request.headers.host ?? '',
      path,
      headers: request.headers,
    });
    if (path.startsWith('/cors/')) {
      corsFixture(request, response);
      return;
    }
    response.setHeader('access-control-allow-origin', '*');
    response.setHeader('access-control-expose-headers', '*');
    if (request.method === 'OPTIONS') {
      // Any preflight passes, as with the common CORS middlewares' defaults.
      response.writeHead(204, {
        'access-control-allow-methods': 'GET, HEAD, POST, PUT, PATCH, DELETE',
        'access-control-allow-headers': '*',
      });
      response.end();
      return;
    }
    if (path.startsWith('/echo')) {
      // What arrived: method, content type, and the body's length and SHA-256 (the body itself when short).
      const parts: Buffer[] = [];
      request.on('data', (chunk: Buffer) => parts.push(chunk));
      request.on('end', () => {
        const body = Buffer.concat(parts);
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(
          JSON.stringify({
            method: request.method,
            contentType: request.headers['content-type'] ?? null,
            bytes: body.length,
            sha256: createHash('sha256').update(body).digest('hex'),
            text: body.length <= 4096 ? body.toString('utf8') : null,
          }),
        );
      });
      return;
    }
    const fixture = viewerFixture(path, `http://${request.headers.host ?? ''}`);
    if (fixture) {
      response.writeHead(200, { 'content-type': fixture.type, 'set-cookie': 'fixture=1' });
      response.end(fixture.body);
      return;
    }
    if (path.startsWith('/latin1')) {
      // "café" in ISO-8859-1: one byte for the é, which UTF-8 would take for an error.
      response.writeHead(200, { 'content-type': 'text/plain; charset=iso-8859-1' });
      response.end(Buffer.from('café au lait', 'latin1'));
      return;
    }
    if (path.startsWith('/xml')) {
      response.writeHead(200, { 'content-type': 'application/xml' });
      response.end('<?xml version="1.0"?><catalog><item id="a">one</item><item id="b">two</item></catalog>');
      return;
    }
    if (path.startsWith('/events')) {
      // A server-sent event stream: an id, a named event, a two-line message, then the stream ends.
      response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
      response.end(
        'retry: 60000\n: a comment\n\nid: 1\ndata: first\n\nevent: named\ndata: second\nid: 2\n\ndata: multi\ndata: line\n\n',
      );
      return;
    }
    const library = libraryFile(path);
    if (library) {
      response.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' });
      response.end(readFileSync(library));
      return;
    }
    if (path.startsWith('/libs')) {
      // The app page with the HTTP client libraries a site would use, each as its documentation shows.
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      // Its first script notes every window message from the start, as a page's own listener would.
      response.end(
        '<!doctype html><title>fixture app</title><script>window.messagesSeen = []; addEventListener("message", (event) => messagesSeen.push(JSON.stringify(event.data)));</script><h1>fixture app</h1><script src="/lib/axios.js"></script><script src="/lib/jquery.js"></script><script src="/lib/superagent.js"></script>',
      );
      return;
    }
    if (path.startsWith('/app')) {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      response.end('<!doctype html><title>fixture app</title><h1>fixture app</h1>');
      return;
    }
    if (path.startsWith('/small.txt')) {
      response.writeHead(200, { 'content-type': 'text/plain', 'set-cookie': 'tracker=1', 'x-origin': 'yes' });
      response.end(SMALL_TEXT);
      return;
    }
    if (path.startsWith('/big.bin')) {
      response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(bigBody.length) });
      response.end(bigBody);
      return;
    }
    if (path.startsWith('/slow')) {
      // An endless trickle: only a cancelled fetch ends it.
      response.writeHead(200, { 'content-type': 'application/octet-stream' });
      const timer = setInterval(() => response.write(Buffer.alloc(1024, 120)), 50);
      response.on('close', () => {
        clearInterval(timer);
        markSlowGone();
      });
      return;
    }
    if (path.startsWith('/cached')) {
      // Cacheable as the query says: `cc` (Cache-Control, default max-age=3600) and a strong ETag
      // `"v-<etag>"`; a request whose If-None-Match names it gets a 304 with `cc`.
      const query = new URL(path, 'http://x').searchParams;
      const etag = `"v-${query.get('etag') ?? '1'}"`;
      const cacheControl = query.get('cc') ?? 'max-age=3600';
      if (request.headers['if-none-match'] === etag) {
        response.writeHead(304, { etag, 'cache-control': cacheControl });
        response.end();
        return;
      }
      response.writeHead(200, { 'content-type': 'text/plain', etag, 'cache-control': cacheControl });
      response.end(request.method === 'HEAD' ? undefined : `cached ${path}`);
      return;
    }
    if (path.startsWith('/paced.bin')) {
      // The big body, trickled over ~`ms` (query) in 50 ms steps, with validators and byte ranges,
      // so a transfer can be cut mid-body and resumed from another exit. `stallAfter` (bytes): a
      // whole-body answer stops sending there and holds the connection open (a stalled exit).
      const query = new URL(path, 'http://x').searchParams;
      const totalMs = Number(query.get('ms') ?? '3000');
      let start = 0;
      const range = /^bytes=(\d+)-$/.exec(request.headers.range ?? '');
      const ifRange = request.headers['if-range'];
      const headers: Record<string, string> = {
        'content-type': 'application/octet-stream',
        etag: PACED_ETAG,
        'accept-ranges': 'bytes',
      };
      if (range && (!ifRange || ifRange === PACED_ETAG) && Number(range[1]) < bigBody.length) {
        start = Number(range[1]);
        response.writeHead(206, {
          ...headers,
          'content-length': String(bigBody.length - start),
          'content-range': `bytes ${start}-${bigBody.length - 1}/${bigBody.length}`,
        });
      } else response.writeHead(200, { ...headers, 'content-length': String(bigBody.length) });
      const step = Math.max(1024, Math.ceil(bigBody.length / Math.max(1, totalMs / 50)));
      const stopAt = start === 0 && query.has('stallAfter') ? Number(query.get('stallAfter')) : bigBody.length;
      let offset = start;
      const timer = setInterval(() => {
        if (offset >= stopAt) return clearInterval(timer);
        const end = Math.min(bigBody.length, stopAt, offset + step);
        response.write(bigBody.subarray(offset, end));
        offset = end;
        if (offset >= bigBody.length) {
          clearInterval(timer);
          response.end();
        }
      }, 50);
      response.on('close', () => clearInterval(timer));
      return;
    }
    if (path.startsWith('/hedge/')) {
      let answered = false;
      const timer = setTimeout(
        () => {
          answered = true;
          response.writeHead(200, { 'content-type': 'text/plain' });
          response.end(`hedge ${path}`);
        },
        !hedgeDelayOn || hedgeDelayOn.includes(request.socket.localAddress ?? '') ? hedgeDelayMs : 0,
      );
      response.on('close', () => {
        clearTimeout(timer);
        if (!answered) abandoned += 1;
      });
      return;
    }
    if (path.startsWith('/redirect?')) {
      // 302 (or ?code=) to ?to= (relative or absolute): exits follow by hand and judge every hop.
      const query = new URL(path, 'http://x').searchParams;
      const target = query.get('to') ?? '/';
      const code = [301, 302, 303, 307, 308].includes(Number(query.get('code'))) ? Number(query.get('code')) : 302;
      response.writeHead(code, { location: target, 'content-type': 'text/plain' });
      response.end('redirecting');
      return;
    }
    if (path.startsWith('/redirect-loop/')) {
      const hop = Number(path.slice('/redirect-loop/'.length)) || 0;
      response.writeHead(302, { location: `/redirect-loop/${hop + 1}` });
      response.end();
      return;
    }
    if (fixtureResponse(request, response, path)) return;
    if (path.startsWith('/chunked/')) {
      // N bytes with no Content-Length: a body whose size nobody knows before it ends.
      const size = Math.min(64 * 1024 * 1024, Number(path.slice('/chunked/'.length)) || 0);
      response.writeHead(200, { 'content-type': 'application/octet-stream' });
      const body = deterministicBytes(size);
      for (let offset = 0; offset < size; offset += 16 * 1024)
        response.write(body.subarray(offset, offset + 16 * 1024));
      response.end();
      return;
    }
    if (path.startsWith('/delay/')) {
      // A GET whose head arrives after N ms: in flight, but nothing yet delivered to the page.
      const timer = setTimeout(
        () => {
          response.writeHead(200, { 'content-type': 'text/plain' });
          response.end(`delayed ${path}`);
        },
        Math.min(30_000, Number(path.slice('/delay/'.length).split('?')[0]) || 0),
      );
      response.on('close', () => clearTimeout(timer));
      return;
    }
    if (path.startsWith('/post-slow') && request.method === 'POST') {
      posts += 1;
      const timer = setTimeout(() => {
        response.writeHead(200, { 'content-type': 'text/plain' });
        response.end(`post ${posts}`);
      }, postDelayMs);
      response.on('close', () => clearTimeout(timer));
      return;
    }
    if (path.startsWith('/bytes/')) {
      const size = Math.min(64 * 1024 * 1024, Number(path.slice('/bytes/'.length).split('?')[0]) || 0);
      // `?cacheable`: as a site's static parts are served (an hour fresh, a strong ETag, 304 when named).
      const cacheable = new URL(path, 'http://x').searchParams.has('cacheable');
      const validators: Record<string, string> = cacheable
        ? { 'cache-control': 'public, max-age=3600', etag: `"bytes-${size}"` }
        : {};
      if (cacheable && request.headers['if-none-match'] === validators.etag) {
        response.writeHead(304, validators);
        response.end();
        return;
      }
      response.writeHead(200, {
        'content-type': 'application/octet-stream',
        'content-length': String(size),
        ...validators,
      });
      response.end(size === bigBody.length ? bigBody : deterministicBytes(size));
      return;
    }
    response.writeHead(404, { 'content-type': 'text/plain' });
    response.end('not found');
  };
  const listenOn = (host: string, port: number): Promise<Server> =>
    new Promise<Server>((resolve, reject) => {
      const server = createServer(handle);
      // `/socket`: a WebSocket echo, so a test can tell a refused socket from an unreachable one.
      server.on('upgrade', (request, socket, head) => {
        if (!request.url?.startsWith('/socket')) return socket.destroy();
        sockets.handleUpgrade(request, socket, head, (client) => {
          client.on('message', (data) => client.send(`echo ${textOf(data)}`));
          client.send('hello from the origin');
        });
      });
      server.once('error', reject);
      server.listen(port, host, () => resolve(server));
    });
  /** Both addresses on one port (bounded: a port taken on 127.0.0.1 is tried again with another). */
  const listen = async (): Promise<Server[]> => {
    for (let attempt = 0; attempt < 10; attempt += 1) {
      const dev = await listenOn(DEV_ORIGIN_ADDRESS, 0);
      const port = (dev.address() as AddressInfo).port;
      try {
        return [
          dev,
          await listenOn('127.0.0.1', port),
          ...(await Promise.all(alsoListenOn.map((host) => listenOn(host, port)))),
        ];
      } catch {
        dev.close();
      }
    }
    throw new Error('no port free on both loopback addresses after 10 tries');
  };
  const servers = await listen();
  const server = servers[0]!;
  const extra: Server[] = [...servers.slice(1)];
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    bigBody,
    bigSha256: createHash('sha256').update(bigBody).digest('hex'),
    slowClientGone,
    postCount: () => posts,
    hedgeAbandoned: () => abandoned,
    addPort: async () => {
      const another = await listen();
      extra.push(...another);
      return (another[0]!.address() as AddressInfo).port;
    },
    close: async () => {
      for (const client of sockets.clients) client.terminate();
      await Promise.all(
        [server, ...extra].map(
          (each) =>
            new Promise<void>((resolve) => {
              each.closeAllConnections();
              each.close(() => resolve());
            }),
        ),
      );
    },
  };
}
