import { describe, expect, it } from 'vitest';
import { rewriteCss } from '../../extension/core/viewer/css-rewriter';
import { StreamingSanitizer } from '../../extension/core/viewer/html-sanitizer';
import { targetOf, viewerPath, viewerPathForInput } from '../../extension/core/viewer/viewer-url';

const PAGE = 'https://site.example/dir/page.html';
const rewrites = { navigation: (url: string) => viewerPath(url), resource: (url: string) => viewerPath(url) };

/** Sanitizes `html`, fed in chunks of `chunkSize` characters (streaming must not change the result). */
function sanitize(html: string, chunkSize = html.length): string {
  const sanitizer = new StreamingSanitizer(PAGE, rewrites, '<div id="banner"></div>');
  let out = '';
  for (let offset = 0; offset < html.length; offset += chunkSize) out += sanitizer.write(html.slice(offset, offset + chunkSize));
  return out + sanitizer.end();
}

const HOSTILE = `<!doctype html><html><head>
<meta http-equiv="refresh" content="0;url=https://evil.example/">
<meta http-equiv="Content-Security-Policy" content="default-src *">
<base href="https://other.example/base/" target="_top">
<script>window.pwned = 1</script><script src="/evil.js"></script><script src="https://evil.example/x.js"></script>
<link rel="modulepreload" href="/m.js"><link rel="prefetch" href="/p"><link rel="preload" as="script" href="/s.js">
<link rel="stylesheet" href="css/site.css" integrity="sha384-x" crossorigin>
<style>@import "https://evil.example/i.css"; body { background: url(/bg.png) } .x { width: expression(alert(1)) } </style><\/style>
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
    expect(targetOf(new URL('chrome-extension://id/view/https/site.example/a/b?q=x'))).toBe('https://site.example/a/b?q=x');
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

  it('makes POST forms inert and puts the banner first in the body', () => {
    expect(out).toMatch(/<form method="get" action="about:blank#refused-form">/);
    expect(out).toMatch(/<body class="page"><div id="banner"><\/div>/);
  });

  it('gives the same result however the stream is cut', () => {
    for (const size of [1, 7, 64, 1000]) expect(sanitize(HOSTILE, size)).toBe(out);
  });

  it('cannot be closed early from inside a stylesheet', () => {
    expect(sanitize('<style>a{}</style><p>x</p>')).toContain('<style>a{}</style><p>x</p>');
    expect(rewriteCss('a { background: url( "x\\29 .png" ) }', PAGE, (url) => viewerPath(url))).toBe('a { background: url("/view/https/site.example/dir/x).png") }');
  });
});
