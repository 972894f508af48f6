import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { parse, serialize, type DefaultTreeAdapterTypes } from 'parse5';
import { describe, expect, it } from 'vitest';
import { ATTRIBUTES, DROPPED_WITH_CONTENT, ELEMENTS, HTML_NS } from '../../extension/core/viewer/allow-list';
import { sanitizeDocument } from '../../extension/core/viewer/html-sanitizer';
import { viewerPath } from '../../extension/core/viewer/viewer-url';

/**
 * The viewer sanitizer against public XSS and HTML-injection corpora (DOMPurify's fixtures, Cure53's
 * H5SC, OWASP's filter-evasion cheat sheet, SonarSource's mXSS cheatsheet), read from the workspace's
 * shared/ folder (outside data: never copied into the project). Each output is judged by parsing it
 * with a standards-compliant parser, as the browser will: only allow-listed elements and attributes,
 * every URL inside the viewer, and a re-parse that changes nothing (no mutation XSS).
 */
const CORPUS_DIR = '../shared/viewer-xss-corpus';
const PAGE = 'https://site.example/dir/page.html';
const rewrites = { navigation: (url: string) => viewerPath(url), resource: (url: string) => viewerPath(url) };
const MARKER = 'peerlane-after-marker';
const AFTER = `<p id="peerlane-after">${MARKER}</p>`;

interface Vector {
  source: string;
  title: string;
  html: string;
}

function corpus(): { file: string; vectors: Vector[] }[] {
  if (!existsSync(CORPUS_DIR))
    throw new Error(
      `${CORPUS_DIR} is missing: the workspace's shared/ folder holds the public corpora this test reads`,
    );
  return readdirSync(CORPUS_DIR)
    .filter((file) => file.endsWith('.json'))
    .map((file) => ({ file, vectors: JSON.parse(readFileSync(`${CORPUS_DIR}/${file}`, 'utf8')) as Vector[] }));
}

type Node = DefaultTreeAdapterTypes.Node;
type Element = DefaultTreeAdapterTypes.Element;
const isElement = (node: Node): node is Element => 'tagName' in node;
function* elements(node: Node): Generator<Element> {
  if ('childNodes' in node) {
    for (const child of node.childNodes) {
      if (isElement(child)) yield child;
      yield* elements(child);
    }
  }
}

const INSIDE_URL = (value: string): boolean => {
  const trimmed = value.trim();
  return (
    trimmed === '#' ||
    trimmed.startsWith('#') ||
    trimmed.startsWith('/view/') ||
    /^(mailto|tel):/i.test(trimmed) ||
    /^data:image\//i.test(trimmed)
  );
};
const cssUrlsInside = (css: string): string[] =>
  [...css.matchAll(/url\(\s*(?:"([^"]*)"|'([^']*)'|([^)\s]*))\s*\)/gi)]
    .map((match) => match[1] ?? match[2] ?? match[3] ?? '')
    .filter((url) => !(INSIDE_URL(url) || url === 'about:invalid'));

/** Every problem the browser-parsed output has; empty when it is safe and stays in the viewer. */
function problems(out: string): string[] {
  const found: string[] = [];
  const document = parse(out, { scriptingEnabled: true });
  const doctype = /^<!DOCTYPE[^>]*>/.exec(out)?.[0] ?? '';
  if (doctype + serialize(document).replace(/^<!DOCTYPE[^>]*>/, '') !== out)
    found.push('re-parsing the output changes it (mutation)');
  for (const element of elements(document)) {
    const ns = element.namespaceURI;
    const where = `<${element.tagName}>`;
    if (!ELEMENTS[ns]?.has(element.tagName)) found.push(`${where} in ${ns} is not on the allow-list`);
    if (ns === HTML_NS && element.tagName === 'meta' && element.attrs.some((each) => each.name === 'http-equiv'))
      found.push('meta http-equiv');
    if (ns === HTML_NS && element.tagName === 'style') {
      const css = element.childNodes.map((child) => ('value' in child ? child.value : '')).join('');
      for (const url of cssUrlsInside(css)) found.push(`stylesheet url ${url}`);
      const withoutInsideUrls = css.replace(/url\(\s*"([^"]*)"\s*\)/gi, (call, url: string) =>
        INSIDE_URL(url) || url === 'about:invalid' ? 'url()' : call,
      );
      if (/expression\s*\(|javascript:|-moz-binding/i.test(withoutInsideUrls)) found.push('script in a stylesheet');
    }
    for (const each of element.attrs) {
      const name = each.name;
      if (/^on/i.test(name)) found.push(`${where} handler ${name}`);
      const allowed = each.namespace ? name === 'href' : ATTRIBUTES[ns]?.has(name) || /^(aria|data)-/.test(name);
      if (!allowed) found.push(`${where} attribute ${name} is not on the allow-list`);
      if (['href', 'src', 'action', 'poster', 'background', 'formaction'].includes(name) && !INSIDE_URL(each.value))
        found.push(`${where} ${name}=${each.value} leaves the viewer`);
      if (name === 'srcset')
        for (const candidate of each.value.split(','))
          if (!INSIDE_URL(candidate.trim().split(/\s+/)[0] ?? '')) found.push(`${where} srcset ${candidate}`);
      if (name === 'style') for (const url of cssUrlsInside(each.value)) found.push(`${where} style url ${url}`);
      const urlInside = ['href', 'src', 'action', 'poster', 'background'].includes(name) && INSIDE_URL(each.value);
      if (
        /javascript:|vbscript:/i.test(each.value) &&
        !urlInside &&
        !['alt', 'title', 'value', 'content', 'placeholder', 'label'].includes(name)
      )
        found.push(`${where} ${name} carries a script URL`);
    }
  }
  return found;
}

/** Whether the browser shows the marker after `html` (not inside something the sanitizer drops whole). */
function browserShowsAfter(html: string): boolean {
  const document = parse(html + AFTER, { scriptingEnabled: false });
  const visit = (node: Node): boolean => {
    if (!('childNodes' in node)) return false;
    for (const child of node.childNodes) {
      if (!isElement(child)) continue;
      if (DROPPED_WITH_CONTENT[child.namespaceURI]?.has(child.tagName) || !(child.namespaceURI in ELEMENTS)) continue;
      if (child.childNodes.some((text) => 'value' in text && text.value.includes(MARKER))) return true;
      if (visit(child)) return true;
    }
    return false;
  };
  return visit(document);
}

describe('the viewer sanitizer against public corpora', () => {
  const sources = corpus();

  it('reads all four corpora', () => {
    expect(sources.map((source) => source.file).sort()).toEqual([
      'dompurify.json',
      'h5sc.json',
      'owasp.json',
      'sonarsource-mxss.json',
    ]);
    expect(sources.reduce((sum, source) => sum + source.vectors.length, 0)).toBeGreaterThan(300);
  });

  describe.each(corpus())('$file', ({ file, vectors }) => {
    it(`leaves nothing script-capable or outside the viewer, and re-parses unchanged (${vectors.length} vectors)`, () => {
      const failures: string[] = [];
      for (const vector of vectors) {
        const out = sanitizeDocument(vector.html + AFTER, PAGE, rewrites, '<div id="banner"></div>');
        const found = problems(out);
        if (found.length) failures.push(`${vector.title}: ${found.join('; ')}`);
      }
      expect(failures, file).toEqual([]);
    });

    it('keeps the markup that follows a hostile fragment wherever the browser shows it', () => {
      const lost = vectors.filter(
        (vector) =>
          browserShowsAfter(vector.html) && !sanitizeDocument(vector.html + AFTER, PAGE, rewrites).includes(MARKER),
      );
      expect(lost.map((vector) => vector.title)).toEqual([]);
    });
  });
});
