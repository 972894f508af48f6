import { existsSync, readFileSync, statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

/**
 * The page pays only for what it runs: the hook and the bridge are injected into every routed page
 * at document_start. Budgets on the built files (`npm test` builds before it runs this).
 */
/**
 * The hook grew from 15 to 20 KB when it took on what the browser does for a page itself (CORS,
 * XMLHttpRequest to the standard, EventSource, frames): `npm run bench` measures what it costs a page
 * (navigation start to DOMContentLoaded, with and without it).
 */
/** The bridge fell from 31 to under 8 KB when it stopped carrying zod/mini, whose schemas cost each routed page load ~30 ms to build (`core/channels/page-channel.ts`). */
const BUDGETS = { 'page-hook.js': 20 * 1024, 'bridge.js': 8 * 1024 } as const;

describe.each(['chrome', 'firefox'])('built content scripts (%s)', (browser) => {
  const dir = `dist/${browser}/content`;

  it.each(Object.entries(BUDGETS))('%s stays within its budget', (file, budget) => {
    const path = `${dir}/${file}`;
    expect(existsSync(path), `${path} is missing: run npm run build first`).toBe(true);
    expect(statSync(path).size).toBeLessThanOrEqual(budget);
  });

  it('the page hook carries no validation library, no settings and no queue defaults', () => {
    const hook = readFileSync(`${dir}/page-hook.js`, 'utf8');
    expect(hook).not.toMatch(/\$Zod|ZodError/);
    expect(hook).not.toMatch(/signalingToken|maxQueued|attemptTimeoutMs/);
    // The hook does its job: it replaces fetch and XMLHttpRequest.
    expect(hook).toMatch(/XMLHttpRequest/);
  });

  it('the bridge carries no validation library and no settings schema, and still reads what the page sends', () => {
    const bridge = readFileSync(`${dir}/bridge.js`, 'utf8');
    expect(bridge).not.toMatch(/\$Zod|ZodError|signaling URL must start/);
    expect(bridge).toMatch(/peerlane-request/);
  });
});
