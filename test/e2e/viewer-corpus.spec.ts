import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import type { Page as FirefoxPage } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS } from '../../extension/core/settings';
import { startSignalingServer, type SignalingServer } from '../../signaling-server/server';
import { backgroundState, launchWithExtension, waitFor, type ExtensionBrowser } from '../helpers/chromium';
import { launchFirefoxPeer, type FirefoxPeer } from '../helpers/firefox';
import { DEV_ORIGIN_ADDRESS, DEV_PRIVATE_ALLOW_LIST } from '../helpers/origin-server';
import { closeAll } from '../helpers/close-all';

/**
 * The public XSS and HTML-injection corpora (read from the workspace's shared/ folder, never copied
 * into the project) served as pages through a real exit and opened in the viewer of each browser.
 * Every host name the requester's own browser could resolve leads to a trap that counts connections:
 * a page that made the requester reach out directly would show there. Per page: no dialog, no
 * connection to the trap, the tab still in the viewer, and no script-capable element, handler or
 * way out (link, form) in the live DOM.
 */
const CORPUS_DIR = '../shared/viewer-xss-corpus';
const VECTORS_PER_PAGE = 20;
const FIREFOX_TRAP_ADDRESS = '127.0.0.3';
/** After load, how long a page has to try leaving (a meta refresh of 0 s, a preconnect): then it is judged. */
const QUIET_MS = 600;

interface Vector {
  title: string;
  html: string;
}

const pages: { path: string; file: string; count: number }[] = [];
const bodies = new Map<string, string>();
/** Documents that are not HTML: never passed through as documents, whatever they contain. */
const NON_HTML: Record<string, { type: string; body: string }> = {
  '/doc/hostile.svg': {
    type: 'image/svg+xml',
    body: '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="40" height="40"><script>alert(1)</script><a xlink:href="http://trap.peerlane.test/svg-link"><rect width="40" height="40" fill="red"/></a><image href="http://trap.peerlane.test/svg-image.png"/></svg>',
  },
  '/doc/hostile.xml': {
    type: 'application/xml',
    body: '<?xml version="1.0"?><?xml-stylesheet href="http://trap.peerlane.test/x.xsl" type="text/xsl"?><root xmlns:h="http://www.w3.org/1999/xhtml"><h:meta http-equiv="refresh" content="0;url=http://trap.peerlane.test/xml-refresh"/><h:script>alert(1)</h:script></root>',
  },
};
let corpusServer: Server;
let corpusPort = 0;
let signaling: SignalingServer;
let exit: ExtensionBrowser;
const trapConnections: string[] = [];
const traps: (Server | TcpServer)[] = [];

/** Our own: every way a page reaches the network or leaves without script, each aimed at the trap. */
const OWN_LEAK_VECTORS = [
  '<link rel="preconnect" href="http://trap.peerlane.test/">',
  '<link rel="dns-prefetch" href="//trap-dns.peerlane.test">',
  '<link rel="prefetch" href="http://trap.peerlane.test/prefetch">',
  '<link rel="prerender" href="http://trap.peerlane.test/prerender">',
  '<link rel="modulepreload" href="http://trap.peerlane.test/m.js">',
  '<meta http-equiv="refresh" content="0;url=http://trap.peerlane.test/refresh">',
  '<svg><style>&lt;meta http-equiv="refresh" content="0;url=http://trap.peerlane.test/svg-refresh"&gt;&lt;link rel="preconnect" href="http://trap.peerlane.test/"&gt;</style></svg>',
  '<math><mtext><table><mglyph><style>&lt;link rel=preconnect href=http://trap.peerlane.test/&gt;</style></mglyph></table></mtext></math>',
  '<base href="http://trap.peerlane.test/base/"><img src="relative-after-base.png">',
  '<img srcset="http://trap.peerlane.test/srcset.png 2x"><picture><source srcset="http://trap.peerlane.test/source.png"><img src="x.png"></picture>',
  '<svg><image href="http://trap.peerlane.test/svg-image.png"/><use href="http://trap.peerlane.test/use.svg#x"/><rect fill="url(http://trap.peerlane.test/fill.svg#p)" width="5" height="5"/></svg>',
  '<video poster="http://trap.peerlane.test/poster.png" src="http://trap.peerlane.test/v.mp4"></video><audio src="//trap.peerlane.test/a.mp3"></audio>',
  '<style>@import url(http://trap.peerlane.test/import.css); .x{background:\\75 rl(http://trap.peerlane.test/escaped.png)} .y{background-image:image-set("http://trap.peerlane.test/set.png" 1x)}</style><div class="x y">css</div>',
  '<div style="background:url(http://trap.peerlane.test/inline.png)">inline</div>',
  '<a href="http://trap.peerlane.test/link" ping="http://trap.peerlane.test/ping" target="_top">link</a><form method="post" action="http://trap.peerlane.test/post"><input name="a"></form>',
  '<iframe src="http://trap.peerlane.test/frame"></iframe><object data="http://trap.peerlane.test/object"></object><embed src="http://trap.peerlane.test/embed">',
  '<img name="head" src="x.png"><form name="createElement"></form><img name="querySelectorAll" src="y.png"><img name="documentElement" src="z.png">',
  '<div style="background:url(data:image/gif;base64,R0lGODlhAQABAAAAACw=)">data image</div>',
  // Stylesheets that import themselves, or each other: the viewer must still show the page.
  '<link rel="stylesheet" href="/css/self.css"><link rel="stylesheet" href="/css/a.css">',
];
const STYLESHEETS: Record<string, string> = {
  '/css/self.css': '@import url(/css/self.css); .vector { outline: 0 }',
  '/css/a.css': '@import "/css/b.css"; .vector { margin: 0 }',
  '/css/b.css': '@import "/css/a.css"; .vector { padding: 0 }',
};

function buildPages(): void {
  bodies.set(
    '/corpus/own/0.html',
    `<!DOCTYPE html><html><head><meta charset="utf-8"><title>own leak vectors</title></head><body>${OWN_LEAK_VECTORS.map((html) => `<div class="vector">${html}</div>`).join('\n')}</body></html>`,
  );
  pages.push({ path: '/corpus/own/0.html', file: 'own', count: OWN_LEAK_VECTORS.length });
  for (const path of Object.keys(NON_HTML)) pages.push({ path, file: 'non-html', count: 1 });
  for (const file of readdirSync(CORPUS_DIR)
    .filter((name) => name.endsWith('.json'))
    .sort()) {
    const vectors = JSON.parse(readFileSync(`${CORPUS_DIR}/${file}`, 'utf8')) as Vector[];
    for (let start = 0; start < vectors.length; start += VECTORS_PER_PAGE) {
      const chunk = vectors.slice(start, start + VECTORS_PER_PAGE);
      const path = `/corpus/${file.replace('.json', '')}/${start / VECTORS_PER_PAGE}.html`;
      const html = chunk
        .map(
          (vector, index) =>
            `<div class="vector" data-n="${start + index}">${vector.html.replace(/%TRAP%/g, `http://trap.peerlane.test/${start + index}`)}</div>`,
        )
        .join('\n');
      bodies.set(
        path,
        `<!DOCTYPE html><html><head><meta charset="utf-8"><title>corpus ${file}</title></head><body>${html}<p id="corpus-end">end</p></body></html>`,
      );
      pages.push({ path, file, count: chunk.length });
    }
  }
}

/** The host a connection asked for: the TLS ClientHello's server name, or the HTTP Host header. */
function requestedHost(first: Buffer): string {
  if (first[0] === 0x16) {
    // TLS record → ClientHello: skip to the extensions and find server_name (type 0).
    let offset = 5 + 4 + 2 + 32;
    const sessionLength = first[offset] ?? 0;
    offset += 1 + sessionLength;
    offset += 2 + first.readUInt16BE(offset);
    offset += 1 + (first[offset] ?? 0);
    const end = offset + 2 + first.readUInt16BE(offset);
    offset += 2;
    while (offset + 4 <= end && offset + 4 <= first.length) {
      const type = first.readUInt16BE(offset);
      const length = first.readUInt16BE(offset + 2);
      if (type === 0) return first.subarray(offset + 9, offset + 9 + first.readUInt16BE(offset + 7)).toString('latin1');
      offset += 4 + length;
    }
    return 'tls (no server name)';
  }
  return /\r\nhost:\s*([^\r\n]+)/i.exec(first.toString('latin1'))?.[1] ?? 'unknown';
}

/** The browser's own services (Firefox: updates, remote settings, telemetry); never a page's doing. */
const BROWSER_SERVICES =
  /(^|\.)(mozilla\.(com|org|net)|firefox\.com|mozaws\.net|mozgcp\.net|googleapis\.com|gstatic\.com|google\.com)(:\d+)?$/i;

/** A listener that records every connection and the host it asked for (the requester's browser should make none for a page). */
function trapOn(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = createTcpServer((socket) => {
      socket.once('data', (first: Buffer) => {
        let asked: string;
        try {
          asked = requestedHost(first);
        } catch {
          asked = 'unparsed';
        }
        if (!BROWSER_SERVICES.test(asked)) trapConnections.push(`${asked} (${host}:${port})`);
        socket.destroy();
      });
      socket.setTimeout(2000, () => socket.destroy());
    });
    server.once('error', reject);
    server.listen(port, host, () => resolve());
    traps.push(server);
  });
}

beforeAll(async () => {
  buildPages();
  corpusServer = createServer((request, response) => {
    const path = (request.url ?? '').split('?')[0]!;
    const other = NON_HTML[path] ?? (STYLESHEETS[path] ? { type: 'text/css', body: STYLESHEETS[path] } : undefined);
    const body = other?.body ?? bodies.get(path);
    // Everything a vector asks the exit for besides its page: an empty answer.
    response.writeHead(body ? 200 : 404, { 'content-type': other?.type ?? 'text/html; charset=utf-8' });
    response.end(body ?? '');
  });
  await new Promise<void>((resolve) => corpusServer.listen(0, DEV_ORIGIN_ADDRESS, resolve));
  corpusPort = (corpusServer.address() as AddressInfo).port;
  signaling = await startSignalingServer({ port: 0 });
  // The exit dials the corpus host's address itself (plain HTTP goes to the address its look-up judged): that address is excluded too.
  exit = await launchWithExtension([
    `MAP corpus.peerlane.test ${DEV_ORIGIN_ADDRESS}`,
    'EXCLUDE 127.0.0.1',
    `EXCLUDE ${DEV_ORIGIN_ADDRESS}`,
    'MAP * ~NOTFOUND',
  ]);
  await exit.setSettings({
    signalingUrl: signaling.url,
    share: true,
    privateAllowList: DEV_PRIVATE_ALLOW_LIST,
    exitPorts: [...DEFAULT_SETTINGS.exitPorts, corpusPort],
  });
}, 90_000);

afterAll(async () => {
  await closeAll(exit, signaling);
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- unset when beforeAll failed
  await new Promise<void>((resolve) => (corpusServer ? corpusServer.close(() => resolve()) : resolve()));
  for (const trap of traps) trap.close();
});

/**
 * Runs in the viewer page: what in the live DOM could run, reach out, or leave the viewer. The page's
 * own markup may shadow DOM properties (`<input name=attributes>`): everything goes through prototypes.
 */
function liveDomProblems(): string[] {
  const problems: string[] = [];
  const XLINK = 'http://www.w3.org/1999/xlink';
  const ourMetas = new Set(['content-security-policy', 'x-dns-prefetch-control']);
  const all: NodeListOf<Element> = Document.prototype.querySelectorAll.call(document, '*');
  // Reflect.get runs Element.prototype's own getters on the element, whatever the page's markup shadows.
  const attributesOf = (element: Element): NamedNodeMap => Reflect.get(Element.prototype, 'attributes', element);
  const localNameOf = (element: Element): string => Reflect.get(Element.prototype, 'localName', element);
  const attr = (element: Element, name: string): string | null => Element.prototype.getAttribute.call(element, name);
  for (const element of Array.from(all)) {
    const tag = localNameOf(element);
    if (
      [
        'script',
        'iframe',
        'frame',
        'frameset',
        'object',
        'embed',
        'applet',
        'portal',
        'base',
        'foreignobject',
        'animate',
        'set',
      ].includes(tag.toLowerCase())
    )
      problems.push(`<${tag}>`);
    if (
      tag === 'meta' &&
      attr(element, 'http-equiv') !== null &&
      !ourMetas.has((attr(element, 'http-equiv') ?? '').toLowerCase())
    )
      problems.push(`<meta http-equiv=${attr(element, 'http-equiv')}>`);
    if (
      tag === 'link' &&
      !/^(stylesheet|icon|shortcut icon|apple-touch-icon|preload)$/i.test(attr(element, 'rel') ?? '')
    )
      problems.push(`<link rel=${attr(element, 'rel')}>`);
    for (const attribute of Array.from(attributesOf(element)))
      if (/^on/i.test(attribute.name)) problems.push(`<${tag} ${attribute.name}>`);
    const href = attr(element, 'href') ?? Element.prototype.getAttributeNS.call(element, XLINK, 'href');
    if (href !== null && ['a', 'area'].includes(tag)) {
      const url = new URL(href, location.href);
      if (url.origin !== location.origin && !['mailto:', 'tel:'].includes(url.protocol))
        problems.push(`link to ${url.href}`);
    }
    if (tag === 'form') {
      const url = new URL(attr(element, 'action') ?? '', location.href);
      if (url.origin !== location.origin) problems.push(`form to ${url.href}`);
    }
  }
  return problems;
}

describe('public XSS corpora in the Chromium viewer, through a real exit', () => {
  let requester: ExtensionBrowser;
  let trapPort = 0;
  beforeAll(async () => {
    const probe = createTcpServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    trapPort = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    await trapOn('127.0.0.1', trapPort);
    // Every name this browser resolves, the corpus host included, leads to the trap; signaling is an address.
    requester = await launchWithExtension(['EXCLUDE 127.0.0.1', `MAP * 127.0.0.1:${trapPort}`]);
    await requester.setSettings({ signalingUrl: signaling.url });
    await waitFor(
      async () => (await backgroundState(requester)).transport.signaling,
      (state) => state === 'connected',
      'the requester online',
    );
  }, 90_000);
  afterAll(async () => {
    await closeAll(requester);
  });

  it('runs nothing, contacts nothing directly and never leaves the viewer, page after page', async () => {
    // The trap works: a page this browser opens directly reaches it, by name.
    const control = await requester.context.newPage();
    await control.goto('http://control.peerlane.test/', { timeout: 10_000 }).catch(() => undefined);
    await expect
      .poll(() => trapConnections.filter((entry) => entry.startsWith('control.peerlane.test')).length, {
        timeout: 5000,
      })
      .toBeGreaterThan(0);
    await control.close();
    trapConnections.length = 0;
    const page: Page = await requester.context.newPage();
    let dialogs = 0;
    page.on('dialog', (dialog) => {
      dialogs += 1;
      void dialog.dismiss();
    });
    const failures: string[] = [];
    let vectors = 0;
    for (const corpusPage of pages) {
      const before = trapConnections.length;
      const viewer = `chrome-extension://${requester.extensionId}/view/http/corpus.peerlane.test:${corpusPort}${corpusPage.path}`;
      await page.goto(viewer, { waitUntil: 'load', timeout: 30_000 });
      await page.waitForTimeout(QUIET_MS);
      if (!(await page.evaluate(() => document.querySelector('#peerlane-viewer-banner') !== null)))
        failures.push(`${corpusPage.path}: the viewer's banner is missing`);
      if (!page.url().startsWith(`chrome-extension://${requester.extensionId}/view/`))
        failures.push(`${corpusPage.path}: the tab left the viewer for ${page.url()}`);
      else for (const problem of await page.evaluate(liveDomProblems)) failures.push(`${corpusPage.path}: ${problem}`);
      if (trapConnections.length > before)
        failures.push(`${corpusPage.path}: direct connections to ${trapConnections.slice(before).join(', ')}`);
      vectors += corpusPage.count;
    }
    expect(failures).toEqual([]);
    expect(dialogs).toBe(0);
    expect(vectors).toBeGreaterThan(300);
    console.info(
      `Chromium viewer: ${vectors} vectors on ${pages.length} pages, 0 dialogs, ${trapConnections.length} direct connections`,
    );
  }, 240_000);
});

describe('public XSS corpora in the Firefox viewer, through a real exit', () => {
  let firefox: FirefoxPeer;
  beforeAll(async () => {
    // Every name resolves to the trap's address, where the trap listens on the ports vectors use.
    for (const port of [80, 443, 8080, corpusPort]) await trapOn(FIREFOX_TRAP_ADDRESS, port);
    firefox = await launchFirefoxPeer([], { resolveOthersTo: FIREFOX_TRAP_ADDRESS });
    await firefox.setSettings({ signalingUrl: signaling.url });
    await waitFor(
      async () => (await firefox.state()).transport.signaling,
      (state) => state === 'connected',
      'the Firefox requester online',
    );
  }, 90_000);
  afterAll(async () => {
    await closeAll(firefox);
  });

  it('runs nothing, contacts nothing directly and never leaves the viewer, page after page', async () => {
    const page: FirefoxPage = await firefox.browser.newPage();
    // The trap works: a page this browser opens directly reaches it, by name.
    await page.goto('http://control.peerlane.test/', { timeout: 10_000 }).catch(() => undefined);
    await expect
      .poll(() => trapConnections.filter((entry) => entry.startsWith('control.peerlane.test')).length, {
        timeout: 5000,
      })
      .toBeGreaterThan(0);
    trapConnections.length = 0;
    let dialogs = 0;
    page.on('dialog', (dialog) => {
      dialogs += 1;
      void dialog.dismiss();
    });
    const failures: string[] = [];
    const viewerPage = `${firefox.baseUrl}/extension/ui/viewer.html`;
    for (const corpusPage of pages) {
      const before = trapConnections.length;
      const target = `http://corpus.peerlane.test:${corpusPort}${corpusPage.path}`;
      // Extension pages never report their load over BiDi: the viewer's banner says it has shown the page.
      void page.goto(`${viewerPage}?url=${encodeURIComponent(target)}`).catch(() => undefined);
      const deadline = Date.now() + 30_000;
      while (
        Date.now() < deadline &&
        !(await page
          .evaluate(
            (end) => document.querySelector('#peerlane-viewer-banner') !== null && location.href.includes(end),
            encodeURIComponent(corpusPage.path),
          )
          .catch(() => false))
      ) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await new Promise((resolve) => setTimeout(resolve, QUIET_MS));
      const where = await page.evaluate(() => location.href).catch(() => 'unknown');
      // Shown at all, with the viewer's CSP in force: the page's names cannot have moved it (DOM clobbering).
      const shown = await page
        .evaluate(() => {
          const head = Object.getOwnPropertyDescriptor(Document.prototype, 'head')!.get!.call(
            document,
          ) as HTMLHeadElement;
          const csp = Element.prototype.querySelector.call(head, 'meta[http-equiv="Content-Security-Policy"]');
          return {
            banner: Document.prototype.querySelector.call(document, '#peerlane-viewer-banner') !== null,
            csp: csp !== null && Element.prototype.getAttribute.call(csp, 'content')!.startsWith("default-src 'none'"),
          };
        })
        .catch(() => ({ banner: false, csp: false }));
      if (!shown.banner || !shown.csp)
        failures.push(`${corpusPage.path}: not shown with the viewer's CSP (${JSON.stringify(shown)})`);
      if (!where.startsWith(viewerPage)) failures.push(`${corpusPage.path}: the tab left the viewer for ${where}`);
      else for (const problem of await page.evaluate(liveDomProblems)) failures.push(`${corpusPage.path}: ${problem}`);
      if (trapConnections.length > before)
        failures.push(`${corpusPage.path}: direct connections to ${trapConnections.slice(before).join(', ')}`);
    }
    expect(failures).toEqual([]);
    expect(dialogs).toBe(0);
    console.info(
      `Firefox viewer: ${pages.reduce((sum, each) => sum + each.count, 0)} vectors on ${pages.length} pages, 0 dialogs, ${trapConnections.length} direct connections`,
    );
  }, 240_000);
});
