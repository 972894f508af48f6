/// <reference lib="webworker" />
import { toPeerlaneError } from '../../core/errors';
import type { Priority } from '../../core/queue/request-queue';
import { rewriteCss } from '../../core/viewer/css-rewriter';
import { ViewerSanitizer } from '../../core/viewer/html-sanitizer';
import { decoderFor } from '../../core/http/text-decoding';
import { targetOf, VIEW_PREFIX, viewerPath, viewerPathForInput } from '../../core/viewer/viewer-url';
import { ERROR_HEADER, PEER_HEADER } from '../../core/protocol/page-headers';
import type { Background } from '../background';
import {
  documentKind,
  errorPage,
  standInDocument,
  viewerBanner,
  type ViewerLinks,
} from '../../core/viewer/viewer-markup';

/**
 * Chrome's peer viewer: the extension service worker answers every request of a viewer page
 * (`/view/<scheme>/<host>/<path>`, ARCHITECTURE.md, "The peer viewer"), fetching it through peers. Defence in depth,
 * each layer enough on its own to stop a page script:
 * 1. the document is sanitized once it has arrived (`ViewerSanitizer`, parsed as the browser parses
 *    it) and its URLs point back here; SVG and XML documents are shown as an image or as text;
 * 2. it is served with a CSP that forbids scripts, plugins, frames and workers (never `sandbox`:
 *    measured, subresources would then bypass this worker and go direct);
 * 3. script, worker and plugin requests from viewer pages are refused here, whatever their URL.
 * Nothing a viewer page asks for goes direct: a stray absolute URL is fetched through peers too.
 */
export const VIEWER_CSP =
  "script-src 'none'; object-src 'none'; frame-src 'none'; worker-src 'none'; base-uri 'none'; form-action 'self'";
const REFUSED_DESTINATIONS = new Set([
  'script',
  'worker',
  'sharedworker',
  'serviceworker',
  'audioworklet',
  'paintworklet',
  'object',
  'embed',
  'frame',
  'iframe',
  'manifest',
]);
const GO_PATH = `${VIEW_PREFIX}go`;
const LINKS: ViewerLinks = { goAction: GO_PATH, retry: (target) => viewerPath(target) ?? GO_PATH };
const PASSED_REQUEST_HEADERS = ['accept', 'accept-language', 'range'];
const PASSED_RESPONSE_HEADERS = [
  'content-type',
  'content-length',
  'content-range',
  'accept-ranges',
  'last-modified',
  'etag',
];

function priorityOf(request: Request, isDocument: boolean): Priority {
  if (isDocument) return 'document';
  // Styles and fonts shape the first paint; images and media can come after.
  return request.destination === 'style' || request.destination === 'font' ? 'interactive' : 'background';
}

function refused(reason: string): Response {
  return new Response(`Refused by the Peerlane viewer: ${reason}\n`, {
    status: 403,
    headers: { 'content-type': 'text/plain; charset=utf-8', [ERROR_HEADER]: 'viewer_refused' },
  });
}

function documentHeaders(contentType: string, extra: [string, string][] = []): Headers {
  return new Headers([
    ['content-type', contentType],
    ['content-security-policy', VIEWER_CSP],
    ['referrer-policy', 'no-referrer'],
    ['x-content-type-options', 'nosniff'],
    ['cache-control', 'no-store'],
    // No DNS prefetching from a viewer page: names it mentions are never looked up by this browser.
    ['x-dns-prefetch-control', 'off'],
    ...extra,
  ]);
}

const toViewer = (absolute: string): string | null => viewerPath(absolute);

/** An HTML document, or the stand-in for an SVG or XML one, sanitized once it has arrived whole. */
async function sanitizedDocument(
  upstream: Response,
  target: string,
  kind: 'html' | 'svg-image' | 'text',
): Promise<Response> {
  const text = decoderFor(upstream.headers.get('content-type')).decode(await upstream.arrayBuffer());
  const html = kind === 'html' ? text : standInDocument(kind, target, text);
  const sanitizer = new ViewerSanitizer(
    target,
    { navigation: toViewer, resource: toViewer },
    viewerBanner(target, upstream.headers.get(PEER_HEADER), LINKS),
  );
  sanitizer.write(html);
  return new Response(sanitizer.end(), {
    status: upstream.status,
    statusText: upstream.statusText,
    headers: documentHeaders('text/html; charset=utf-8', [[PEER_HEADER, upstream.headers.get(PEER_HEADER) ?? '']]),
  });
}

async function rewrittenStylesheet(upstream: Response, target: string): Promise<Response> {
  const css = rewriteCss(await upstream.text(), target, toViewer);
  return new Response(css, {
    status: upstream.status,
    headers: { 'content-type': 'text/css; charset=utf-8', 'x-content-type-options': 'nosniff' },
  });
}

function passedThrough(upstream: Response): Response {
  const headers = new Headers([['x-content-type-options', 'nosniff']]);
  for (const name of PASSED_RESPONSE_HEADERS) {
    const value = upstream.headers.get(name);
    if (value) headers.set(name, value);
  }
  return new Response(upstream.body, { status: upstream.status, statusText: upstream.statusText, headers });
}

async function throughPeers(
  background: Background,
  request: Request,
  target: string,
  isDocument: boolean,
): Promise<Response> {
  if (REFUSED_DESTINATIONS.has(request.destination))
    return refused(`${request.destination} requests are never made from the viewer`);
  if (request.method !== 'GET' && request.method !== 'HEAD') return refused('the viewer only reads (GET)');
  const headers: [string, string][] = [];
  for (const name of PASSED_REQUEST_HEADERS) {
    const value = request.headers.get(name);
    if (value) headers.push([name, value]);
  }
  let upstream: Response;
  try {
    upstream = await background.fetchThroughPeers(
      { method: request.method, url: target, headers },
      priorityOf(request, isDocument),
      request.signal,
    );
  } catch (error) {
    const failure = toPeerlaneError(error, 'internal');
    if (!isDocument)
      return new Response(`${failure.category}: ${failure.message}\n`, {
        status: 502,
        headers: { 'content-type': 'text/plain; charset=utf-8', [ERROR_HEADER]: failure.category },
      });
    return new Response(errorPage(target, failure, LINKS), {
      status: 502,
      headers: documentHeaders('text/html; charset=utf-8', [[ERROR_HEADER, failure.category]]),
    });
  }
  const contentType = (upstream.headers.get('content-type') ?? '').toLowerCase();
  const kind = documentKind(contentType);
  if (isDocument && kind !== 'as-is') return sanitizedDocument(upstream, target, kind);
  if (contentType.includes('text/css')) return rewrittenStylesheet(upstream, target);
  const response = passedThrough(upstream);
  if (!isDocument) return response;
  // A non-HTML document (an image, a text file) still gets the viewer's CSP.
  return new Response(response.body, {
    status: response.status,
    headers: documentHeaders(response.headers.get('content-type') ?? 'application/octet-stream'),
  });
}

function isViewerPage(url: string | undefined, origin: string): boolean {
  return url !== undefined && url.startsWith(`${origin}${VIEW_PREFIX}`);
}

export function servePeerViewer(scope: ServiceWorkerGlobalScope, background: Background): void {
  const origin = scope.location.origin;
  scope.addEventListener('fetch', (event: FetchEvent) => {
    const request = event.request;
    const url = new URL(request.url);
    if (url.origin === origin) {
      if (url.pathname === GO_PATH) {
        // The banner's address field: a GET form, since the page may run no script.
        const path = viewerPathForInput(url.searchParams.get('url') ?? '');
        event.respondWith(path ? Response.redirect(`${origin}${path}`, 303) : refused('not an http(s) address'));
        return;
      }
      if (url.pathname.startsWith(VIEW_PREFIX)) {
        const target = targetOf(url);
        const isDocument = request.mode === 'navigate';
        event.respondWith(
          target ? throughPeers(background, request, target, isDocument) : refused('not a viewer address'),
        );
        return;
      }
      // The extension's own scripts, asked for by a viewer page: refused. Other pages load theirs as usual.
      if (REFUSED_DESTINATIONS.has(request.destination) && event.clientId) {
        event.respondWith(
          (async () => {
            const client = await scope.clients.get(event.clientId);
            return isViewerPage(client?.url, origin)
              ? refused('extension code is not for viewer pages')
              : fetch(request);
          })(),
        );
      }
      return;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return;
    // Rare: an absolute URL the sanitizer could not see (none should remain). From a viewer page it
    // still goes through peers; other extension pages fetch as usual.
    event.respondWith(
      (async () => {
        const client = event.clientId ? await scope.clients.get(event.clientId) : undefined;
        if (isViewerPage(client?.url, origin)) return throughPeers(background, request, url.href, false);
        return fetch(request);
      })(),
    );
  });
}
