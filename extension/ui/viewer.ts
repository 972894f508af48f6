import browser from 'webextension-polyfill';
import { joinBytes } from '../core/bytes';
import { PeerlaneError } from '../core/errors';
import { parseMessage } from '../core/channels/parse';
import { toRequesterSchema, VIEWER_PORT_NAME, type ToBackgroundRequest } from '../core/channels/request-channel';
import type { Priority } from '../core/queue/request-queue';
import { rewriteCss } from '../core/viewer/css-rewriter';
import { ViewerSanitizer } from '../core/viewer/html-sanitizer';
import {
  documentKind,
  errorPage,
  mediaType,
  standInDocument,
  viewerBanner,
  type ViewerLinks,
} from '../core/viewer/viewer-markup';
import { FIREFOX_VIEWER_PAGE, firefoxViewerPath, viewerPath } from '../core/viewer/viewer-url';
import { decoderFor } from '../core/http/text-decoding';

/**
 * Firefox's peer viewer (no extension service worker there): this page fetches the document and
 * every subresource through the background queue, sanitizes the document with the same sanitizer as
 * Chrome, inlines each subresource as a data: URL (stylesheets rewritten the same way, `@import` and
 * `url()` included), and replaces its own content with the result under a CSP that allows no script
 * and no network at all. Links lead back here. Unlike Chrome's, the page shows once its parts have arrived.
 */
const LINKS: ViewerLinks = {
  goAction: `/${FIREFOX_VIEWER_PAGE}`,
  retry: (target) => firefoxViewerPath(target) ?? `/${FIREFOX_VIEWER_PAGE}`,
};
const PAGE_CSP =
  "default-src 'none'; img-src data:; style-src data: 'unsafe-inline'; font-src data:; media-src data:; script-src 'none'; form-action 'self'";
const MAX_CSS_DEPTH = 3;
const PLACEHOLDER = 'peerlane-resource:';
/** The hidden field a rewritten GET form carries its action in. */
const FORM_TARGET_FIELD = 'peerlane-form-action';

/** The address this page shows: `?url=`, or a submitted form's action with its other fields as the query. */
function targetOfLocation(): string {
  const params = new URL(location.href).searchParams;
  const formAction = params.get(FORM_TARGET_FIELD);
  if (formAction === null) return params.get('url') ?? '';
  params.delete(FORM_TARGET_FIELD);
  try {
    const target = new URL(formAction);
    target.search = params.toString();
    return target.href;
  } catch {
    return '';
  }
}

interface Fetched {
  status: number;
  headers: Headers;
  bytes: Uint8Array<ArrayBuffer>;
}

/** One request through the background queue, over its own Port, read to the end. */
function fetchViaPeers(url: string, priority: Priority, accept: string): Promise<Fetched> {
  return new Promise((resolve, reject) => {
    const port = browser.runtime.connect({ name: VIEWER_PORT_NAME });
    const parts: Uint8Array[] = [];
    let head: { status: number; headers: Headers } | null = null;
    port.onMessage.addListener((raw: unknown) => {
      const parsed = parseMessage(toRequesterSchema, raw);
      if (!parsed.ok) return reject(new PeerlaneError('bad_message', parsed.error));
      const message = parsed.message;
      if (message.type === 'head') head = { status: message.status, headers: new Headers(message.headers) };
      else if (message.type === 'chunk') {
        const bytes = message.data;
        parts.push(bytes);
        port.postMessage({ type: 'consumed', bytes: bytes.byteLength } satisfies ToBackgroundRequest);
      } else if (message.type === 'end') {
        port.disconnect();
        const bytes = joinBytes(parts);
        resolve({ ...(head ?? { status: 502, headers: new Headers() }), bytes });
      } else if (message.type === 'error') {
        port.disconnect();
        reject(new PeerlaneError(message.error.category, message.error.message));
      }
    });
    port.postMessage({
      type: 'request',
      method: 'GET',
      url,
      headers: [['accept', accept]],
      priority,
      body: null,
    } satisfies ToBackgroundRequest);
  });
}

/** The browser's own encoder makes the data: URL (base64 is the data: URL's format, not a transport). */
function dataUrl(type: string, bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () =>
      typeof reader.result === 'string' ? resolve(reader.result) : reject(new Error('could not encode a data: URL'));
    reader.onerror = () => reject(reader.error ?? new Error('could not encode a data: URL'));
    reader.readAsDataURL(new Blob([bytes], { type }));
  });
}
const decode = (fetched: Fetched): string => decoderFor(fetched.headers.get('content-type')).decode(fetched.bytes);

/**
 * Subresources, each fetched once, as data: URLs; stylesheets have their own URLs inlined first.
 * Fetches are shared, inlining is not: a stylesheet is inlined along the chain of imports that
 * reached it, so a cycle (a imports b imports a, or a sheet importing itself) ends at the repeat.
 */
class Resources {
  private readonly fetches = new Map<string, Promise<Fetched | null>>();

  private fetchOnce(url: string, styleHint: boolean): Promise<Fetched | null> {
    let pending = this.fetches.get(url);
    if (!pending) {
      // Styles shape the first paint: they go before images in the queue.
      pending = fetchViaPeers(
        url,
        styleHint ? 'interactive' : 'background',
        styleHint ? 'text/css,*/*;q=0.1' : 'image/*,*/*;q=0.8',
      ).catch(() => null);
      this.fetches.set(url, pending);
    }
    return pending;
  }

  /** `chain`: the stylesheets whose @import led here; a URL already on it is a cycle and loads nothing. */
  async get(url: string, depth: number, styleHint: boolean, chain: readonly string[] = []): Promise<string> {
    if (chain.includes(url)) return 'about:invalid';
    const fetched = await this.fetchOnce(url, styleHint);
    if (!fetched || fetched.status >= 400) return 'about:invalid';
    const type = mediaType(fetched.headers.get('content-type')) || 'application/octet-stream';
    if (type === 'text/css')
      return dataUrl(
        'text/css',
        new TextEncoder().encode(await this.css(decode(fetched), url, depth + 1, [...chain, url])),
      );
    // Only passive types become data: URLs; anything that could be a document or a script is dropped.
    return /^(image|font|audio|video)\//.test(type) || type === 'application/font-woff'
      ? dataUrl(type, fetched.bytes)
      : 'about:invalid';
  }

  /** A stylesheet with every url()/@import replaced by its data: URL (bounded depth). */
  async css(text: string, base: string, depth: number, chain: readonly string[]): Promise<string> {
    const wanted: string[] = [];
    const marked = rewriteCss(text, base, (absolute) =>
      absolute.startsWith('data:image/')
        ? absolute
        : depth > MAX_CSS_DEPTH || viewerPath(absolute) === null
          ? null
          : `${PLACEHOLDER}${wanted.push(absolute) - 1}`,
    );
    const inlined = await Promise.all(wanted.map((url) => this.get(url, depth, /\.css(\?|$)/i.test(url), chain)));
    return marked.replace(
      new RegExp(`${PLACEHOLDER}(\\d+)`, 'g'),
      (_, index: string) => inlined[Number(index)] ?? 'about:invalid',
    );
  }
}

/**
 * Puts the page in place of this one: parsed inert (DOMParser runs nothing, and elements it made
 * never run as scripts), the CSP meta first in its head, then moved into this document.
 */
/**
 * The page's own markup could shadow document and form properties (`<img name=head>`, an input named
 * `getAttribute`): everything here is reached through the prototypes, never through the objects.
 */
const call = <T>(owner: object, name: string, target: object, ...args: unknown[]): T =>
  (Reflect.get(owner, name) as (...a: unknown[]) => T).apply(target, args);
const getter = <T>(owner: object, name: string, target: object): T =>
  Reflect.getOwnPropertyDescriptor(owner, name)!.get!.call(target) as T;

function show(html: string): void {
  const parsed = new DOMParser().parseFromString(html, 'text/html');
  const make = (tag: string): HTMLElement => call<HTMLElement>(Document.prototype, 'createElement', parsed, tag);
  const setAttribute = (element: Element, name: string, value: string): void =>
    call(Element.prototype, 'setAttribute', element, name, value);
  const csp = make('meta');
  setAttribute(csp, 'http-equiv', 'Content-Security-Policy');
  setAttribute(csp, 'content', PAGE_CSP);
  const dnsPrefetch = make('meta');
  setAttribute(dnsPrefetch, 'http-equiv', 'x-dns-prefetch-control');
  setAttribute(dnsPrefetch, 'content', 'off');
  call(Element.prototype, 'prepend', getter<HTMLHeadElement>(Document.prototype, 'head', parsed), csp, dnsPrefetch);
  // A GET form's fields replace the query of its action, so `?url=` would be lost: the action becomes
  // this page and the target rides along as fields (see `targetOfLocation`).
  for (const form of call<NodeListOf<HTMLFormElement>>(Document.prototype, 'querySelectorAll', parsed, 'form')) {
    const action = new URL(call<string | null>(Element.prototype, 'getAttribute', form, 'action') ?? '', location.href);
    const target = action.pathname === `/${FIREFOX_VIEWER_PAGE}` ? action.searchParams.get('url') : null;
    if (!target) continue;
    setAttribute(form, 'action', `/${FIREFOX_VIEWER_PAGE}`);
    const hidden = make('input');
    setAttribute(hidden, 'type', 'hidden');
    setAttribute(hidden, 'name', FORM_TARGET_FIELD);
    setAttribute(hidden, 'value', target);
    call(Element.prototype, 'prepend', form, hidden);
  }
  const root = getter<HTMLElement>(Document.prototype, 'documentElement', parsed);
  call(
    Node.prototype,
    'replaceChild',
    document,
    call(Document.prototype, 'adoptNode', document, root),
    getter<HTMLElement>(Document.prototype, 'documentElement', document),
  );
}

async function open(): Promise<void> {
  const target = targetOfLocation();
  if (viewerPath(target) === null) {
    show(errorPage(target || '(none)', new PeerlaneError('bad_message', 'not an http(s) address'), LINKS));
    return;
  }
  let fetched: Fetched;
  try {
    fetched = await fetchViaPeers(target, 'document', 'text/html,application/xhtml+xml,*/*;q=0.8');
  } catch (error) {
    show(
      errorPage(target, error instanceof PeerlaneError ? error : new PeerlaneError('internal', String(error)), LINKS),
    );
    return;
  }
  const resources = new Resources();
  const wanted: { url: string; style: boolean }[] = [];
  const peer = fetched.headers.get('x-peerlane-peer');
  const sanitizer = new ViewerSanitizer(
    target,
    {
      navigation: (absolute) => firefoxViewerPath(absolute),
      resource: (absolute) =>
        `${PLACEHOLDER}${wanted.push({ url: absolute, style: /\.css(\?|$)/i.test(absolute) }) - 1}`,
    },
    viewerBanner(target, peer, LINKS),
    // The page becomes this document: names it would expose that shadow its own properties go.
    { isReservedName: (value) => value in document },
  );
  // Only HTML is parsed as a page; SVG and images show as an image of themselves, anything else as text.
  const kind = documentKind(fetched.headers.get('content-type'));
  const standIn =
    kind === 'html'
      ? null
      : kind === 'svg-image' ||
          (kind === 'as-is' && mediaType(fetched.headers.get('content-type')).startsWith('image/'))
        ? 'svg-image'
        : 'text';
  let html =
    sanitizer.write(standIn ? standInDocument(standIn, target, decode(fetched)) : decode(fetched)) + sanitizer.end();
  // Inline <style> blocks and style attributes came through the sanitizer's CSS rewriter: their
  // placeholders are in `wanted` too. Stylesheets are asked for first.
  const order = [...wanted.keys()].sort((a, b) => Number(wanted[b]!.style) - Number(wanted[a]!.style));
  const inlined: string[] = [];
  await Promise.all(
    order.map(async (index) => {
      inlined[index] = await resources.get(wanted[index]!.url, 0, wanted[index]!.style);
    }),
  );
  html = html.replace(
    new RegExp(`${PLACEHOLDER}(\\d+)`, 'g'),
    (_, index: string) => inlined[Number(index)] ?? 'about:invalid',
  );
  show(html);
}

void open();
