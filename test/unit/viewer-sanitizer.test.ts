import { describe, expect, it } from 'vitest';
import { rewriteCss } from '../../extension/core/viewer/css-rewriter';
import { ViewerSanitizer } from '../../extension/core/viewer/html-sanitizer';
import { documentKind, standInDocument } from '../../extension/core/viewer/viewer-markup';
import { targetOf, viewerPath, viewerPathForInput } from '../../extension/core/viewer/viewer-url';

const PAGE = 'https://site.example/dir/page.html';
const rewrites = { navigation: (url: string) => viewerPath(url), resource: (url: string) => viewerPath(url) };

/** Sanitizes `html`, fed in chunks of `chunkSize` characters (streaming must not change the result). */
function sanitize(html: string, chunkSize = html.length): string {
  const sanitizer = new ViewerSanitizer(PAGE, rewrites, '<div id="banner"></div>');
  let out = '';
  for (let offset = 0; offset < html.length; offset += chunkSize)
    out += sanitizer.write(html.slice(offset, offset + chunkSize));
  return out + sanitizer.end();
}

const HOSTILE = `<!doctype html><html><head>
<meta http-equiv="refresh" content="0;url=https://evil.example/">
<meta http-equiv="Content-Security-Policy" content="default-src *">
<base href="https://other.example/base/" target="_top">
<script>window.pwned = 1</script><script src="/evil.js"></script><script src="https://evil.example/x.js"></script>
<link rel="modulepreload" href="/m.js"><link rel="prefetch" href="/p"><link rel="preload" as="script" href="/s.js">
<link rel="stylesheet" href="css/site.css" integrity="sha384-x" crossorigin>
<style>@import "https://evil.example/i.css"; body { background: url(/bg.png) } .x { width: expression(alert(1)) } </style></style>
</head><body onload="pwn()" class="page">
<noscript><img src="fallback.png"></noscript>
<img src="a.png" onerror="pwn()" srcset="b.png 2x, javascript:alert(1) 3x"><img src="data:image/png;base64,AAAA">
<a href="javascript:alert(1)">js</a><a href="data:text/html,<script>alert(1)</script>">data</a><a href="/next?q=1#top" target="_blank" ping="https://evil/">next</a><a href="#frag">frag</a>
<iframe src="https://evil.example/"></iframe><iframe srcdoc="<script>alert(1)</script>"></iframe>
<object data="evil.swf"></object><embed src="evil.swf"><applet code="x"></applet>
<form method="post" action="/login"><input name="u"><button formaction="javascript:alert(1)">go</button></form>
<form action="/search"><input name="q"></form>
<svg><script>alert(1)</script><a xlink:href="javascript:alert(1)"><text>x</text></a><animate attributeName="href" to="javascript:alert(1)"/><image href="pic.svg"/></svg>
<details open ontoggle="pwn()">d</details><div style="background:url('javascript:alert(1)')">s</div>
<template><script>alert(1)</script></template>
</body></html>`;

describe('peer viewer URLs', () => {
  it('carries the target in the path, so relative URLs and GET forms stay inside the viewer', () => {
    expect(viewerPath('https://site.example:8443/a/b?c=1#d')).toBe('/view/https/site.example:8443/a/b?c=1#d');
    expect(viewerPath('javascript:alert(1)')).toBeNull();
    expect(viewerPath('https://user:pw@site.example/')).toBeNull();
    expect(targetOf(new URL('chrome-extension://id/view/https/site.example/a/b?q=x'))).toBe(
      'https://site.example/a/b?q=x',
    );
    expect(targetOf(new URL('chrome-extension://id/view/http/127.0.0.1:8080'))).toBe('http://127.0.0.1:8080/');
    expect(targetOf(new URL('chrome-extension://id/view/ftp/site.example/'))).toBeNull();
    expect(targetOf(new URL('chrome-extension://id/other'))).toBeNull();
    expect(viewerPathForInput('  example.com/news ')).toBe('/view/https/example.com/news');
    expect(viewerPathForInput('http://example.com')).toBe('/view/http/example.com/');
  });
});

describe('the viewer sanitizer', () => {
  const out = sanitize(HOSTILE);

  it('leaves no script, handler, frame, plugin, refresh or script URL', () => {
    expect(out).not.toMatch(/<script|<iframe|<object|<embed|<applet|<template|<animate/i);
    expect(out).not.toMatch(/\son[a-z]+=/i);
    expect(out).not.toMatch(/javascript:|vbscript:|data:text\/html/i);
    expect(out).not.toMatch(/http-equiv|srcdoc|formaction|integrity|crossorigin|ping=|target=/i);
    expect(out).not.toMatch(/modulepreload|prefetch|as="script"|<base/i);
    // Outside stylesheets no script text survives; inside one, IE's expression() is made an invalid function.
    expect(out.replace(/<style>[^]*?<\/style>/g, '')).not.toMatch(/pwned|alert\(/);
    expect(out).not.toMatch(/expression\(/i);
  });

  it('keeps the page: doctype, stylesheets, images, links and GET forms, rewritten into the viewer (base href honoured)', () => {
    expect(out.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(out).toContain('<link rel="stylesheet" href="/view/https/other.example/base/css/site.css">');
    expect(out).toContain('url("/view/https/other.example/bg.png")');
    expect(out).toContain('@import "/view/https/evil.example/i.css"');
    expect(out).toContain('<img src="/view/https/other.example/base/fallback.png">');
    expect(out).toContain('srcset="/view/https/other.example/base/b.png 2x"');
    expect(out).toContain('src="data:image/png;base64,AAAA"');
    expect(out).toContain('<a href="/view/https/other.example/next?q=1#top">next</a>');
    expect(out).toContain('<a href="#frag">frag</a>');
    expect(out).toContain('<form action="/view/https/other.example/search">');
    expect(out).toContain('<image href="/view/https/other.example/base/pic.svg">');
  });

  it('unwraps POST forms (nothing submits out of the viewer) and puts the banner first in the body', () => {
    expect(out).not.toMatch(/login|method=/);
    expect(out).toContain('<input name="u">');
    expect(out).toMatch(/<body class="page"><div id="banner"><\/div>/);
  });

  it('gives the same result however the stream is cut', () => {
    for (const size of [1, 7, 64, 1000]) expect(sanitize(HOSTILE, size)).toBe(out);
  });

  it('cannot be closed early from inside a stylesheet', () => {
    // Where the browser puts them: the style in the head, the paragraph in the body.
    expect(sanitize('<style>a{}</style><p>x</p>')).toContain(
      '<head><style>a{}</style></head><body><div id="banner"></div><p>x</p>',
    );
    expect(sanitize('<style>a{}</style><p>x</p>')).toContain(
      '<head><style>a{}</style></head><body><div id="banner"></div><p>x</p>',
    );
    expect(sanitize('<style>p{background:url("</style><img src=x onerror=alert(1)>")}</style>')).not.toMatch(/onerror/);
    expect(rewriteCss('a { background: url( "x\\29 .png" ) }', PAGE, (url) => viewerPath(url))).toBe(
      'a { background: url("/view/https/site.example/dir/x).png") }',
    );
  });
});

describe('the viewer sanitizer parses as the browser parses', () => {
  it('foreign-content <style> is markup to the browser: its entity-encoded tags never become elements', () => {
    const out = sanitize(
      '<svg><style>&lt;meta http-equiv="refresh" content="0;url=https://evil.example/"&gt;&lt;link rel="preconnect" href="https://evil.example"&gt;</style></svg><p>after</p>',
    );
    expect(out).not.toMatch(/<meta|<link|evil\.example"/);
    expect(out).toContain('<p>after</p>');
    const math = sanitize(
      '<math><mtext><table><mglyph><style><img src=x onerror=alert(1)></style></mglyph></table></mtext></math>',
    );
    // What is left of it is stylesheet text inside an HTML <style> (mtext is an HTML integration point), never an element.
    expect(math).not.toMatch(/<mglyph/);
    expect(math.replace(/<style>[^]*?<\/style>/g, '')).not.toMatch(/onerror|<img/);
  });

  it('only the allow-list survives, in every namespace', () => {
    const out = sanitize(
      '<x-widget data-a="1">kept text</x-widget><svg><foreignObject><iframe src="https://evil.example/"></iframe></foreignObject><rect fill="url(https://evil.example/p#x)" stroke="url(#grad)"/></svg><math href="https://evil.example/"><mi>x</mi></math>',
    );
    expect(out).toContain('kept text');
    expect(out).not.toMatch(/x-widget|foreignObject|iframe|evil\.example/i);
    expect(out).toContain('stroke="url(#grad)"');
    expect(out).not.toContain('fill=');
  });

  it('drops id and name values that would shadow the viewer document, when asked to', () => {
    const reserved = new Set(['head', 'createElement', 'querySelectorAll', 'documentElement']);
    const sanitizer = new ViewerSanitizer(PAGE, rewrites, '', { isReservedName: (value) => reserved.has(value) });
    sanitizer.write(
      '<img name="head" src="a.png"><form name="createElement"><input name="querySelectorAll"></form><img id="documentElement" name="x" src="b.png"><div id="head">d</div>',
    );
    const out = sanitizer.end();
    expect(out).not.toMatch(/name="head"|createElement|documentElement/);
    // Only what the document exposes as named properties: a div's id or a field's name shadow nothing there.
    expect(out).toContain('<div id="head">');
    expect(out).toContain('<input name="querySelectorAll">');
  });

  it('rewrites every CSS spelling of a URL the way the CSS parser reads it, and keeps data: images', () => {
    const css = (value: string) =>
      rewriteCss(value, PAGE, (url) => (url.startsWith('data:image/') ? url : viewerPath(url)));
    expect(css('a{background:\\75 rl(https://evil.example/a.png)}')).toBe(
      'a{background:url("/view/https/evil.example/a.png")}',
    );
    expect(css('a{background:image-set("b.png" 1x, "https://evil.example/c.png" 2x)}')).toBe(
      'a{background:image-set("/view/https/site.example/dir/b.png" 1x, "/view/https/evil.example/c.png" 2x)}',
    );
    expect(css('@import url(x.css);@import "y.css" screen;')).toBe(
      '@import url("/view/https/site.example/dir/x.css");@import "/view/https/site.example/dir/y.css" screen;',
    );
    expect(css('a{background:url(data:image/png;base64,AAAA)}')).toBe(
      'a{background:url("data:image/png;base64,AAAA")}',
    );
    expect(css('a{background:url(javascript:alert(1));behavior:url(x.htc);width:expression(alert(1))}')).toBe(
      'a{background:url("about:invalid"));-invalid-property:url("/view/https/site.example/dir/x.htc");width:invalid(alert(1))}',
    );
    expect(css('a{content:"javascript:alert(1)";font-family:"Helvetica"}')).toBe(
      'a{content:"";font-family:"Helvetica"}',
    );
  });

  it('keeps data: images in style attributes and stylesheets as they are', () => {
    const out = sanitize('<div style="background:url(data:image/gif;base64,R0lGOD)">x</div>');
    expect(out).toContain('url(&quot;data:image/gif;base64,R0lGOD&quot;)');
  });

  it('keeps the document mode: a page without a doctype stays in quirks mode', () => {
    expect(sanitize('<p><table><tr><td>x</td></tr></table>')).toMatch(/^<html>/);
    expect(sanitize('<!doctype html><p>x')).toMatch(/^<!DOCTYPE html><html>/);
  });
});

describe('documents that are not HTML', () => {
  it('are told apart by their type: SVG shows as an image of itself, XML and multipart as text', () => {
    expect(documentKind('text/html; charset=utf-8')).toBe('html');
    expect(documentKind(null)).toBe('html');
    expect(documentKind('image/svg+xml')).toBe('svg-image');
    for (const type of [
      'text/xml',
      'application/xml',
      'application/xhtml+xml',
      'application/rss+xml',
      'multipart/x-mixed-replace; boundary=x',
      'text/xsl',
    ])
      expect(documentKind(type), type).toBe('text');
    expect(documentKind('image/png')).toBe('as-is');
    expect(documentKind('text/plain')).toBe('as-is');
  });

  it('their stand-ins carry none of their markup', () => {
    const svg =
      '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script><a href="https://evil.example/">x</a></svg>';
    const image = sanitize(standInDocument('svg-image', 'https://site.example/a.svg', svg));
    expect(image).toContain('<img src="/view/https/site.example/a.svg"');
    expect(image).not.toMatch(/<script|<svg|evil/);
    const text = sanitize(
      standInDocument(
        'text',
        'https://site.example/a.xml',
        '<?xml version="1.0"?><h:meta xmlns:h="http://www.w3.org/1999/xhtml" http-equiv="refresh"/>',
      ),
    );
    expect(text).toContain('<pre');
    expect(text).toContain('&lt;h:meta');
    expect(text).not.toMatch(/<meta|<h:meta/);
  });
});
