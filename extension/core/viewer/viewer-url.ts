/**
 * The peer viewer's URL form, one per browser origin: `<extension origin>/view/<scheme>/<host[:port]>/<path>?<query>`.
 * The target lives in the path, not in a query parameter, so that relative URLs and GET forms
 * resolve inside the viewer the way they would on the site. Pure.
 */
export const VIEW_PREFIX = '/view/';

/** `/view/https/example.com/a?b` for `https://example.com/a?b`, or null for anything but http(s). */
export function viewerPath(target: string): string | null {
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return null;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
  if (url.username || url.password) return null;
  return `${VIEW_PREFIX}${url.protocol.slice(0, -1)}/${url.host}${url.pathname}${url.search}${url.hash}`;
}

/** The target a viewer URL (path and query of the extension page) stands for, or null. */
export function targetOf(viewerUrl: URL): string | null {
  if (!viewerUrl.pathname.startsWith(VIEW_PREFIX)) return null;
  const match = /^(https?)\/([^/]+)(\/.*)?$/.exec(viewerUrl.pathname.slice(VIEW_PREFIX.length));
  if (!match) return null;
  try {
    const target = new URL(`${match[1]}://${match[2]}${match[3] ?? '/'}${viewerUrl.search}`);
    return target.href;
  } catch {
    return null;
  }
}

/** What a person typed (an address, maybe without a scheme) as a viewer path, or null. */
export function viewerPathForInput(input: string): string | null {
  const trimmed = input.trim();
  if (!trimmed) return null;
  return viewerPath(/^[a-z][a-z0-9+.-]*:/i.test(trimmed) ? trimmed : `https://${trimmed}`);
}
