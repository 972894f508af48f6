import type { RevocationList } from '../../../protocol/circle-proof';
import { siteAccessFor, type SiteAccess } from '../../core/access/site-access';
import {
  acceptRevocations,
  CIRCLES_STORAGE_KEY,
  circlesStateFor,
  EMPTY_CIRCLES,
  parseCircles,
  type CirclesStore,
} from '../../core/circles/circles';
import type { TransportConfig } from '../../core/channels/transport-channel';
import {
  FLAGGED_EXITS_STORAGE_KEY,
  parseFlaggedExits,
  withFlagged,
  type FlaggedExit,
} from '../../core/checks/exit-checks';
import type { ExitPolicyOptions } from '../../core/exit/policy';
import type { PauseReason } from '../../core/exit/share-when';
import type { QueueOptions } from '../../core/queue/request-queue';
import { DEFAULT_SETTINGS, parseSettings, SETTINGS_STORAGE_KEY, type Settings } from '../../core/settings';
import { Changes } from '../changes';
import type { BackgroundPlatform } from '../platform/platform';

/**
 * Configuration: the settings a person chose (storage.local, changed live from the popup and
 * options) and the site access the browser grants now, which a person can withdraw at any time.
 * Both change together: no listener ever sees new settings with the old access. Also the circles
 * this install owns and joined (`core/circles/`, written by the options page), which signaling is told,
 * and the exits it caught altering answers (`core/checks/`), which it never uses again.
 */
const CONDITION_WORDS: Record<Exclude<PauseReason, 'paused'>, string> = {
  schedule: 'outside its sharing hours',
  daily_quota: 'daily quota reached',
  monthly_quota: 'monthly quota reached',
  battery: 'on battery',
  metered: 'on a metered connection',
};

export class Configuration {
  settings: Settings = DEFAULT_SETTINGS;
  access: SiteAccess = { allSites: false, unroutable: [] };
  circles: CirclesStore = EMPTY_CIRCLES;
  flaggedExits: FlaggedExit[] = [];
  /** A condition of the sharer's life that pauses the exit now (background/sharing/share-conditions.ts). */
  private conditionPause: Exclude<PauseReason, 'paused'> | null = null;
  readonly changes = new Changes();
  readonly ready: Promise<void>;

  constructor(private readonly platform: BackgroundPlatform) {
    platform.onLocalChanged((key, value) => {
      if (key === SETTINGS_STORAGE_KEY) void this.ready.then(() => this.apply(parseSettings(value)));
      if (key === CIRCLES_STORAGE_KEY)
        void this.ready.then(() => {
          this.circles = parseCircles(value);
          this.changes.emit();
        });
      if (key === FLAGGED_EXITS_STORAGE_KEY)
        void this.ready.then(() => {
          this.flaggedExits = parseFlaggedExits(value);
          this.changes.emit();
        });
    });
    // A grant applies at once, no restart.
    platform.onPermissionsChanged((added) => void this.ready.then(() => this.accessChanged(added)));
    this.ready = platform.local
      .get([SETTINGS_STORAGE_KEY, CIRCLES_STORAGE_KEY, FLAGGED_EXITS_STORAGE_KEY])
      .then((stored) => {
        this.circles = parseCircles(stored[CIRCLES_STORAGE_KEY]);
        this.flaggedExits = parseFlaggedExits(stored[FLAGGED_EXITS_STORAGE_KEY]);
        return this.apply(parseSettings(stored[SETTINGS_STORAGE_KEY]), true);
      });
  }

  /** A revocation list signaling pushed: kept when its circle signed it and it is newer (then told to signaling at every registration). */
  async keepRevocations(list: RevocationList): Promise<void> {
    await this.ready;
    const stored = parseCircles((await this.platform.local.get([CIRCLES_STORAGE_KEY]))[CIRCLES_STORAGE_KEY]);
    const updated = await acceptRevocations(stored, list);
    if (updated) await this.platform.local.set({ [CIRCLES_STORAGE_KEY]: updated });
  }

  /**
   * An exit caught altering an answer: kept so it is never used again. The list is updated here at
   * once (a second catch before the write lands must not lose the first); listeners hear of it once,
   * from the storage listener.
   */
  async flagExit(flagged: FlaggedExit): Promise<void> {
    await this.ready;
    this.flaggedExits = withFlagged(this.flaggedExits, flagged);
    await this.platform.local.set({ [FLAGGED_EXITS_STORAGE_KEY]: this.flaggedExits });
  }

  isRouted(origin: string): boolean {
    return this.settings.routedOrigins.includes(origin);
  }

  /** Offering the connection: turned on and allowed to reach sites (an exit fetches anywhere). */
  get offering(): boolean {
    return this.settings.share && this.access.allSites;
  }

  /** Serving now: offering, not paused by the person nor by a condition (hours, quota, battery…). */
  get sharing(): boolean {
    return this.offering && !this.settings.sharePaused && this.conditionPause === null;
  }

  setConditionPause(reason: Exclude<PauseReason, 'paused'> | null): void {
    if (reason === this.conditionPause) return;
    this.conditionPause = reason;
    this.changes.emit();
  }

  /** Why this exit serves nothing now, in the words the requester's log shows; null while sharing. */
  get notSharingReason(): string | null {
    if (this.sharing) return null;
    if (!this.settings.share) return 'stopped sharing its connection';
    if (!this.access.allSites) return 'is not allowed to reach sites (its browser withdrew access)';
    if (this.settings.sharePaused || this.conditionPause === null) return 'paused sharing its connection';
    return `paused sharing its connection (${CONDITION_WORDS[this.conditionPause]})`;
  }

  queueOptions(): Partial<QueueOptions> {
    const { stallTimeoutMs: _readByTheRequester, ...options } = this.settings.queue;
    return options;
  }

  /** How long a routed body may go without a byte while the page reads it (core/http/resumable-response.ts). */
  bodyStallMs(): number {
    return this.settings.queue.stallTimeoutMs;
  }

  exitPolicy(): ExitPolicyOptions {
    return {
      privateAllowList: this.settings.privateAllowList,
      allowedMethods: this.settings.exitMethods,
      allowedPorts: this.settings.exitPorts,
      resolverUrl: this.settings.exitResolver,
    };
  }

  transportConfig(): TransportConfig {
    return {
      signalingUrl: this.settings.signalingUrl,
      signalingToken: this.settings.signalingToken,
      relayOnly: this.settings.relayOnly,
      stunServers: this.settings.stunServers,
      lanesPerExit: this.settings.lanesPerExit,
      autoLanes: this.settings.autoLanes,
      share: this.offering,
      // Paused: still connected, but signaling introduces no new requesters.
      exitCapacity: this.sharing ? this.settings.exitCaps.maxConcurrent : 0,
      wantExits: this.settings.routedOrigins.length > 0,
      circles: circlesStateFor(this.circles, this.settings.shareWith),
      preferCircles: this.settings.preferCircles,
      avoidExits: this.flaggedExits.map((flagged) => flagged.peerId),
    };
  }

  private async apply(settings: Settings, first = false): Promise<void> {
    const routedChanged = settings.routedOrigins.join('\n') !== this.settings.routedOrigins.join('\n');
    const access = await this.readAccess(settings.routedOrigins);
    this.settings = settings;
    this.access = access;
    if (routedChanged || first) await this.syncScripts();
    this.changes.emit();
  }

  private async accessChanged(added: boolean): Promise<void> {
    this.access = await this.readAccess(this.settings.routedOrigins);
    // Firefox injects registered scripts only where allowed; registering again after a grant is cheap and sure.
    if (added) await this.syncScripts();
    this.changes.emit();
  }

  private syncScripts(): Promise<void> {
    return this.platform
      .syncRoutedScripts(this.settings.routedOrigins)
      .catch((error: unknown) => this.platform.log.error('[peerlane] content scripts', error));
  }

  private readAccess(routedOrigins: readonly string[]): Promise<SiteAccess> {
    return siteAccessFor(routedOrigins, (pattern) => this.platform.hasOrigin(pattern)).catch((error: unknown) => {
      this.platform.log.error('[peerlane] permissions', error);
      return { allSites: false, unroutable: [...routedOrigins] };
    });
  }
}
