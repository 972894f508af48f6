import { IndexedDbCacheStore } from '../background/platform/indexeddb-cache-store';
import { errorText } from '../core/errors';
import browser from 'webextension-polyfill';
import { patternsNeeded } from '../core/access/site-access';
import { localizePage, t } from './i18n';
import { SiteAccessRequester } from './site-access-request';
import { startCirclesPanel } from './circles-panel';
import { EVERY_HOUR, NIGHTS_AND_WEEKENDS } from '../core/exit/share-when';
import { weekHoursGrid } from './week-hours';
import { FLAGGED_EXITS_STORAGE_KEY, parseFlaggedExits } from '../core/checks/exit-checks';
import {
  DEFAULT_SETTINGS,
  parseSettings,
  SETTINGS_STORAGE_KEY,
  validateSettings,
  type ExitCapsSettings,
  type QueueSettings,
  type Settings,
} from '../core/settings';

/** Options page: every setting, validated with clear messages; saving applies live (no reload). */
const form = document.querySelector<HTMLFormElement>('#settings-form')!;
const field = <T extends HTMLInputElement | HTMLTextAreaElement>(name: string): T =>
  form.querySelector<T>(`[name="${name}"]`)!;

function fill(settings: Settings): void {
  field<HTMLInputElement>('signalingUrl').value = settings.signalingUrl;
  field<HTMLInputElement>('signalingToken').value = settings.signalingToken;
  field<HTMLInputElement>('relayOnly').checked = settings.relayOnly;
  field<HTMLInputElement>('stunServers').value = settings.stunServers.join(', ');
  field<HTMLInputElement>('lanesPerExit').value = String(settings.lanesPerExit);
  field<HTMLInputElement>('autoLanes').checked = settings.autoLanes;
  field<HTMLInputElement>('share').checked = settings.share;
  for (const radio of form.querySelectorAll<HTMLInputElement>('input[name="shareWith"]'))
    radio.checked = radio.value === settings.shareWith;
  field<HTMLInputElement>('preferCircles').checked = settings.preferCircles;
  field<HTMLInputElement>('checkExitsPercent').value = String(settings.checkExitsPercent);
  field<HTMLInputElement>('cacheMaxMB').value = String(settings.cacheMaxMB);
  field<HTMLInputElement>('cacheFreshHours').value = String(settings.cacheFreshHours);
  field<HTMLTextAreaElement>('routedOrigins').value = settings.routedOrigins.join('\n');
  field<HTMLInputElement>('privateAllowList').value = settings.privateAllowList.join(', ');
  field<HTMLInputElement>('exitPorts').value = settings.exitPorts.join(', ');
  field<HTMLInputElement>('exitResolver').value = settings.exitResolver;
  for (const box of methodBoxes()) box.checked = (settings.exitMethods as string[]).includes(box.value);
  for (const key of QUEUE_NUMBERS) field<HTMLInputElement>(`queue.${key}`).value = String(settings.queue[key]);
  field<HTMLInputElement>('queue.hedging').checked = settings.queue.hedging;
  for (const key of CAP_NUMBERS) field<HTMLInputElement>(`exitCaps.${key}`).value = String(settings.exitCaps[key]);
  weekHours.set(settings.shareWhen.weekHours);
  for (const key of SHARE_WHEN_SWITCHES) field<HTMLInputElement>(`shareWhen.${key}`).checked = settings.shareWhen[key];
  sharePaused = settings.sharePaused;
}

const CAP_NUMBERS = [
  'maxResponseMB',
  'maxConcurrent',
  'rateMBps',
  'dailyGB',
  'monthlyGB',
] as const satisfies readonly (keyof ExitCapsSettings)[];
const SHARE_WHEN_SWITCHES = [
  'pauseOnBattery',
  'pauseOnMetered',
  'yieldToBrowsing',
] as const satisfies readonly (keyof Settings['shareWhen'])[];
const weekHours = weekHoursGrid(document.querySelector<HTMLElement>('#week-hours')!);
document.querySelector('#hours-all')!.addEventListener('click', () => weekHours.set([...EVERY_HOUR]));
document.querySelector('#hours-evenings')!.addEventListener('click', () => weekHours.set(NIGHTS_AND_WEEKENDS));
/** Paused is toggled from the popup; the form keeps whatever is stored. */
let sharePaused = false;

const QUEUE_NUMBERS = [
  'maxQueued',
  'perPeerConcurrency',
  'requestTimeoutMs',
  'attemptTimeoutMs',
  'stallTimeoutMs',
  'maxAttempts',
  'retryBaseMs',
  'retryCapMs',
  'agingMs',
] as const satisfies readonly (keyof QueueSettings)[];

function methodBoxes(): HTMLInputElement[] {
  return [...form.querySelectorAll<HTMLInputElement>('input[name="exitMethods"]')];
}

/** An empty or non-numeric field stays a string, so validation names it instead of guessing. */
function numberOrText(value: string): number | string {
  const trimmed = value.trim();
  return trimmed !== '' && Number.isFinite(Number(trimmed)) ? Number(trimmed) : trimmed;
}

function read(): unknown {
  return {
    signalingUrl: field<HTMLInputElement>('signalingUrl').value.trim(),
    signalingToken: field<HTMLInputElement>('signalingToken').value.trim(),
    relayOnly: field<HTMLInputElement>('relayOnly').checked,
    stunServers: field<HTMLInputElement>('stunServers')
      .value.split(/[\s,]+/)
      .filter(Boolean),
    lanesPerExit: numberOrText(field<HTMLInputElement>('lanesPerExit').value),
    autoLanes: field<HTMLInputElement>('autoLanes').checked,
    share: field<HTMLInputElement>('share').checked,
    shareWith: form.querySelector<HTMLInputElement>('input[name="shareWith"]:checked')?.value ?? 'everyone',
    preferCircles: field<HTMLInputElement>('preferCircles').checked,
    checkExitsPercent: numberOrText(field<HTMLInputElement>('checkExitsPercent').value),
    cacheMaxMB: numberOrText(field<HTMLInputElement>('cacheMaxMB').value),
    cacheFreshHours: numberOrText(field<HTMLInputElement>('cacheFreshHours').value),
    routedOrigins: field<HTMLTextAreaElement>('routedOrigins')
      .value.split('\n')
      .map((line) => line.trim())
      .filter(Boolean),
    privateAllowList: field<HTMLInputElement>('privateAllowList')
      .value.split(/[\s,]+/)
      .filter(Boolean),
    exitMethods: methodBoxes()
      .filter((box) => box.checked)
      .map((box) => box.value),
    exitPorts: field<HTMLInputElement>('exitPorts')
      .value.split(/[\s,]+/)
      .filter(Boolean)
      .map(numberOrText),
    exitResolver: field<HTMLInputElement>('exitResolver').value.trim(),
    sharePaused,
    exitCaps: Object.fromEntries(
      CAP_NUMBERS.map((key) => [key, numberOrText(field<HTMLInputElement>(`exitCaps.${key}`).value)]),
    ),
    shareWhen: {
      weekHours: weekHours.get(),
      ...Object.fromEntries(
        SHARE_WHEN_SWITCHES.map((key) => [key, field<HTMLInputElement>(`shareWhen.${key}`).checked]),
      ),
    },
    queue: {
      ...Object.fromEntries(
        QUEUE_NUMBERS.map((key) => [key, numberOrText(field<HTMLInputElement>(`queue.${key}`).value)]),
      ),
      hedging: field<HTMLInputElement>('queue.hedging').checked,
    },
  };
}

const siteAccess = new SiteAccessRequester();

/**
 * Saves, then names any site access the browser withholds: the settings stand (a person may grant
 * access later, from the popup or the browser's own extension settings) but they must know that
 * sharing is not offered and those sites' requests go out directly until then.
 */
async function save(
  settings: Settings,
  note: string,
  allowed: Promise<boolean> = Promise.resolve(true),
): Promise<void> {
  await browser.storage.local.set({ [SETTINGS_STORAGE_KEY]: settings });
  fill(settings);
  document.querySelector('#problems')!.textContent = '';
  document.querySelector('#saved')!.textContent = note;
  await allowed;
  const missing = await siteAccess.missingNow(patternsNeeded(settings));
  if (missing.length > 0)
    document.querySelector('#problems')!.textContent = t('accessDeclinedSettings', missing.join(', '));
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  const result = validateSettings(read());
  if (!result.ok) {
    document.querySelector('#problems')!.textContent = result.problems.join('\n');
    document.querySelector('#saved')!.textContent = '';
    return;
  }
  // Asked inside the click that saves, as the browser requires; never for what is already allowed.
  void save(result.settings, t('settingsSaved'), siteAccess.request(patternsNeeded(result.settings)));
});
document.querySelector('#reset')!.addEventListener('click', () => void save(DEFAULT_SETTINGS, t('settingsDefaults')));

// Exits this install caught altering answers are never used again; a person may forgive them here
// (signaling may still refuse to introduce one that enough others reported).
const showFlagged = (stored: unknown): void => {
  const count = parseFlaggedExits(stored).length;
  document.querySelector('#flagged-count')!.textContent = t('flaggedCount', String(count));
  document.querySelector<HTMLButtonElement>('#flagged-forget')!.disabled = count === 0;
};
void browser.storage.local
  .get(FLAGGED_EXITS_STORAGE_KEY)
  .then((stored) => showFlagged(stored[FLAGGED_EXITS_STORAGE_KEY]));
browser.storage.onChanged.addListener((changes, area) => {
  if (area === 'local' && changes[FLAGGED_EXITS_STORAGE_KEY]) showFlagged(changes[FLAGGED_EXITS_STORAGE_KEY].newValue);
});
document
  .querySelector('#flagged-forget')!
  .addEventListener('click', () => void browser.storage.local.remove(FLAGGED_EXITS_STORAGE_KEY));

// The routed cache lives in this extension's IndexedDB, which the browser's "clear browsing data"
// does not reach: the person empties it here (the background opens the same database).
const cacheStore = new IndexedDbCacheStore();
const showCacheSize = (): void =>
  void cacheStore.metas().then((metas) => {
    const bytes = metas.reduce((sum, meta) => sum + meta.size, 0);
    document.querySelector('#cache-size')!.textContent = t('cacheSize', [
      String(metas.length),
      (bytes / 1e6).toFixed(1),
    ]);
  });
showCacheSize();
document.querySelector('#cache-clear')!.addEventListener('click', () => void cacheStore.clear().then(showCacheSize));

// Export what is stored (not what is typed but unsaved), as a file a person can keep or share.
const EXPORT_NAME = 'peerlane-settings.json';
document.querySelector('#export')!.addEventListener('click', () => {
  void browser.storage.local.get(SETTINGS_STORAGE_KEY).then((stored) => {
    const json = `${JSON.stringify(parseSettings(stored[SETTINGS_STORAGE_KEY]), null, 2)}\n`;
    const link = document.createElement('a');
    link.href = URL.createObjectURL(new Blob([json], { type: 'application/json' }));
    link.download = EXPORT_NAME;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
    document.querySelector('#saved')!.textContent = t('settingsExported', EXPORT_NAME);
  });
});

// Import is as strict as the form: every problem is named and nothing is saved unless all is valid.
document.querySelector<HTMLInputElement>('#import')!.addEventListener('change', (event) => {
  const input = event.target as HTMLInputElement;
  const file = input.files?.[0];
  input.value = '';
  if (!file) return;
  void file.text().then((content) => {
    let candidate: unknown;
    try {
      candidate = JSON.parse(content);
    } catch (error) {
      document.querySelector('#problems')!.textContent = t('settingsImportUnreadable', [file.name, errorText(error)]);
      document.querySelector('#saved')!.textContent = '';
      return;
    }
    const result = validateSettings(candidate);
    if (!result.ok) {
      document.querySelector('#problems')!.textContent = [
        t('settingsImportProblems', file.name),
        ...result.problems,
      ].join('\n');
      document.querySelector('#saved')!.textContent = '';
      return;
    }
    void save(result.settings, t('settingsImported', file.name));
  });
});

localizePage();
void browser.storage.local
  .get(SETTINGS_STORAGE_KEY)
  .then((stored) => fill(parseSettings(stored[SETTINGS_STORAGE_KEY])));
startCirclesPanel(document.querySelector<HTMLElement>('#circles-card')!);
