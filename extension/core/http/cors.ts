import { headerPairs, headerValue, type Header } from './headers';
/**
 * CORS as the Fetch standard has the browser apply it (https://fetch.spec.whatwg.org/, "CORS
 * protocol", "CORS check", "CORS-preflight fetch", "CORS filtered response"), for the page hook: a
 * routed page's requests leave from the exit, so the browser's own checks never see them, and
 * without these a routed page could read cross-origin responses the browser would hide from it.
 * Pure: strings in, verdicts out. What Peerlane cannot do as the browser does is in docs/routing.md's
 * table of deliberate differences (the exit's request does not carry the page's `Origin`, nor a
 * preflight its Access-Control-Request-* headers: fetch forbids an extension to set them; no preflight cache).
 */

export type RequestMode = 'cors' | 'no-cors' | 'same-origin' | 'navigate';
export type CredentialsMode = 'omit' | 'same-origin' | 'include';
export type { Header };

export interface CorsRequest {
  method: string;
  url: string;
  headers: readonly Header[];
  mode: RequestMode;
  credentials: CredentialsMode;
}

/** What the hook does with a request before it leaves. */
export type CorsPlan =
  /** Same origin as the page: no CORS, the response is whole (a "basic" response). */
  | { kind: 'same-origin' }
  /** Cross-origin, `no-cors`: sent, and the page gets an opaque response (status 0, nothing readable). */
  | { kind: 'opaque' }
  /** Cross-origin, `cors`: the response must pass the CORS check; a preflight first when the request is not simple. */
  | { kind: 'cors'; preflight: { method: string; headerNames: string[] } | null }
  /** The browser would not send it at all. */
  | { kind: 'refused'; reason: string };

const SAFELISTED_METHODS = new Set(['GET', 'HEAD', 'POST']);
const SAFELISTED_CONTENT_TYPES = new Set(['application/x-www-form-urlencoded', 'multipart/form-data', 'text/plain']);
/** Response headers a CORS response shows without `Access-Control-Expose-Headers`. */
const SAFELISTED_RESPONSE_HEADERS = new Set([
  'cache-control',
  'content-language',
  'content-length',
  'content-type',
  'expires',
  'last-modified',
  'pragma',
]);

function originOf(url: string): string {
  return new URL(url).origin;
}

/** The standard's "CORS-unsafe request-header byte". */
function hasUnsafeByte(value: string): boolean {
  for (let index = 0; index < value.length; index += 1) {
    const code = value.charCodeAt(index);
    if ((code < 0x20 && code !== 0x09) || code === 0x7f || '"():<>?@[\\]{}'.includes(value[index]!)) return true;
  }
  return false;
}

/** The standard's "CORS-safelisted request-header" (name and value). */
export function isSafelistedRequestHeader(name: string, value: string): boolean {
  if (value.length > 128) return false;
  switch (name.toLowerCase()) {
    case 'accept':
      return !hasUnsafeByte(value);
    case 'accept-language':
    case 'content-language':
      return /^[0-9A-Za-z *,\-.;=]*$/.test(value);
    case 'content-type': {
      if (hasUnsafeByte(value)) return false;
      const essence = value.split(';')[0]!.trim().toLowerCase();
      return SAFELISTED_CONTENT_TYPES.has(essence);
    }
    case 'range':
      return /^bytes=\d+-\d*$/.test(value);
    default:
      return false;
  }
}

/** The standard's "CORS-unsafe request-header names": sorted, lowercase, each once. */
export function unsafeRequestHeaderNames(headers: readonly Header[]): string[] {
  const unsafe = new Set<string>();
  let safelistedBytes = 0;
  for (const [name, value] of headers) {
    if (isSafelistedRequestHeader(name, value)) safelistedBytes += value.length;
    else unsafe.add(name.toLowerCase());
  }
  // Safelisted values longer than 1024 bytes in all make every one of them unsafe.
  if (safelistedBytes > 1024) for (const [name] of headers) unsafe.add(name.toLowerCase());
  return [...unsafe].sort();
}

/** Decided from the page's origin and the request as the page made it (its URL before any redirect). */
export function planCors(pageOrigin: string, request: CorsRequest): CorsPlan {
  if (originOf(request.url) === pageOrigin) return { kind: 'same-origin' };
  switch (request.mode) {
    case 'same-origin':
      return { kind: 'refused', reason: `mode "same-origin" and ${originOf(request.url)} is another origin` };
    case 'no-cors':
      // The Request constructor already rejects other methods in no-cors mode; say it anyway.
      return SAFELISTED_METHODS.has(request.method)
        ? { kind: 'opaque' }
        : { kind: 'refused', reason: `method ${request.method} is not allowed in mode "no-cors"` };
    default: {
      const headerNames = unsafeRequestHeaderNames(request.headers);
      const simple = SAFELISTED_METHODS.has(request.method) && headerNames.length === 0;
      return { kind: 'cors', preflight: simple ? null : { method: request.method, headerNames } };
    }
  }
}

/**
 * The Origin the browser sends (the standard's "append a request Origin header"): the page's origin
 * on a CORS request (cross-origin, mode cors) and on any request that is not GET or HEAD; none
 * otherwise. The exit sets it where its browser lets it (docs/routing.md, deliberate differences).
 */
export function requestOrigin(pageOrigin: string, plan: CorsPlan, method: string): string | null {
  return plan.kind === 'cors' || (method !== 'GET' && method !== 'HEAD') ? pageOrigin : null;
}

/**
 * The preflight's own headers. They reach the exit, which judges the preflight as the method it names
 * (core/exit/exit-service.ts) and sets them on its OPTIONS where its browser lets it (fetch forbids
 * them; Chrome's exit uses a declarativeNetRequest rule).
 */
export function preflightHeaders(preflight: { method: string; headerNames: string[] }): [string, string][] {
  const headers: [string, string][] = [
    ['accept', '*/*'],
    ['access-control-request-method', preflight.method],
  ];
  if (preflight.headerNames.length > 0)
    headers.push(['access-control-request-headers', preflight.headerNames.join(',')]);
  return headers;
}

function listOf(value: string | null): string[] {
  return value === null
    ? []
    : value
        .split(',')
        .map((item) => item.trim())
        .filter((item) => item.length > 0);
}

/**
 * The standard's "CORS check": null when the response may be shared with `origin` (the page's, or
 * "null" once a redirect crossed origins), else why not.
 */
export function corsCheck(headers: readonly Header[], origin: string, credentials: CredentialsMode): string | null {
  const allowOrigin = headerValue(headers, 'access-control-allow-origin');
  if (allowOrigin === null) return 'no Access-Control-Allow-Origin header';
  if (credentials !== 'include' && allowOrigin === '*') return null;
  if (allowOrigin !== origin)
    return `Access-Control-Allow-Origin is "${allowOrigin}", not "${origin}"${allowOrigin === '*' && credentials === 'include' ? ' (a wildcard never allows credentials)' : ''}`;
  if (credentials !== 'include') return null;
  return headerValue(headers, 'access-control-allow-credentials') === 'true'
    ? null
    : 'credentials asked for, and Access-Control-Allow-Credentials is not "true"';
}

/** The standard's "CORS-preflight fetch" verdict on its response: null when the actual request may go. */
export function preflightCheck(
  status: number,
  headers: readonly Header[],
  origin: string,
  request: { method: string; headerNames: string[]; credentials: CredentialsMode },
): string | null {
  if (status < 200 || status > 299) return `the preflight (OPTIONS) was answered ${status}`;
  const denied = corsCheck(headers, origin, request.credentials);
  if (denied) return `the preflight: ${denied}`;
  const methods = listOf(headerValue(headers, 'access-control-allow-methods'));
  const names = listOf(headerValue(headers, 'access-control-allow-headers')).map((name) => name.toLowerCase());
  const wildcard = request.credentials !== 'include';
  if (
    !methods.includes(request.method) &&
    !SAFELISTED_METHODS.has(request.method) &&
    !(wildcard && methods.includes('*'))
  ) {
    return `method ${request.method} is not in Access-Control-Allow-Methods`;
  }
  for (const name of request.headerNames) {
    if (names.includes(name)) continue;
    // Authorization is never covered by the wildcard.
    if (wildcard && names.includes('*') && name !== 'authorization') continue;
    return `header ${name} is not in Access-Control-Allow-Headers`;
  }
  return null;
}

/** The standard's "CORS filtered response": the safelisted headers and those the server exposes. */
export function exposedResponseHeaders<T extends Header>(
  headers: readonly T[],
  credentials: CredentialsMode,
  alwaysShown: ReadonlySet<string> = new Set(),
): T[] {
  const exposed = new Set(
    listOf(headerValue(headers, 'access-control-expose-headers')).map((name) => name.toLowerCase()),
  );
  const all = credentials !== 'include' && exposed.has('*');
  return headers.filter(([name]) => {
    const lower = name.toLowerCase();
    return all || SAFELISTED_RESPONSE_HEADERS.has(lower) || exposed.has(lower) || alwaysShown.has(lower);
  });
}

/** The headers a CORS check reads, from webRequest's `{ name, value }` list (the exit reports them for each redirect it followed). */
export function corsHeadersOf(headers: readonly { name: string; value?: string }[] | undefined): [string, string][] {
  return headerPairs(headers).flatMap(([name, value]) => {
    const lower = name.toLowerCase();
    return lower === 'access-control-allow-origin' || lower === 'access-control-allow-credentials'
      ? [[lower, value] as [string, string]]
      : [];
  });
}

/**
 * The standard's CORS check of the redirect responses themselves (HTTP fetch, before its redirect
 * steps): once a CORS request is cross-origin, every response must pass, redirects included, against
 * the request's origin as it then is: "null" after a redirect from a cross-origin URL to another
 * origin (the tainted origin flag). `hops`: each redirect response in order, with the URL that gave
 * it; `finalUrl`: where the last one led. The first refusal, or null.
 */
export function redirectCorsCheck(
  pageOrigin: string,
  hops: readonly { url: string; headers: readonly Header[] }[],
  finalUrl: string,
  credentials: CredentialsMode,
): string | null {
  const origins = originsAlong(
    pageOrigin,
    hops.map((hop) => hop.url),
    finalUrl,
  );
  let crossOrigin = false;
  for (const [index, hop] of hops.entries()) {
    crossOrigin ||= originOf(hop.url) !== pageOrigin;
    const denied = crossOrigin ? corsCheck(hop.headers, origins[index]!, credentials) : null;
    if (denied) return `the redirect from ${hop.url}: ${denied}`;
  }
  return null;
}

/**
 * The origin the final response is checked against, after redirects from `redirectUrls` (the URL of
 * each redirect response, in order) to `finalUrl`.
 */
export function checkedOrigin(pageOrigin: string, redirectUrls: readonly string[], finalUrl: string): string {
  return originsAlong(pageOrigin, redirectUrls, finalUrl).at(-1)!;
}

/**
 * The request's origin as each response of a redirect chain is checked against it, one per redirect
 * and one for the final response: "null" from the first redirect from a cross-origin URL to another
 * origin on (the standard's tainted origin flag).
 */
function originsAlong(pageOrigin: string, redirectUrls: readonly string[], finalUrl: string): string[] {
  const origins: string[] = [];
  let origin = pageOrigin;
  for (const [index, url] of redirectUrls.entries()) {
    origins.push(origin);
    const here = originOf(url);
    if (originOf(redirectUrls[index + 1] ?? finalUrl) !== here && here !== pageOrigin) origin = 'null';
  }
  origins.push(origin);
  return origins;
}
