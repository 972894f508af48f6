import { describe, expect, it } from 'vitest';
import {
  checkedOrigin,
  corsCheck,
  corsHeadersOf,
  redirectCorsCheck,
  exposedResponseHeaders,
  isSafelistedRequestHeader,
  planCors,
  preflightCheck,
  preflightHeaders,
  requestOrigin,
  unsafeRequestHeaderNames,
  type CorsRequest,
} from '../../extension/core/http/cors';

const PAGE = 'http://app.example';
const request = (change: Partial<CorsRequest> = {}): CorsRequest => ({
  method: 'GET',
  url: 'http://api.example/data',
  headers: [],
  mode: 'cors',
  credentials: 'same-origin',
  ...change,
});

describe('CORS: which requests the browser sends how', () => {
  it('same origin needs nothing; same-origin mode refuses another origin; no-cors is opaque', () => {
    expect(planCors(PAGE, request({ url: `${PAGE}/x`, mode: 'same-origin' }))).toEqual({ kind: 'same-origin' });
    expect(planCors(PAGE, request({ mode: 'same-origin' })).kind).toBe('refused');
    expect(planCors(PAGE, request({ mode: 'no-cors' }))).toEqual({ kind: 'opaque' });
    expect(planCors(PAGE, request({ mode: 'no-cors', method: 'PUT' })).kind).toBe('refused');
  });

  it('simple requests go without a preflight; other methods and headers get one naming them', () => {
    expect(
      planCors(
        PAGE,
        request({
          method: 'POST',
          headers: [
            ['content-type', 'text/plain;charset=UTF-8'],
            ['accept', 'application/json, text/plain, */*'],
          ],
        }),
      ),
    ).toEqual({ kind: 'cors', preflight: null });
    expect(planCors(PAGE, request({ method: 'PUT' }))).toEqual({
      kind: 'cors',
      preflight: { method: 'PUT', headerNames: [] },
    });
    expect(
      planCors(
        PAGE,
        request({
          method: 'POST',
          headers: [
            ['Content-Type', 'application/json'],
            ['X-Api-Key', 'k'],
            ['x-api-key', 'again'],
          ],
        }),
      ),
    ).toEqual({
      kind: 'cors',
      preflight: { method: 'POST', headerNames: ['content-type', 'x-api-key'] },
    });
  });

  it('safelists headers by value as the standard does', () => {
    expect(isSafelistedRequestHeader('Accept', 'text/html')).toBe(true);
    expect(isSafelistedRequestHeader('accept', 'a"b')).toBe(false);
    expect(isSafelistedRequestHeader('accept-language', 'en-US,en;q=0.9')).toBe(true);
    expect(isSafelistedRequestHeader('accept-language', 'en_US')).toBe(false);
    expect(isSafelistedRequestHeader('content-type', 'multipart/form-data; boundary=x')).toBe(true);
    expect(isSafelistedRequestHeader('content-type', 'application/json')).toBe(false);
    expect(isSafelistedRequestHeader('range', 'bytes=0-99')).toBe(true);
    expect(isSafelistedRequestHeader('range', 'bytes=0-1,5-6')).toBe(false);
    expect(isSafelistedRequestHeader('accept', 'x'.repeat(129))).toBe(false);
    // More than 1024 bytes of safelisted values make them all unsafe.
    expect(
      unsafeRequestHeaderNames([
        ['accept', 'a'.repeat(128)],
        ...Array.from({ length: 8 }, (_, index) => ['accept-language', 'b'.repeat(128 - index)] as const),
      ]),
    ).toEqual(['accept', 'accept-language']);
  });

  it('sends the Origin where the browser does: every CORS request, and anything but GET and HEAD', () => {
    expect(requestOrigin(PAGE, planCors(PAGE, request()), 'GET')).toBe(PAGE);
    expect(requestOrigin(PAGE, planCors(PAGE, request({ url: `${PAGE}/x` })), 'GET')).toBeNull();
    expect(requestOrigin(PAGE, planCors(PAGE, request({ url: `${PAGE}/x`, method: 'POST' })), 'POST')).toBe(PAGE);
    expect(requestOrigin(PAGE, planCors(PAGE, request({ mode: 'no-cors' })), 'GET')).toBeNull();
    expect(requestOrigin(PAGE, planCors(PAGE, request({ mode: 'no-cors', method: 'POST' })), 'POST')).toBe(PAGE);
  });

  it('builds the preflight the browser sends', () => {
    expect(preflightHeaders({ method: 'PUT', headerNames: ['content-type', 'x-a'] })).toEqual([
      ['accept', '*/*'],
      ['access-control-request-method', 'PUT'],
      ['access-control-request-headers', 'content-type,x-a'],
    ]);
    expect(preflightHeaders({ method: 'DELETE', headerNames: [] })).toHaveLength(2);
  });
});

describe('CORS: what a response may show the page', () => {
  it('the CORS check: wildcard without credentials, exact origin, credentials need both', () => {
    expect(corsCheck([['access-control-allow-origin', '*']], PAGE, 'same-origin')).toBeNull();
    expect(corsCheck([['Access-Control-Allow-Origin', PAGE]], PAGE, 'omit')).toBeNull();
    expect(corsCheck([], PAGE, 'omit')).toMatch(/no Access-Control-Allow-Origin/);
    expect(corsCheck([['access-control-allow-origin', 'http://other.example']], PAGE, 'omit')).toMatch(
      /not "http:\/\/app.example"/,
    );
    expect(corsCheck([['access-control-allow-origin', '*']], PAGE, 'include')).toMatch(
      /wildcard never allows credentials/,
    );
    expect(corsCheck([['access-control-allow-origin', PAGE]], PAGE, 'include')).toMatch(/Allow-Credentials/);
    expect(
      corsCheck(
        [
          ['access-control-allow-origin', PAGE],
          ['access-control-allow-credentials', 'true'],
        ],
        PAGE,
        'include',
      ),
    ).toBeNull();
    // Two values are one list, which matches nothing.
    expect(
      corsCheck(
        [
          ['access-control-allow-origin', PAGE],
          ['access-control-allow-origin', PAGE],
        ],
        PAGE,
        'omit',
      ),
    ).not.toBeNull();
  });

  it('the preflight verdict: ok status, origin, methods and headers (Authorization never by wildcard)', () => {
    const allowed = (extra: [string, string][]): [string, string][] => [['access-control-allow-origin', '*'], ...extra];
    const put = { method: 'PUT', headerNames: ['x-a'], credentials: 'same-origin' as const };
    expect(
      preflightCheck(
        204,
        allowed([
          ['access-control-allow-methods', 'GET, PUT'],
          ['access-control-allow-headers', 'X-A'],
        ]),
        PAGE,
        put,
      ),
    ).toBeNull();
    expect(
      preflightCheck(
        204,
        allowed([
          ['access-control-allow-methods', '*'],
          ['access-control-allow-headers', '*'],
        ]),
        PAGE,
        put,
      ),
    ).toBeNull();
    expect(preflightCheck(500, allowed([['access-control-allow-methods', 'PUT']]), PAGE, put)).toMatch(/answered 500/);
    expect(preflightCheck(204, allowed([['access-control-allow-methods', 'GET']]), PAGE, put)).toMatch(/method PUT/);
    expect(preflightCheck(204, allowed([['access-control-allow-methods', 'PUT']]), PAGE, put)).toMatch(/header x-a/);
    expect(
      preflightCheck(204, allowed([['access-control-allow-headers', '*']]), PAGE, {
        method: 'GET',
        headerNames: ['authorization'],
        credentials: 'omit',
      }),
    ).toMatch(/header authorization/);
    // A safelisted method needs no Allow-Methods.
    expect(
      preflightCheck(200, allowed([['access-control-allow-headers', 'x-a']]), PAGE, {
        method: 'POST',
        headerNames: ['x-a'],
        credentials: 'omit',
      }),
    ).toBeNull();
    expect(preflightCheck(200, [], PAGE, put)).toMatch(/the preflight: no Access-Control-Allow-Origin/);
  });

  it('shows the safelisted headers and those exposed; the wildcard exposes all, except with credentials', () => {
    const headers: [string, string][] = [
      ['Content-Type', 'text/plain'],
      ['x-secret', '1'],
      ['x-shown', '2'],
      ['access-control-expose-headers', 'X-Shown'],
      ['x-peerlane-peer', 'abc'],
    ];
    expect(exposedResponseHeaders(headers, 'omit', new Set(['x-peerlane-peer'])).map(([name]) => name)).toEqual([
      'Content-Type',
      'x-shown',
      'x-peerlane-peer',
    ]);
    const wildcard: [string, string][] = [
      ['x-secret', '1'],
      ['access-control-expose-headers', '*'],
    ];
    expect(exposedResponseHeaders(wildcard, 'omit')).toHaveLength(2);
    expect(exposedResponseHeaders(wildcard, 'include')).toHaveLength(0);
  });

  it('a redirect from one cross-origin URL to another origin checks against "null"', () => {
    expect(checkedOrigin(PAGE, ['http://api.example/a'], 'http://api.example/b')).toBe(PAGE);
    expect(checkedOrigin(PAGE, ['http://api.example/a'], 'http://cdn.example/b')).toBe('null');
    expect(checkedOrigin(PAGE, [`${PAGE}/a`], 'http://cdn.example/b')).toBe(PAGE);
    expect(checkedOrigin(PAGE, [], 'http://api.example/b')).toBe(PAGE);
    // Tainted once, for good: away to another origin and back again still checks against "null".
    expect(checkedOrigin(PAGE, ['http://api.example/a', 'http://cdn.example/b'], 'http://api.example/c')).toBe('null');
  });

  it('checks the redirect responses themselves once the request is cross-origin, against the origin as it then is', () => {
    const star: [string, string][] = [['access-control-allow-origin', '*']];
    const app: [string, string][] = [['access-control-allow-origin', PAGE]];
    // A same-origin redirect is the page's own: not checked, even without CORS headers.
    expect(redirectCorsCheck(PAGE, [{ url: `${PAGE}/go`, headers: [] }], 'http://api.example/data', 'omit')).toBeNull();
    // A cross-origin one must allow the page.
    expect(
      redirectCorsCheck(PAGE, [{ url: 'http://api.example/go', headers: [] }], 'http://api.example/data', 'omit'),
    ).toMatch(/the redirect from http:\/\/api\.example\/go: no Access-Control-Allow-Origin/);
    expect(
      redirectCorsCheck(PAGE, [{ url: 'http://api.example/go', headers: star }], 'http://cdn.example/data', 'omit'),
    ).toBeNull();
    // After a redirect from api.example to another origin, the next hop is checked against "null": naming the page no longer does.
    expect(
      redirectCorsCheck(
        PAGE,
        [
          { url: 'http://api.example/go', headers: star },
          { url: 'http://cdn.example/again', headers: app },
        ],
        'http://cdn.example/data',
        'omit',
      ),
    ).toMatch(/not "null"/);
    expect(
      redirectCorsCheck(
        PAGE,
        [
          { url: 'http://api.example/go', headers: star },
          { url: 'http://cdn.example/again', headers: star },
        ],
        'http://cdn.example/data',
        'omit',
      ),
    ).toBeNull();
    // With credentials, each hop needs the exact origin and Allow-Credentials.
    expect(
      redirectCorsCheck(PAGE, [{ url: 'http://api.example/go', headers: star }], 'http://api.example/data', 'include'),
    ).toMatch(/wildcard never allows credentials/);
    expect(
      redirectCorsCheck(
        PAGE,
        [{ url: 'http://api.example/go', headers: [...app, ['access-control-allow-credentials', 'true']] }],
        'http://api.example/data',
        'include',
      ),
    ).toBeNull();
  });

  it("keeps only the headers a CORS check reads, from webRequest's list", () => {
    expect(
      corsHeadersOf([
        { name: 'Location', value: '/x' },
        { name: 'Access-Control-Allow-Origin', value: '*' },
        { name: 'access-control-allow-credentials', value: 'true' },
        { name: 'X-Other' },
      ]),
    ).toEqual([
      ['access-control-allow-origin', '*'],
      ['access-control-allow-credentials', 'true'],
    ]);
    expect(corsHeadersOf(undefined)).toEqual([]);
  });
});
