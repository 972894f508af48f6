/**
 * What a followed redirect does to the request, by the Fetch standard's "HTTP-redirect fetch": a
 * 301 or 302 turns a POST into a GET, a 303 turns anything but GET and HEAD into a GET, each
 * dropping the body and the headers that described it; a 307 or 308 keeps method and body.
 */
const BODY_HEADERS = new Set(['content-encoding', 'content-language', 'content-location', 'content-type']);

export function afterRedirect<Body>(
  status: number | null,
  request: { method: string; headers: [string, string][]; body: Body | null },
): { method: string; headers: [string, string][]; body: Body | null } {
  const toGet =
    ((status === 301 || status === 302) && request.method === 'POST') ||
    (status === 303 && request.method !== 'GET' && request.method !== 'HEAD');
  // A status the exit could not read is taken as a 302, as most redirects are.
  const unknownToGet = status === null && request.method === 'POST';
  if (!toGet && !unknownToGet) return request;
  return {
    method: 'GET',
    headers: request.headers.filter(([name]) => !BODY_HEADERS.has(name.toLowerCase())),
    body: null,
  };
}
