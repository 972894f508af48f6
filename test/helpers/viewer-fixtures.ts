import { PNG } from 'pngjs';

/**
 * Two fixture sites for the peer viewer, served by the loopback origin under `/hostile/` and
 * `/normal/`. The hostile one tries every way we know to run script or reach the network on its
 * own; each attempt, if it worked, would leave a trace a test can see: a `data-pwned` attribute, a
 * `pwned` key in extension storage, or a request for a `/hostile/trap-*` path at the origin.
 */
export function solidPng(width: number, height: number, rgb: [number, number, number]): Buffer {
  const png = new PNG({ width, height });
  for (let index = 0; index < width * height; index += 1) png.data.set([...rgb, 255], index * 4);
  return PNG.sync.write(png);
}

const PWN =
  "document.documentElement.dataset.pwned='1';try{chrome.storage.local.set({pwned:true})}catch(e){};fetch('/hostile/trap-fetch')";

export function hostilePage(origin: string): string {
  return `<!doctype html>
<html><head><title>Hostile fixture</title>
<meta http-equiv="refresh" content="0;url=/hostile/trap-refresh">
<base target="_top">
<script>${PWN}</script>
<script src="/hostile/trap-script.js"></script>
<script src="${origin}/hostile/trap-absolute.js"></script>
<script type="module">import '/hostile/trap-module.js'</script>
<link rel="modulepreload" href="/hostile/trap-modulepreload.js">
<link rel="prefetch" href="/hostile/trap-prefetch">
<link rel="stylesheet" href="/hostile/style.css">
<style>.bg { background: url("javascript:${PWN}") } .x { width: expression(alert(1)) }</style>
</head>
<body onload="${PWN}">
<h1 id="title">Hostile fixture</h1>
<img id="img" src="/hostile/img.png" onerror="${PWN}" onload="${PWN}">
<img src="/hostile/missing.png" onerror="${PWN}">
<a id="js-link" href="javascript:${PWN}">javascript link</a>
<a id="next" href="/hostile/next.html">next page</a>
<iframe src="/hostile/trap-frame.html"></iframe>
<iframe srcdoc="<script>parent.${PWN}</script>"></iframe>
<object data="/hostile/trap-object"></object>
<embed src="/hostile/trap-embed">
<form id="post-form" method="post" action="/hostile/trap-post"><input name="x" value="1"><button id="post-submit">post</button></form>
<svg width="10" height="10"><script>${PWN}</script><a xlink:href="javascript:${PWN}"><rect width="10" height="10"/></a><animate attributeName="href" to="javascript:${PWN}"/></svg>
<details open ontoggle="${PWN}"><summary>details</summary></details>
<div class="bg">styled</div>
<script>navigator.serviceWorker.register('/hostile/trap-sw.js')</script>
<noscript><p id="noscript">noscript fallback shown</p></noscript>
</body></html>`;
}

export const HOSTILE_CSS = `@import url("/hostile/imported.css") ; h1 { color: rgb(200, 30, 30); background: url(/hostile/img.png) }`;

export const NORMAL_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Normal fixture</title>
<link rel="stylesheet" href="css/site.css">
</head><body>
<header class="hero"><h1>A normal page</h1><p>Read through peers.</p></header>
<main>
<p class="lead">Stylesheets with url() backgrounds, srcset images and relative links all load through the viewer.</p>
<img class="photo" src="img/blue.png" srcset="img/blue.png 1x, img/green.png 2x" width="160" height="90" alt="blue">
<img class="photo" src="/normal/img/red.png" width="160" height="90" alt="red">
<form action="search"><input name="q" value="peers"> <button id="search">Search</button></form>
<ul><li><a href="index.html">home</a></li><li><a href="/normal/index.html?again=1">again</a></li></ul>
<div class="tile"></div>
</main></body></html>`;

export const NORMAL_CSS = `body { margin: 0; font: 16px/1.5 sans-serif; background: #fafafa; color: #222 }
.hero { padding: 24px; color: #fff; background: #345 url(../img/stripe.png) repeat-x }
main { padding: 16px 24px }
.photo { display: inline-block; margin-right: 12px; border: 2px solid #333 }
.tile { width: 200px; height: 60px; background: url("/normal/img/green.png") }`;

export function searchResults(query: string): string {
  const escaped = query.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  return `<!doctype html><title>Results</title><h1 id="results">Results for ${escaped}</h1>`;
}
