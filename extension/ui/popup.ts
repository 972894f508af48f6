import browser from 'webextension-polyfill';
import { backgroundToPopupSchema, parseMessage, POPUP_PORT_NAME, type PopupState } from '../core/messages';
import { normalizeOrigin, parseSettings, SETTINGS_STORAGE_KEY, type Settings } from '../core/settings';
import { formatBytes, formatMs } from './format';

/** The popup: pushed state from the background over a Port, toggles written to settings storage. */
const $ = <T extends HTMLElement>(selector: string): T => {
  const element = document.querySelector<T>(selector);
  if (!element) throw new Error(`popup markup lacks ${selector}`);
  return element;
};
const text = (testId: string, value: string): void => {
  $(`[data-testid="${testId}"]`).textContent = value;
};

let currentOrigin: string | null = null;

async function updateSettings(change: (settings: Settings) => Settings): Promise<void> {
  const stored = await browser.storage.local.get(SETTINGS_STORAGE_KEY);
  await browser.storage.local.set({ [SETTINGS_STORAGE_KEY]: change(parseSettings(stored[SETTINGS_STORAGE_KEY])) });
}

function render(state: PopupState): void {
  const { stats, transport, settings } = state;
  text('queued', String(stats.queued));
  text('inflight', String(stats.inflight));
  text('completed', String(stats.completed));
  text('failed', String(stats.failed));
  text('latency-p50', formatMs(stats.latencyMs.p50));
  text('latency-p95', formatMs(stats.latencyMs.p95));
  text('peers', String(stats.peers));
  text('shared-requests', String(stats.sharedRequests));
  text('shared-bytes', formatBytes(stats.sharedBytes));
  const failures = Object.entries(stats.failedByCategory)
    .filter(([category]) => category !== 'cancelled')
    .map(([category, count]) => `${category.replace(/_/g, ' ')} ${count}`);
  const cancelled = stats.failedByCategory.cancelled ?? 0;
  text('failures', [failures.length ? `Failed: ${failures.join(' · ')}` : '', cancelled ? `Cancelled by the page: ${cancelled}` : ''].filter(Boolean).join('. '));
  text('requesters', String(state.peers.filter((peer) => peer.remoteRole === 'requester').length));
  const refusals = Object.entries(stats.refusedByCategory).map(([category, count]) => `${category.replace(/_/g, ' ')} ${count}`);
  text('refusals', refusals.length ? `Refused: ${refusals.join(' · ')}` : '');
  $('#peers-label').textContent = stats.peers === 1 ? 'exit peer connected' : 'exit peers connected';
  $('#peer-list').textContent = state.peers.filter((peer) => peer.remoteRole === 'exit').map((peer) => peer.peerId).join(', ');
  const signaling = $('#signaling');
  signaling.textContent = transport.signaling === 'connected' ? 'online' : transport.signaling;
  signaling.classList.toggle('connected', transport.signaling === 'connected');
  $<HTMLInputElement>('#share-toggle').checked = settings.share;
  $('#private-warning').hidden = !settings.allowPrivateTargets;
  const routeToggle = $<HTMLInputElement>('#route-toggle');
  routeToggle.disabled = currentOrigin === null;
  routeToggle.checked = currentOrigin !== null && settings.routedOrigins.includes(currentOrigin);
}

async function init(): Promise<void> {
  const [tab] = await browser.tabs.query({ active: true, currentWindow: true });
  currentOrigin = tab?.url ? normalizeOrigin(tab.url) : null;
  $('#route-origin').textContent = currentOrigin ?? 'this page (not a web page)';

  const port = browser.runtime.connect({ name: POPUP_PORT_NAME });
  port.onMessage.addListener((raw: unknown) => {
    const parsed = parseMessage(backgroundToPopupSchema, raw);
    if (parsed.ok) render(parsed.message.state);
    else console.warn('[peerlane] bad popup message', parsed.error);
  });

  $<HTMLInputElement>('#route-toggle').addEventListener('change', (event) => {
    const on = (event.target as HTMLInputElement).checked;
    const origin = currentOrigin;
    if (!origin) return;
    void updateSettings((settings) => ({
      ...settings,
      routedOrigins: on ? [...new Set([...settings.routedOrigins, origin])] : settings.routedOrigins.filter((value) => value !== origin),
    }));
  });

  // Sharing needs an explicit, informed click; turning it off is immediate.
  const consent = $('#consent');
  $<HTMLInputElement>('#share-toggle').addEventListener('change', (event) => {
    const input = event.target as HTMLInputElement;
    if (input.checked) {
      input.checked = false;
      consent.hidden = false;
      $('#consent-accept').focus();
    } else void updateSettings((settings) => ({ ...settings, share: false }));
  });
  $('#consent-accept').addEventListener('click', () => {
    consent.hidden = true;
    void updateSettings((settings) => ({ ...settings, share: true }));
  });
  $('#consent-cancel').addEventListener('click', () => {
    consent.hidden = true;
  });
  $('#open-options').addEventListener('click', (event) => {
    event.preventDefault();
    void browser.runtime.openOptionsPage();
  });
}

void init();
