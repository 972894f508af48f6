import { parse, parseFragment, serialize, type DefaultTreeAdapterTypes } from 'parse5';
import {
  ATTRIBUTES,
  DROPPED_WITH_CONTENT,
  ELEMENTS,
  HTML_NS,
  KEPT_LINK_RELS,
  KEPT_META_NAMES,
  SVG_NS,
  SVG_URL_VALUE_ATTRIBUTES,
  UNWRAPPED,
  XLINK_NS,
} from './allow-list';
import { rewriteCss } from './css-rewriter';

/**
 * The peer viewer's first line of defence (the CSP and the service worker's refusals are the
 * others): a sanitizer that lets a page render but never run, judged on the tree the browser will
 * build. The document is parsed by parse5, which follows the HTML standard's tree construction
 * (foreign content, SVG and MathML included), so `<svg><style>` or `<math><mtext><table><mglyph>`
 * mean here what they mean to the browser. Then:
 * 1. structure: only the allow-list (`allow-list.ts`) survives, in every namespace; an element not on
 *    it is unwrapped (its allowed content stays, as the browser would show it) or dropped with its
 *    content (code, frames, plugins, integration points). Serialized and parsed again until nothing
 *    changes, so what is sent re-parses to exactly the tree that was judged (mXSS);
 * 2. URLs: every URL attribute is resolved (against `<base href>`, which is then dropped) and
 *    rewritten by `rewrite.navigation` (links, GET forms) or `rewrite.resource` (images, styles,
 *    media, CSS `url()`); anything they refuse, or any other scheme but fragments, `mailto:`, `tel:`
 *    and plain data: images, is dropped. POST forms are unwrapped: nothing submits out of the viewer.
 * 3. the banner (already-safe HTML from the caller) goes first in `<body>`.
 * Streaming is given up for this: the whole document is parsed once it has arrived (capped by the
 * exit's response cap); `write` collects and `end` returns the page.
 */
export interface ViewerRewrites {
  /** Where a link to `absolute` should go inside the viewer, or null to drop it. */
  navigation(absolute: string): string | null;
  /** Where a subresource at `absolute` should be loaded from, or null to drop it. */
  resource(absolute: string): string | null;
}

export interface SanitizerOptions {
  /**
   * Firefox's viewer renders into its own document: an `id`/`name` the document would expose as a
   * named property (`<img name=head>`, `<form name=createElement>`) and that this says shadows one of
   * its own properties goes.
   */
  isReservedName?(value: string): boolean;
}

type Node = DefaultTreeAdapterTypes.Node;
type ParentNode = DefaultTreeAdapterTypes.ParentNode;
type ChildNode = DefaultTreeAdapterTypes.ChildNode;
type Element = DefaultTreeAdapterTypes.Element;

/** Safe in text and in double-quoted attribute values alike. */
export const escapeHtml = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const PLAIN_DATA_IMAGE = /^data:image\/(png|gif|jpeg|webp|avif|bmp|x-icon|vnd\.microsoft\.icon|svg\+xml)[;,]/i;
const MAX_PASSES = 4;

const isElement = (node: Node): node is Element => 'tagName' in node;
const attribute = (element: Element, name: string): string | undefined =>
  element.attrs.find((each) => each.name === name && !each.namespace)?.value;

/** Structural pass: the allow-list, in place. */
function pruneChildren(parent: ParentNode, options: SanitizerOptions): void {
  const kept: ChildNode[] = [];
  for (const child of parent.childNodes) {
    if (child.nodeName === '#comment' || child.nodeName === '#documentType') continue;
    if (!isElement(child)) {
      kept.push(child);
      continue;
    }
    const ns = child.namespaceURI;
    const name = child.tagName;
    if (DROPPED_WITH_CONTENT[ns]?.has(name) || !(ns in ELEMENTS) || !keepsElement(child)) continue;
    pruneChildren(child, options);
    if ((ns === HTML_NS && UNWRAPPED.has(name)) || !ELEMENTS[ns]!.has(name) || isPostForm(child)) {
      // Unwrapped: its (already pruned) children take its place.
      for (const grandchild of child.childNodes) grandchild.parentNode = parent;
      kept.push(...child.childNodes);
      continue;
    }
    child.attrs = child.attrs.filter((each) => keepsAttribute(child, each, options));
    kept.push(child);
  }
  parent.childNodes = kept;
}

/** The elements a Document's named properties expose (HTML standard, "Document named properties"). */
function exposedOnDocument(element: Element, name: 'id' | 'name'): boolean {
  if (element.namespaceURI !== HTML_NS) return false;
  return name === 'name'
    ? ['img', 'form', 'embed', 'object', 'iframe'].includes(element.tagName)
    : ['img', 'object'].includes(element.tagName);
}

function isPostForm(element: Element): boolean {
  return (
    element.namespaceURI === HTML_NS &&
    element.tagName === 'form' &&
    (attribute(element, 'method') ?? 'get').toLowerCase() !== 'get'
  );
}

/** Elements on the list that still go for what they would do. */
function keepsElement(element: Element): boolean {
  if (element.namespaceURI !== HTML_NS) return true;
  if (element.tagName === 'meta')
    return (
      attribute(element, 'http-equiv') === undefined &&
      attribute(element, 'charset') === undefined &&
      KEPT_META_NAMES.has((attribute(element, 'name') ?? '').toLowerCase())
    );
  if (element.tagName === 'link') {
    const rels = (attribute(element, 'rel') ?? '').toLowerCase().split(/\s+/).filter(Boolean);
    const as = (attribute(element, 'as') ?? '').toLowerCase();
    return (
      rels.length > 0 &&
      rels.every((rel) => KEPT_LINK_RELS.has(rel) || (rel === 'preload' && ['style', 'image', 'font'].includes(as)))
    );
  }
  return true;
}

function keepsAttribute(
  element: Element,
  each: { name: string; value: string; namespace?: string },
  options: SanitizerOptions,
): boolean {
  const ns = element.namespaceURI;
  const name = each.name;
  if (each.namespace === XLINK_NS) return name === 'href' && ns === SVG_NS;
  if (each.namespace) return false;
  const allowed =
    ATTRIBUTES[ns]?.has(name) ||
    (ns === HTML_NS && /^(aria|data)-[a-z0-9_.-]+$/.test(name)) ||
    (ns !== HTML_NS && /^aria-[a-z-]+$/.test(name));
  if (!allowed) return false;
  if ((name === 'id' || name === 'name') && exposedOnDocument(element, name) && options.isReservedName?.(each.value))
    return false;
  if (ns === SVG_NS && SVG_URL_VALUE_ATTRIBUTES.has(name))
    return !/url\s*\(|\\/i.test(each.value) || /^\s*url\(\s*['"]?#[\w.:-]+['"]?\s*\)[^()\\]*$/i.test(each.value);
  return true;
}

/**
 * The doctype that puts the browser in the page's own mode: no doctype is quirks mode, and a `<p>`
 * may hold a `<table>` there but not in standards mode, so the mode is part of what the tree means.
 */
const DOCTYPE_FOR_MODE: Record<string, string> = {
  'no-quirks': '<!DOCTYPE html>',
  'limited-quirks':
    '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">',
  quirks: '',
};

/** What the structural pass leaves, as it will be sent (no URL rewritten yet), its doctype first. */
function pruned(html: string | DefaultTreeAdapterTypes.Document, options: SanitizerOptions): string {
  const document = typeof html === 'string' ? parse(html, { scriptingEnabled: false }) : html;
  pruneChildren(document, options);
  return `${DOCTYPE_FOR_MODE[document.mode] ?? ''}${serialize(document)}`;
}

class UrlRewriter {
  constructor(
    private base: string,
    private readonly rewrites: ViewerRewrites,
  ) {}

  setBase(href: string): void {
    const absolute = this.resolve(href);
    if (absolute && /^https?:/i.test(absolute)) this.base = absolute;
  }

  private resolve(value: string): string | null {
    try {
      return new URL(value.trim(), this.base).href;
    } catch {
      return null;
    }
  }

  navigation(value: string): string | null {
    const trimmed = value.trim();
    if (trimmed.startsWith('#')) return trimmed;
    if (/^(mailto|tel):/i.test(trimmed)) return trimmed;
    const absolute = this.resolve(trimmed);
    return absolute && /^https?:/i.test(absolute) ? this.rewrites.navigation(absolute) : null;
  }

  resource(value: string): string | null {
    const trimmed = value.trim();
    // An image in a data: URL loads nothing and runs nothing (an image never runs SVG scripts).
    if (PLAIN_DATA_IMAGE.test(trimmed)) return trimmed;
    const absolute = this.resolve(trimmed);
    return absolute && /^https?:/i.test(absolute) ? this.rewrites.resource(absolute) : null;
  }

  srcset(value: string): string | null {
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

  css(value: string): string {
    return rewriteCss(value, this.base, (absolute) =>
      PLAIN_DATA_IMAGE.test(absolute) ? absolute : /^https?:/i.test(absolute) ? this.rewrites.resource(absolute) : null,
    );
  }
}

/** Elements whose `href` is a link to follow; on others it loads something (or only points inside the page). */
const NAVIGATION_HREF = new Set([`${HTML_NS} a`, `${HTML_NS} area`, `${SVG_NS} a`]);
const RESOURCE_HREF = new Set([`${HTML_NS} link`, `${SVG_NS} image`, `${SVG_NS} feImage`]);

function rewriteUrls(parent: ParentNode, urls: UrlRewriter): void {
  for (const child of parent.childNodes) {
    if (!isElement(child)) continue;
    const key = `${child.namespaceURI} ${child.tagName}`;
    const rewritten: Element['attrs'] = [];
    for (const each of child.attrs) {
      let value: string | null = each.value;
      const name = each.name;
      if (name === 'href') {
        if (NAVIGATION_HREF.has(key)) value = urls.navigation(each.value);
        else if (RESOURCE_HREF.has(key)) value = urls.resource(each.value);
        else value = each.value.trim().startsWith('#') ? each.value.trim() : null; // use, textPath, gradients: inside the page only
      } else if (name === 'src' || name === 'poster' || name === 'background') value = urls.resource(each.value);
      else if (name === 'srcset') value = urls.srcset(each.value);
      else if (name === 'action') value = urls.navigation(each.value);
      else if (name === 'style') value = urls.css(each.value);
      else if (name === 'cite' || name === 'itemtype') value = null;
      if (value !== null) rewritten.push({ ...each, value });
    }
    child.attrs = rewritten;
    if (child.namespaceURI === HTML_NS && child.tagName === 'form') {
      child.attrs = child.attrs.filter((each) => each.name !== 'method');
      // A GET form with no (or a refused) action submits to the viewer page itself: it stays inside.
      if (!child.attrs.some((each) => each.name === 'action')) child.attrs.push({ name: 'action', value: '#' });
    }
    if (child.namespaceURI === HTML_NS && child.tagName === 'style') {
      for (const text of child.childNodes)
        if (text.nodeName === '#text')
          (text as DefaultTreeAdapterTypes.TextNode).value = urls
            .css((text as DefaultTreeAdapterTypes.TextNode).value)
            .replace(/<\//g, '<\\/');
    }
    rewriteUrls(child, urls);
  }
}

/** The first element, in document order, that `matches`. */
function findElement(node: ParentNode, matches: (element: Element) => boolean): Element | null {
  for (const child of node.childNodes) {
    if (!isElement(child)) continue;
    if (matches(child)) return child;
    const inner = findElement(child, matches);
    if (inner) return inner;
  }
  return null;
}

const isHtml =
  (tag: string) =>
  (element: Element): boolean =>
    element.namespaceURI === HTML_NS && element.tagName === tag;

/** Sanitizes a whole document. `banner` is trusted HTML placed first in the body. */
export function sanitizeDocument(
  html: string,
  documentUrl: string,
  rewrites: ViewerRewrites,
  banner = '',
  options: SanitizerOptions = {},
): string {
  const urls = new UrlRewriter(documentUrl, rewrites);
  const source = parse(html, { scriptingEnabled: false });
  // The first <base> with an href decides, as in the browser.
  const base = findElement(source, (element) => isHtml('base')(element) && attribute(element, 'href') !== undefined);
  if (base) urls.setBase(attribute(base, 'href')!);
  // 1. Structure, to a fixed point: what we send re-parses to the tree we judged.
  let text = pruned(source, options);
  for (let pass = 0; ; pass += 1) {
    const again = pruned(text, options);
    if (again === text) break;
    // Not stable after several passes: send the text of the page, never markup we could not pin down.
    if (pass >= MAX_PASSES)
      return `<!DOCTYPE html><html><head></head><body>${banner}<pre>${escapeHtml(html)}</pre></body></html>`;
    text = again;
  }
  // 2. URLs and stylesheets rewritten on the stable tree (attribute values and style text only).
  const document = parse(text, { scriptingEnabled: false });
  const doctype = DOCTYPE_FOR_MODE[document.mode] ?? '';
  document.childNodes = document.childNodes.filter((node) => node.nodeName !== '#documentType');
  rewriteUrls(document, urls);
  // 3. The banner, first in the body.
  const body = findElement(document, isHtml('body'));
  if (body && banner) {
    const fragment = parseFragment(banner);
    for (const node of fragment.childNodes) node.parentNode = body;
    body.childNodes.unshift(...fragment.childNodes);
  }
  return `${doctype}${serialize(document)}`;
}

/** Collects the document as it arrives; `end()` returns it sanitized. */
export class ViewerSanitizer {
  private readonly parts: string[] = [];

  constructor(
    private readonly documentUrl: string,
    private readonly rewrites: ViewerRewrites,
    private readonly banner = '',
    private readonly options: SanitizerOptions = {},
  ) {}

  write(chunk: string): string {
    this.parts.push(chunk);
    return '';
  }

  end(): string {
    return sanitizeDocument(this.parts.join(''), this.documentUrl, this.rewrites, this.banner, this.options);
  }
}
