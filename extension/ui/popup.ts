import { IndexedDbCacheStore } from '../background/platform/indexeddb-cache-store';
import browser from 'webextension-polyfill';
import { POPUP_PORT_NAME, toPopupSchema, type PopupState } from '../core/channels/popup-channel';
import { parseMessage } from '../core/channels/parse';
import { ALL_SITES, matchPatternsFor, patternsMissing } from '../core/access/site-access';
import { firefoxViewerPath, targetForInput, viewerPath } from '../core/viewer/viewer-url';
import { exitCapsFrom, normalizeOrigin, parseSettings, SETTINGS_STORAGE_KEY, type Settings } from '../core/settings';
import type { RequestLogEntry } from '../core/stats/request-log';
import { localDay } from '../core/stats/stats';
import { formatBytes, formatMs } from './format';
import { localizePage, t } from './i18n';
import { drawSparklines } from './sparkline';
import { SiteAccessRequester } from './site-access-request';
import { setUpTabs } from './tabs';

/**
 * The popup: state pushed by the background over a Port (at most 4 redraws a second), toggles
 * written to settings storage. It never polls and never builds markup from strings: URLs in the
 * request log come from pages.
 */
document.documentElement.dataset.scriptStartMs = performance.now().toFixed(1);

const $ = <T extends Element = HTMLElement>(selector: string): T => {
  const element = document.querySelector<T>(selector);
  if (!element) throw new Error(`popup markup lacks ${selector}`);
  return element;
};
const text = (testId: string, value: string): void => {
  $(`[data-testid="${testId}"]`).textContent = value;
};
const categoryName = (category: string): string => category.replace(/_/g, ' ');

let currentOrigin: string | null = null;
let lastState: PopupState | null = null;
const siteAccess = new SiteAccessRequester();

async function updateSettings(change: (settings: Settings) => Settings): Promise<void> {
  const stored = await browser.storage.local.get(SETTINGS_STORAGE_KEY);
  await browser.storage.local.set({ [SETTINGS_STORAGE_KEY]: change(parseSettings(stored[SETTINGS_STORAGE_KEY])) });
}

/** A list item from text cells, each optionally classed. */
function item(cells: [string, string?][]): HTMLLIElement {
  const li = document.createElement('li');
  for (const [value, className] of cells) {
    if (!value) continue;
    const span = document.createElement('span');
    span.textContent = value;
    if (className) span.className = className;
    li.append(span);
  }
  return li;
}

function renderRequests(state: PopupState): void {
  const { stats, timeline } = state;
  text('queued', String(stats.queued));
  text('inflight', String(stats.inflight));
  text('completed', String(stats.completed));
  text('failed', String(stats.failed));
  text('rejected', String(stats.rejected));
  text('throughput', `${formatBytes(timeline.at(-1)?.bytesInPerSec ?? 0)}/s`);
  drawSparklines($<SVGSVGElement>('#spark-queue'), [
    { values: timeline.map((sample) => sample.queued), className: 'line queued-line' },
    { values: timeline.map((sample) => sample.inflight), className: 'line inflight-line' },
  ]);
  // Each bar: the parts at that percentile (queue wait, first byte, transfer), scaled to the p99 total.
  const parts = (q: 'p50' | 'p95' | 'p99') => [
    stats.queueWaitMs[q] ?? 0,
    stats.ttfbMs[q] ?? 0,
    stats.transferMs[q] ?? 0,
  ];
  const scale = Math.max(1, ...(['p50', 'p95', 'p99'] as const).map((q) => parts(q).reduce((a, b) => a + b, 0)));
  for (const q of ['p50', 'p95', 'p99'] as const) {
    text(`latency-${q}`, formatMs(stats.latencyMs[q]));
    const bar = $(`#bar-${q}`);
    bar.replaceChildren(
      ...parts(q).map((ms, index) => {
        const segment = document.createElement('span');
        segment.className = ['wait', 'ttfb', 'transfer'][index]!;
        segment.style.width = `${(ms / scale) * 100}%`;
        segment.title = `${[t('partWaiting'), t('partFirstByte'), t('partTransfer')][index]} ${formatMs(ms)}`;
        return segment;
      }),
    );
  }
  const resilience = [
    stats.retries ? t('retriesCount', String(stats.retries)) : '',
    stats.hedgesWon + stats.hedgesLost
      ? t('hedgesCount', [String(stats.hedgesWon), String(stats.hedgesWon + stats.hedgesLost)])
      : '',
    stats.resumes ? t('resumesCount', String(stats.resumes)) : '',
  ].filter(Boolean);
  text('resilience', resilience.join(' · '));
  // The routed cache: how many answers it gave (whole or after a 304), and the bytes no exit had to carry.
  const answered = stats.cacheHits + stats.cacheRevalidated;
  const asked = answered + stats.cacheMisses;
  text(
    'cache-summary',
    asked === 0
      ? t('cacheNone')
      : t('cacheSummary', [
          String(Math.round((100 * answered) / asked)),
          String(answered),
          String(asked),
          formatBytes(stats.cacheBytes),
        ]),
  );
  const failures = Object.entries(stats.failedByCategory)
    .filter(([category]) => category !== 'cancelled')
    .map(([category, count]) => `${categoryName(category)} ${count}`);
  const cancelled = stats.failedByCategory.cancelled ?? 0;
  text(
    'failures',
    [
      failures.length ? t('failedBy', failures.join(' · ')) : '',
      cancelled ? t('cancelledByPage', String(cancelled)) : '',
    ]
      .filter(Boolean)
      .join('. '),
  );
  const routeToggle = $<HTMLInputElement>('#route-toggle');
  routeToggle.disabled = currentOrigin === null;
  routeToggle.checked = currentOrigin !== null && state.settings.routedOrigins.includes(currentOrigin);
}

/** What the browser withholds, said plainly, with the one button that asks for it. */
function renderAccess(state: PopupState): void {
  const { settings, access } = state;
  const lines = [
    settings.share && !access.allSites ? t('accessSharingNeeded') : '',
    access.unroutable.length > 0 ? t('accessRoutingNeeded', access.unroutable.join(', ')) : '',
  ].filter(Boolean);
  $('#access-banner').hidden = lines.length === 0;
  text('access-text', lines.join(' '));
}

function renderPeers(state: PopupState): void {
  const exits = state.peers.filter((peer) => peer.remoteRole === 'exit');
  text('peers', String(state.stats.peers));
  $('#peers-label').textContent = t(state.stats.peers === 1 ? 'exitPeerConnected' : 'exitPeersConnected');
  text(
    'available-exits',
    state.transport.signaling !== 'connected'
      ? t('signalingOffline')
      : state.transport.availableExits === 0 && state.transport.unreachableExits > 0
        ? t('unreachableExits', String(state.transport.unreachableExits))
        : t('availableExits', String(state.transport.availableExits)),
  );
  // Either the reason none can reach us (above), or the plain "no exit yet".
  $('#no-peers').hidden =
    exits.length > 0 || (state.transport.availableExits === 0 && state.transport.unreachableExits > 0);
  const { selfId, nat } = state.transport;
  text('self-id', selfId ? t('selfIdentity', [selfId, t(`nat_${nat}`)]) : '');
  $('#peer-list').replaceChildren(
    ...exits.map((peer) =>
      item([
        [peer.peerId, 'id'],
        [
          t(`health_${peer.health ?? 'connecting'}`),
          peer.health === 'ejected' ? 'bad' : peer.health === 'healthy' ? 'ok' : 'muted',
        ],
        [peer.lanes > 1 ? t('pathLanes', [pathText(peer), String(peer.lanes)]) : pathText(peer), 'muted'],
        // Only once a lane stalled: then it says why this peer was slow for a moment.
        [
          peer.laneRecovery.asked + peer.laneRecovery.resent > 0
            ? t('laneResends', String(peer.laneRecovery.asked + peer.laneRecovery.resent))
            : '',
          'muted',
        ],
        [t('peerRtt', formatMs(peer.rttMs))],
        [t('peerTtfb', formatMs(peer.ttfbMs))],
        [t('peerInflight', String(peer.inflight))],
        [peer.successRatio === null ? '' : t('peerSuccess', String(Math.round(peer.successRatio * 100)))],
      ]),
    ),
  );
}

/** Checked exits: how the comparisons ended, and the exits caught altering an answer (never used again). */
function renderChecks(state: PopupState): void {
  const { stats, settings, flaggedExits } = state;
  text(
    'checks-summary',
    settings.checkExitsPercent === 0
      ? t('checksOff')
      : t('checksSummary', [
          String(settings.checkExitsPercent),
          String(stats.exitChecks),
          String(stats.exitChecksFromHedges),
          String(stats.exitChecksAgreed),
          String(stats.exitChecksInconclusive),
        ]),
  );
  $('#flagged-list').replaceChildren(
    ...flaggedExits.map((flagged) => {
      const li = item([
        [flagged.peerId, 'id'],
        [t('flaggedAltered'), 'bad'],
        [flagged.url, 'muted'],
        [new Date(flagged.at).toLocaleString(), 'muted'],
      ]);
      li.dataset.testid = `flagged-${flagged.peerId}`;
      return li;
    }),
  );
}

function renderSharing(state: PopupState): void {
  const { stats, settings, timeline } = state;
  text('shared-requests', String(stats.sharedRequests));
  text('shared-bytes', formatBytes(stats.sharedBytes));
  const caps = exitCapsFrom(settings.exitCaps);
  const today = stats.sharedDay === localDay() ? stats.sharedBytesToday : 0;
  text('shared-today', formatBytes(today));
  text('quota-label', t('sharedTodayOf', formatBytes(caps.dailyBytes)));
  const meter = $<HTMLMeterElement>('#quota-meter');
  meter.max = caps.dailyBytes;
  meter.value = Math.min(today, caps.dailyBytes);
  meter.high = caps.dailyBytes * 0.9;
  text('shared-rate', `${formatBytes(timeline.at(-1)?.bytesSharedPerSec ?? 0)}/s`);
  text('rate-cap-label', t('sharedRateOf', `${formatBytes(caps.bytesPerSecond)}/s`));
  $('#pause-row').hidden = !settings.share;
  const pause = $<HTMLButtonElement>('#pause-toggle');
  pause.textContent = t(settings.sharePaused ? 'resumeSharing' : 'pauseSharing');
  pause.setAttribute('aria-pressed', String(settings.sharePaused));
  text('pause-state', settings.sharePaused ? t('sharingPaused') : '');
  const month = stats.sharedMonth === localDay().slice(0, 7) ? stats.sharedBytesThisMonth : 0;
  text('shared-month', formatBytes(month));
  text('month-label', t('sharedMonthOf', formatBytes(caps.monthlyBytes)));
  // A condition of the sharer's life that pauses the exit (the person's own pause shows on its button).
  const condition = $('#sharing-condition');
  const { pause: pausedBy, backingOff } = state.sharingNow;
  const conditionText = !settings.share
    ? ''
    : pausedBy !== null && pausedBy !== 'paused'
      ? t(`pausedBy_${pausedBy}`)
      : backingOff
        ? t('backingOff')
        : '';
  condition.hidden = conditionText === '';
  condition.textContent = conditionText;
  const names = state.circles.map((circle) => circle.name).join(', ');
  text(
    'share-with',
    settings.share
      ? settings.shareWith === 'everyone' || !names
        ? t('shareWithEveryoneNow')
        : t(settings.shareWith === 'circles' ? 'shareWithCirclesNow' : 'shareWithBothNow', names)
      : '',
  );
  $('[data-testid="circles"]').replaceChildren(
    ...state.circles.map((circle) => {
      const chip = item([
        [circle.name],
        [
          t(`circleStatus_${circle.status}`),
          circle.status === 'verified' ? 'ok' : circle.status === 'pending' ? 'muted' : 'bad',
        ],
      ]);
      chip.title = circle.owner ? t('circleOwner') : t('circleMember');
      return chip;
    }),
  );
  text('requesters', String(state.peers.filter((peer) => peer.remoteRole === 'requester').length));
  drawSparklines($<SVGSVGElement>('#spark-shared'), [
    { values: timeline.map((sample) => sample.bytesSharedPerSec), className: 'line shared-line' },
  ]);
  const refusals = Object.entries(stats.refusedByCategory).map(
    ([category, count]) => `${categoryName(category)} ${count}`,
  );
  text('refusals', refusals.length ? t('refusedBy', refusals.join(' · ')) : '');
  $<HTMLInputElement>('#share-toggle').checked = settings.share;
  const warning = $('#private-warning');
  warning.hidden = settings.privateAllowList.length === 0;
  warning.textContent = settings.privateAllowList.length
    ? t('privateWarning', settings.privateAllowList.join(', '))
    : '';
}

function visibleLog(state: PopupState): RequestLogEntry[] {
  const filter = $<HTMLSelectElement>('#log-filter').value;
  return state.log.filter((entry) => filter === 'all' || (filter === 'ok') === (entry.outcome === 'ok'));
}

function renderLog(state: PopupState): void {
  const entries = visibleLog(state);
  text('log-count', t('logCount', [String(entries.length), String(state.log.length)]));
  $('#request-log').replaceChildren(
    ...entries.map((entry) => {
      const li = item([
        [entry.id.slice(0, 8), 'id'],
        [entry.role === 'exit' ? t('logServed', entry.method) : entry.method],
        [entry.url, 'url'],
        [
          entry.outcome === 'ok' ? String(entry.status ?? 'ok') : categoryName(entry.outcome),
          entry.outcome === 'ok' ? 'ok' : 'bad',
        ],
        [entry.role === 'exit' ? formatBytes(entry.bytes) : formatMs(entry.totalMs)],
        [
          entry.cache === 'hit'
            ? t('logFromCache')
            : entry.cache === 'revalidated'
              ? t('logRevalidated')
              : entry.hedgeWon
                ? t('logHedged')
                : entry.resumed
                  ? t('logResumed')
                  : entry.attempts > 1
                    ? t('logTries', String(entry.attempts))
                    : '',
        ],
      ]);
      li.title = [
        entry.url,
        entry.peer ? t('logPeer', entry.peer) : '',
        entry.queueWaitMs === null ? '' : `${t('partWaiting')} ${formatMs(entry.queueWaitMs)}`,
        entry.ttfbMs === null ? '' : `${t('partFirstByte')} ${formatMs(entry.ttfbMs)}`,
        entry.transferMs === null ? '' : `${t('partTransfer')} ${formatMs(entry.transferMs)}`,
      ]
        .filter(Boolean)
        .join('\n');
      return li;
    }),
  );
}

function render(state: PopupState): void {
  lastState = state;
  const signaling = $('#signaling');
  signaling.textContent = t(`signaling_${state.transport.signaling}`);
  signaling.classList.toggle('connected', state.transport.signaling === 'connected');
  renderAccess(state);
  renderRequests(state);
  renderPeers(state);
  renderChecks(state);
  renderSharing(state);
  renderLog(state);
  const started = new Date(state.backgroundStartedAt).toLocaleTimeString();
  text(
    'background-started',
    state.stats.backgroundStarts > 1
      ? t('backgroundRestarted', [started, String(state.stats.backgroundStarts - 1)])
      : t('backgroundUp', started),
  );
  // For the open-time measure in the dashboard test: when the first state was on screen.
  document.documentElement.dataset.firstRenderMs ??= performance.now().toFixed(1);
}

async function init(): Promise<void> {
  // Ask for state first: the background answers while the page localizes and finds its tab.
  const port = browser.runtime.connect({ name: POPUP_PORT_NAME });
  port.onMessage.addListener((raw: unknown) => {
    document.documentElement.dataset.stateArrivedMs ??= performance.now().toFixed(1);
    const parsed = parseMessage(toPopupSchema, raw);
    if (parsed.ok) render(parsed.message.state);
    else console.warn('[peerlane] bad popup message', parsed.error);
  });
  localizePage();
  setUpTabs($('[role="tablist"]'));
  // The peer viewer: Chrome's service worker serves its path; Firefox's is a page.
  const viewerForm = $<HTMLFormElement>('#viewer-form');
  const pathFor = 'service_worker' in (browser.runtime.getManifest().background ?? {}) ? viewerPath : firefoxViewerPath;
  viewerForm.hidden = false;
  viewerForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const target = targetForInput($<HTMLInputElement>('#viewer-url').value);
    const path = target ? pathFor(target) : null;
    if (path) void browser.tabs.create({ url: browser.runtime.getURL(path) });
  });
  const [tab] = await browser.tabs.query({ active: true, currentWindow: true });
  currentOrigin = tab?.url ? normalizeOrigin(tab.url) : null;
  $('#route-label').textContent = currentOrigin ? t('routeThisSite', currentOrigin) : t('routeNotAWebPage');
  const viewerField = $<HTMLInputElement>('#viewer-url');
  if (currentOrigin && !viewerField.value) viewerField.value = currentOrigin;
  if (lastState) renderRequests(lastState);

  $<HTMLInputElement>('#route-toggle').addEventListener('change', (event) => {
    const toggle = event.target as HTMLInputElement;
    const on = toggle.checked;
    const origin = currentOrigin;
    if (!origin) return;
    // Routing a site needs access to it: asked here, inside the click, or its requests would go direct.
    const allowed = on ? siteAccess.request(matchPatternsFor([origin])) : Promise.resolve(true);
    void allowed.then((granted) => {
      text('route-note', granted ? '' : t('accessDeclinedRoute', origin));
      if (!granted) {
        toggle.checked = false;
        return;
      }
      void updateSettings((settings) => ({
        ...settings,
        routedOrigins: on
          ? [...new Set([...settings.routedOrigins, origin])]
          : settings.routedOrigins.filter((value) => value !== origin),
      }));
    });
  });
  $('#access-grant').addEventListener('click', () => {
    if (!lastState) return;
    void siteAccess.request(patternsMissing(lastState.settings, lastState.access)).then((granted) => {
      if (!granted) text('access-text', t('accessDeclined'));
    });
  });

  // Sharing needs an explicit, informed click; turning it off is immediate.
  const consent = $('#consent');
  $<HTMLInputElement>('#share-toggle').addEventListener('change', (event) => {
    const input = event.target as HTMLInputElement;
    if (input.checked) {
      input.checked = false;
      consent.hidden = false;
      $<HTMLButtonElement>('#consent-accept').focus();
    } else void updateSettings((settings) => ({ ...settings, share: false }));
  });
  $('#consent-accept').addEventListener('click', () => {
    // An exit fetches any site its requesters ask for (within the policy): it needs access to all.
    void siteAccess.request([ALL_SITES]).then((granted) => {
      text('consent-note', granted ? '' : t('accessDeclinedSharing'));
      if (!granted) return;
      consent.hidden = true;
      void updateSettings((settings) => ({ ...settings, share: true }));
    });
  });
  $('#consent-cancel').addEventListener('click', () => {
    consent.hidden = true;
  });
  $('#pause-toggle').addEventListener(
    'click',
    () => void updateSettings((settings) => ({ ...settings, sharePaused: !settings.sharePaused })),
  );

  // The cache lives in this extension's IndexedDB: the popup empties it itself (the background opens the same database).
  $('#cache-clear').addEventListener('click', () => {
    void new IndexedDbCacheStore().clear().then(
      () => text('cache-summary', t('cacheCleared')),
      (error: unknown) => text('cache-summary', String(error)),
    );
  });

  $('#log-filter').addEventListener('change', () => lastState && renderLog(lastState));
  $('#log-copy').addEventListener('click', () => {
    if (!lastState) return;
    const entries = visibleLog(lastState);
    void navigator.clipboard.writeText(JSON.stringify(entries, null, 2)).then(
      () => text('log-count', t('logCopied', String(entries.length))),
      (error: unknown) => text('log-count', t('logCopyFailed', String(error))),
    );
  });
  $('#open-options').addEventListener('click', (event) => {
    event.preventDefault();
    void browser.runtime.openOptionsPage();
  });
}

void init();

/** "direct (srflx ↔ prflx)": the path, and the candidate pair ICE found where it is known. */
function pathText(peer: PopupState['peers'][number]): string {
  const path = t(`path_${peer.path}`);
  return peer.pair ? t('pathPair', [path, peer.pair.local, peer.pair.remote]) : path;
}
