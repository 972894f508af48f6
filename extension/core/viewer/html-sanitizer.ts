import { Parser } from 'htmlparser2';
import { rewriteCss } from './css-rewriter';

/**
 * The peer viewer's first line of defence (the CSP and the service worker's refusals are the
 * others): a streaming HTML rewriter that lets a page render but never run. Feed it text as it
 * arrives; it returns safe HTML to send on.
 *
 * - Gone with their content: script, template, iframe/frame/frameset, object/embed/applet, portal,
 *   noembed/noframes. `<noscript>` is unwrapped: scripts never run here, so its fallback is the page.
 * - Gone: every `on*` handler, `srcdoc`, `formaction`/`formmethod`, `target`, `ping`, `integrity`,
 *   `nonce`, `crossorigin`, `http-equiv` metas (refresh, set-cookie, CSP…), `<base>` (used to resolve,
 *   then dropped), links other than stylesheets, icons and style/image/font preloads, comments.
 * - Every URL is resolved against the page and rewritten by `rewrite.navigation` (links, GET forms)
 *   or `rewrite.resource` (images, stylesheets, media, CSS `url()`); anything they refuse
 *   (`javascript:`, `data:` documents, `blob:`…) is dropped. POST forms lose their action.
 * - A banner (already-safe HTML from the caller) is placed at the start of `<body>`.
 */
export interface ViewerRewrites {
  /** Where a link to `absolute` should go inside the viewer, or null to drop it. */
  navigation(absolute: string): string | null;
  /** Where a subresource at `absolute` should be loaded from, or null to drop it. */
  resource(absolute: string): string | null;
}

const DROP_WITH_CONTENT = new Set(['script', 'template', 'iframe', 'frame', 'frameset', 'object', 'embed', 'applet', 'portal', 'noembed', 'noframes', 'xmp', 'plaintext']);
const UNWRAP = new Set(['noscript']);
const VOID = new Set(['area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'link', 'meta', 'param', 'source', 'track', 'wbr']);
const RAW_TEXT = new Set(['style']);
/** Attributes whose value is a URL the page will load as a subresource. */
const RESOURCE_ATTRIBUTES = new Set(['src', 'poster', 'background', 'lowsrc', 'dynsrc']);
const DROPPED_ATTRIBUTES = new Set(['srcdoc', 'formaction', 'formmethod', 'formtarget', 'target', 'ping', 'integrity', 'nonce', 'crossorigin', 'http-equiv', 'manifest', 'codebase', 'classid', 'data', 'archive', 'attributionsrc']);
const KEPT_LINK_RELS = new Set(['stylesheet', 'icon', 'shortcut', 'apple-touch-icon', 'alternate']);
/** SVG animation can set an href to javascript: at run time: such elements are dropped. */
const SVG_ANIMATION = new Set(['animate', 'set', 'animatemotion', 'animatetransform']);

/** Safe in text and in double-quoted attribute values alike. */
export const escapeHtml = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const SAFE_NAME = /^[A-Za-z][A-Za-z0-9:_.-]*$/;
const PLAIN_DATA_IMAGE = /^data:image\/(png|gif|jpeg|webp|avif|bmp|x-icon|vnd\.microsoft\.icon|svg\+xml)[;,]/i;

export class StreamingSanitizer {
  private readonly parser: Parser;
  private out: string[] = [];
  /** > 0 while inside an element dropped with its content. */
  private skipDepth = 0;
  private rawText: string | null = null;
  private base: string;
  private bannerPlaced = false;
  /** Stack of emitted open elements, so closing tags match only what was written. */
  private readonly open: string[] = [];

  constructor(
    documentUrl: string,
    private readonly rewrites: ViewerRewrites,
    private readonly banner = '',
  ) {
    this.base = documentUrl;
    this.parser = new Parser(
      {
        onprocessinginstruction: (name) => {
          if (this.skipDepth === 0 && name.toLowerCase() === '!doctype') this.out.push('<!DOCTYPE html>');
        },
        onopentag: (name, attributes) => this.openTag(name, attributes),
        ontext: (text) => this.text(text),
        onclosetag: (name, isImplied) => this.closeTag(name, isImplied),
      },
      { decodeEntities: true, lowerCaseTags: false, lowerCaseAttributeNames: false, recognizeSelfClosing: true },
    );
  }

  write(chunk: string): string {
    this.parser.write(chunk);
    return this.take();
  }

  end(): string {
    this.parser.end();
    if (!this.bannerPlaced && this.banner) this.out.push(this.banner);
    return this.take();
  }

  private take(): string {
    const text = this.out.join('');
    this.out = [];
    return text;
  }

  private resolve(value: string): string | null {
    try {
      return new URL(value.trim(), this.base).href;
    } catch {
      return null;
    }
  }

  private navigation(value: string): string | null {
    const trimmed = value.trim();
    if (trimmed.startsWith('#')) return trimmed;
    if (/^(mailto|tel):/i.test(trimmed)) return trimmed;
    const absolute = this.resolve(trimmed);
    return absolute && /^https?:/i.test(absolute) ? this.rewrites.navigation(absolute) : null;
  }

  private resource(value: string): string | null {
    const trimmed = value.trim();
    // An image in a data: URL loads nothing and runs nothing (an <img> never runs SVG scripts).
    if (PLAIN_DATA_IMAGE.test(trimmed)) return trimmed;
    const absolute = this.resolve(trimmed);
    return absolute && /^https?:/i.test(absolute) ? this.rewrites.resource(absolute) : null;
  }

  private srcset(value: string): string | null {
    const candidates = value
      .split(/,(?=\s*\S)/)
      .map((candidate) => {
        const [url = '', ...descriptor] = candidate.trim().split(/\s+/);
        const rewritten = this.resource(url);
        return rewritten ? [rewritten, ...descriptor].join(' ') : null;
      })
      .filter((candidate): candidate is string => candidate !== null);
    return candidates.length > 0 ? candidates.join(', ') : null;
  }

  private css(value: string): string {
    return rewriteCss(value, this.base, (absolute) => (/^https?:/i.test(absolute) ? this.rewrites.resource(absolute) : null));
  }

  private openTag(name: string, attributes: Record<string, string>): void {
    const tag = name.toLowerCase();
    if (this.skipDepth > 0 || DROP_WITH_CONTENT.has(tag) || SVG_ANIMATION.has(tag) || !SAFE_NAME.test(name)) {
      if (!VOID.has(tag)) this.skipDepth += 1;
      return;
    }
    if (UNWRAP.has(tag)) return;
    if (tag === 'base') {
      const href = attributes.href ? this.resolve(attributes.href) : null;
      if (href && /^https?:/i.test(href)) this.base = href;
      return;
    }
    if (tag === 'meta' && (attributes['http-equiv'] !== undefined || attributes.charset !== undefined)) return;
    if (tag === 'link') {
      const rels = (attributes.rel ?? '').toLowerCase().split(/\s+/).filter(Boolean);
      const as = (attributes.as ?? '').toLowerCase();
      const kept = rels.length > 0 && rels.every((rel) => KEPT_LINK_RELS.has(rel) || (rel === 'preload' && ['style', 'image', 'font'].includes(as)));
      if (!kept || rels.includes('alternate')) return;
    }
    const out: string[] = [];
    const isPostForm = tag === 'form' && (attributes.method ?? 'get').toLowerCase() !== 'get';
    for (const [attributeName, rawValue] of Object.entries(attributes)) {
      const lower = attributeName.toLowerCase();
      if (!SAFE_NAME.test(attributeName) || lower.startsWith('on') || DROPPED_ATTRIBUTES.has(lower)) continue;
      let value: string | null = rawValue;
      if (lower === 'href' || lower === 'xlink:href') {
        value = tag === 'a' || tag === 'area' ? this.navigation(rawValue) : this.resource(rawValue);
      } else if (lower === 'action') {
        value = isPostForm ? null : this.navigation(rawValue);
      } else if (lower === 'method') {
        value = 'get';
      } else if (RESOURCE_ATTRIBUTES.has(lower)) {
        value = this.resource(rawValue);
      } else if (lower === 'srcset' || lower === 'imagesrcset') {
        value = this.srcset(rawValue);
      } else if (lower === 'style') {
        value = this.css(rawValue);
      } else if (/^\s*(javascript|vbscript|data):/i.test(rawValue) && lower !== 'alt' && lower !== 'title' && lower !== 'value' && lower !== 'content' && !lower.startsWith('aria-')) {
        // Any other attribute that looks like a script URL is not worth the risk.
        value = null;
      }
      if (value !== null) out.push(` ${attributeName}="${escapeHtml(value)}"`);
    }
    // A form with no (or a refused) action would submit to the viewer page itself: make that inert.
    if (tag === 'form' && (isPostForm || !out.some((attribute) => attribute.startsWith(' action=')))) out.push(' action="about:blank#refused-form"');
    this.out.push(`<${name}${out.join('')}>`);
    if (tag === 'body' && !this.bannerPlaced) {
      this.out.push(this.banner);
      this.bannerPlaced = true;
    }
    if (RAW_TEXT.has(tag)) this.rawText = '';
    if (!VOID.has(tag)) this.open.push(tag);
  }

  private text(text: string): void {
    if (this.skipDepth > 0) return;
    if (this.rawText !== null) {
      this.rawText += text;
      return;
    }
    this.out.push(escapeHtml(text));
  }

  private closeTag(name: string, isImplied: boolean): void {
    const tag = name.toLowerCase();
    if (this.skipDepth > 0) {
      if (!VOID.has(tag)) this.skipDepth -= 1;
      return;
    }
    if (UNWRAP.has(tag) || VOID.has(tag) || tag === 'base') return;
    const index = this.open.lastIndexOf(tag);
    if (index < 0) return;
    if (this.rawText !== null && RAW_TEXT.has(tag)) {
      // Stylesheet text: URLs rewritten, and no way to close the element early.
      this.out.push(this.css(this.rawText).replace(/<\//g, '<\\/'));
      this.rawText = null;
    }
    this.open.length = index;
    if (!isImplied || tag !== 'html') this.out.push(`</${name}>`);
  }
}
