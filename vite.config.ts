import { crx } from '@crxjs/vite-plugin';
import { resolve } from 'node:path';
import { build, defineConfig, type Plugin } from 'vite';
import { nodePolyfills } from 'vite-plugin-node-polyfills';
import { manifestFor, type TargetBrowser } from './extension/manifest.config.ts';

/**
 * `vite build --mode chrome|firefox` writes dist/<browser>/. Content scripts registered at run time
 * (scripting.registerContentScripts) are built here as classic IIFE files: a MAIN-world script cannot
 * use crxjs's module loader (no chrome.runtime there).
 */
const CONTENT_SCRIPTS = { 'page-hook': 'extension/content/page-hook.ts', bridge: 'extension/content/bridge.ts' };

function contentScripts(outDir: string): Plugin {
  return {
    name: 'peerlane-content-scripts',
    apply: 'build',
    async closeBundle() {
      for (const [name, entry] of Object.entries(CONTENT_SCRIPTS)) {
        await build({
          configFile: false,
          logLevel: 'warn',
          build: {
            outDir: resolve(outDir, 'content'),
            emptyOutDir: false,
            // Injected into every routed page: minified, and checked against a size budget (test/unit/built-sizes.test.ts).
            minify: true,
            lib: {
              entry: resolve(entry),
              formats: ['iife'],
              name: `peerlane_${name.replace('-', '_')}`,
              fileName: () => `${name}.js`,
            },
          },
        });
      }
    },
  };
}

/** `vite build --mode signaling`: the signaling server as plain JavaScript for Node (dependencies stay in node_modules). */
const signalingServerBuild = defineConfig({
  build: {
    ssr: 'signaling-server/main.ts',
    outDir: resolve('dist', 'signaling-server'),
    emptyOutDir: true,
    target: 'node20',
    minify: false,
    sourcemap: true,
    rollupOptions: { output: { entryFileNames: 'main.js', format: 'es' } },
  },
});

export default defineConfig(({ mode }) => {
  if (mode === 'signaling') return signalingServerBuild;
  const browser: TargetBrowser = mode === 'firefox' ? 'firefox' : 'chrome';
  const outDir = resolve('dist', browser);
  return {
    plugins: [
      // simple-peer needs Node's events/buffer/process/stream in the browser (ARCHITECTURE.md, "Measured facts").
      nodePolyfills({
        include: ['buffer', 'events', 'process', 'stream', 'util'],
        globals: { Buffer: true, process: true, global: true },
      }),
      crx({ manifest: manifestFor(browser), browser }),
      contentScripts(outDir),
    ],
    // _locales/ (strings) is copied as is to the extension's root.
    publicDir: 'extension/public',
    build: {
      outDir,
      emptyOutDir: true,
      minify: false,
      sourcemap: false,
      // Pages no manifest key names: Chrome's offscreen document, Firefox's viewer (Chrome's viewer is its service worker).
      rollupOptions: {
        input: (browser === 'chrome'
          ? { offscreen: 'extension/hosts/chrome-offscreen.html' }
          : { viewer: 'extension/ui/viewer.html' }) as Record<string, string>,
      },
    },
  };
});
