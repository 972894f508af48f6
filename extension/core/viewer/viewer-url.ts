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

/** What a person typed (an address, maybe without a scheme) as an absolute http(s) URL, or null. */
export function targetForInput(input: string): string | null {
  const trimmed = input.trim();
  if (!trimmed) return null;
  const candidate = /^[a-z][a-z0-9+.-]*:/i.test(trimmed) ? trimmed : `https://${trimmed}`;
  return viewerPath(candidate) === null ? null : new URL(candidate).href;
}

/** What a person typed as a viewer path, or null. */
export function viewerPathForInput(input: string): string | null {
  const target = targetForInput(input);
  return target === null ? null : viewerPath(target);
}

/**
 * Firefox has no extension service worker: its viewer is an extension page that fetches through the
 * background and renders from data: URLs. Its URL form: `<extension origin>/extension/ui/viewer.html?url=<target>`.
 */
export const FIREFOX_VIEWER_PAGE = 'extension/ui/viewer.html';

export function firefoxViewerPath(target: string): string | null {
  return viewerPath(target) === null ? null : `/${FIREFOX_VIEWER_PAGE}?url=${encodeURIComponent(target)}`;
}
