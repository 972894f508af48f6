import browser from 'webextension-polyfill';
import { matchPatternsFor } from '../../core/access/site-access';

/**
 * Registers the page hook (MAIN world) and its bridge (ISOLATED world) on the routed origins, live.
 * Match patterns carry no port in Firefox, so scripts match the host and the bridge checks the exact
 * origin before routing anything.
 */
const SCRIPT_IDS = ['peerlane-page-hook', 'peerlane-bridge'];

export async function syncRoutedScripts(origins: readonly string[]): Promise<void> {
  const existing = await browser.scripting.getRegisteredContentScripts({ ids: SCRIPT_IDS });
  if (existing.length > 0)
    await browser.scripting.unregisterContentScripts({ ids: existing.map((script) => script.id) });
  const matches = matchPatternsFor(origins);
  if (matches.length === 0) return;
  await browser.scripting.registerContentScripts([
    // Every frame of a routed page too, and about:blank, srcdoc and blob: frames it makes (their origin is the page's).
    {
      id: 'peerlane-page-hook',
      matches,
      js: ['content/page-hook.js'],
      runAt: 'document_start',
      world: 'MAIN',
      persistAcrossSessions: true,
      allFrames: true,
      matchOriginAsFallback: true,
    },
    {
      id: 'peerlane-bridge',
      matches,
      js: ['content/bridge.js'],
      runAt: 'document_start',
      persistAcrossSessions: true,
      allFrames: true,
      matchOriginAsFallback: true,
    },
  ]);
}
