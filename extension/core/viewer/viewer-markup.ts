import type { PeerlaneError } from '../errors';
import { escapeHtml } from './html-sanitizer';

/** Where the banner's address form submits (GET, field `url`) and where Retry leads, per browser. */
export interface ViewerLinks {
  goAction: string;
  retry(target: string): string;
}

/**
 * The viewer's own markup: the banner placed in every viewed page and the error page. No script
 * (viewer pages may run none): the address field is a GET form, Retry is a link. Every value from
 * the page or the network is escaped. Styles are inline and reset (`all: initial`) so the viewed
 * page's CSS cannot restyle or hide the banner.
 */

const BAR =
  'all:initial;position:fixed;left:0;right:0;bottom:0;z-index:2147483647;display:flex;gap:8px;align-items:center;padding:6px 10px;background:#1d2433;color:#f1f4fa;font:12px/1.4 system-ui,sans-serif;box-shadow:0 -1px 4px rgba(0,0,0,.3)';
const INPUT =
  'all:initial;flex:1;min-width:0;padding:3px 6px;border-radius:4px;background:#f1f4fa;color:#1d2433;font:12px system-ui,sans-serif';
const BUTTON =
  'all:initial;padding:3px 10px;border-radius:4px;background:#5b8def;color:#fff;font:600 12px system-ui,sans-serif;cursor:pointer';

/** Fixed at the bottom, so the page above renders where it would without the viewer. */
export function viewerBanner(target: string, peer: string | null, links: ViewerLinks): string {
  return (
    `<div id="peerlane-viewer-banner" role="region" aria-label="Peerlane viewer" style="${BAR}">` +
    `<strong style="all:initial;color:#f1f4fa;font:600 12px system-ui,sans-serif">Peerlane</strong>` +
    `<span style="all:initial;color:#c9d2e3;font:12px system-ui,sans-serif" data-testid="viewer-peer">via peer ${escapeHtml(peer ?? 'unknown')} · no page scripts</span>` +
    `<form action="${escapeHtml(links.goAction)}" method="get" style="all:initial;display:flex;flex:1;gap:6px">` +
    `<input name="url" aria-label="Address" value="${escapeHtml(target)}" style="${INPUT}">` +
    `<button type="submit" style="${BUTTON}">Open via peers</button></form></div>`
  );
}

const EXPLANATIONS: Partial<Record<PeerlaneError['category'], string>> = {
  destination_refused:
    'The exit refused this address: exits never fetch private or local networks, unusual ports, or URLs with credentials.',
  no_peers: 'No exit peer is available right now. Peers appear when someone shares their connection.',
  queue_full: 'Too many requests are waiting. Try again in a moment.',
  timeout: 'The page did not arrive in time.',
  attempt_timeout: 'The exit did not answer in time.',
  peer_lost: 'The exit went away during the request.',
  sharing_off: 'The exit stopped sharing its connection.',
  not_cached: "This page is not in Peerlane's cache, and the request asked for nothing else.",
};

export function errorPage(target: string, error: PeerlaneError, links: ViewerLinks): string {
  const retry = links.retry(target);
  const explanation = EXPLANATIONS[error.category] ?? 'The request through peers failed.';
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Peerlane: could not open ${escapeHtml(target)}</title>
<style>body{font:15px/1.5 system-ui,sans-serif;margin:0;padding:48px 24px;background:#f6f7fb;color:#1d2433}main{max-width:620px;margin:auto}
code{background:#e8ebf3;padding:2px 5px;border-radius:4px;word-break:break-all}.retry{display:inline-block;margin-top:16px;padding:8px 16px;border-radius:6px;background:#3a6fd8;color:#fff;text-decoration:none;font-weight:600}
@media (prefers-color-scheme: dark){body{background:#141821;color:#e6e9f0}code{background:#252b38}}</style></head>
<body><main><h1>Could not open this page via peers</h1>
<p><code>${escapeHtml(target)}</code></p>
<p data-testid="viewer-error">${escapeHtml(explanation)}</p>
<p><small>${escapeHtml(error.category)}: ${escapeHtml(error.message)}</small></p>
<a class="retry" data-testid="viewer-retry" href="${escapeHtml(retry)}">Retry</a></main></body></html>`;
}

/**
 * How the viewer shows a document by its type. Only HTML is parsed as a page. An SVG document is
 * shown as an image of itself (an image never runs script, follows no link and submits nothing);
 * XML of any other kind and multipart bodies are shown as text; other types (images, plain text,
 * media) are served as they are, under the viewer's CSP. Never is SVG or XML passed through as a
 * document: its own links, refreshes and scripts would run outside every rule here.
 */
export type DocumentKind = 'html' | 'svg-image' | 'text' | 'as-is';

/** The media type of a `Content-Type` value, lower-cased, without parameters ('' for none). */
export function mediaType(contentType: string | null): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

export function documentKind(contentType: string | null): DocumentKind {
  const type = mediaType(contentType);
  if (type === '' || type === 'text/html') return 'html';
  if (type === 'image/svg+xml') return 'svg-image';
  if (
    type === 'application/xhtml+xml' ||
    type.endsWith('/xml') ||
    type.endsWith('+xml') ||
    type.startsWith('multipart/') ||
    type === 'text/xsl'
  )
    return 'text';
  return 'as-is';
}

/** The markup standing in for a non-HTML document (`svg-image` or `text`); sanitized like any page. */
export function standInDocument(kind: 'svg-image' | 'text', target: string, text: string): string {
  if (kind === 'svg-image')
    return `<!DOCTYPE html><html><head><title>${escapeHtml(target)}</title></head><body style="margin:0"><img src="${escapeHtml(target)}" alt="${escapeHtml(target)}"></body></html>`;
  return `<!DOCTYPE html><html><head><title>${escapeHtml(target)}</title></head><body><pre style="white-space:pre-wrap;word-break:break-all">${escapeHtml(text)}</pre></body></html>`;
}
