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
  text('latency-p99', formatMs(stats.latencyMs.p99));
  text(
    'latency-parts',
    stats.completed > 0 ? `p50 parts: waiting ${formatMs(stats.queueWaitMs.p50)} · first byte ${formatMs(stats.ttfbMs.p50)} · transfer ${formatMs(stats.transferMs.p50)}` : '',
  );
  const resilience = [
    stats.retries ? `retries ${stats.retries}` : '',
    stats.hedgesWon + stats.hedgesLost ? `hedges won ${stats.hedgesWon} of ${stats.hedgesWon + stats.hedgesLost}` : '',
    stats.resumes ? `resumed ${stats.resumes}` : '',
    stats.rejected ? `rejected (queue full) ${stats.rejected}` : '',
  ].filter(Boolean);
  text('resilience', resilience.join(' · '));
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
  renderPeers(state);
  renderLog(state);
  const started = new Date(state.backgroundStartedAt).toLocaleTimeString();
  text('background-started', `background up since ${started}${stats.backgroundStarts > 1 ? ` · restarted ${stats.backgroundStarts - 1}×` : ''}`);
  const signaling = $('#signaling');
  signaling.textContent = transport.signaling === 'connected' ? 'online' : transport.signaling;
  signaling.classList.toggle('connected', transport.signaling === 'connected');
  $<HTMLInputElement>('#share-toggle').checked = settings.share;
  $('#private-warning').hidden = !settings.allowPrivateTargets;
  const routeToggle = $<HTMLInputElement>('#route-toggle');
  routeToggle.disabled = currentOrigin === null;
  routeToggle.checked = currentOrigin !== null && settings.routedOrigins.includes(currentOrigin);
}

/** Builds a list item from text cells; never innerHTML, since URLs come from pages. */
function item(cells: [string, string?][]): HTMLLIElement {
  const li = document.createElement('li');
  for (const [value, className] of cells) {
    const span = document.createElement('span');
    span.textContent = value;
    if (className) span.className = className;
    li.append(span);
  }
  return li;
}

function renderPeers(state: PopupState): void {
  const exits = state.peers.filter((peer) => peer.remoteRole === 'exit');
  $('#peer-list').replaceChildren(
    ...exits.map((peer) =>
      item([
        [peer.peerId, 'id'],
        [peer.health ?? 'connecting', peer.health === 'ejected' ? 'bad' : peer.health === 'healthy' ? 'ok' : undefined],
        [`rtt ${formatMs(peer.rttMs)}`],
        [`ttfb ${formatMs(peer.ttfbMs)}`],
        [`${peer.inflight} in flight`],
        [peer.successRatio === null ? '' : `${Math.round(peer.successRatio * 100)}% ok`],
      ]),
    ),
  );
}

const LOG_SHOWN = 8;
function renderLog(state: PopupState): void {
  $('#request-log').replaceChildren(
    ...state.log.slice(0, LOG_SHOWN).map((entry) =>
      item([
        [entry.id.slice(0, 8), 'id'],
        [entry.role === 'exit' ? `served ${entry.method}` : entry.method],
        [entry.url, 'url'],
        [entry.outcome === 'ok' ? String(entry.status ?? 'ok') : entry.outcome.replace(/_/g, ' '), entry.outcome === 'ok' ? 'ok' : 'bad'],
        [entry.role === 'exit' ? formatBytes(entry.bytes) : formatMs(entry.totalMs)],
        [entry.hedgeWon ? 'hedged' : entry.resumed ? 'resumed' : entry.attempts > 1 ? `${entry.attempts} tries` : ''],
      ]),
    ),
  );
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
