import type { Clock } from '../../core/clock';
import type { CacheStore } from '../../core/http/routed-cache';
import type { SenderFacts } from '../../core/channels/channel-table';

/**
 * What the background needs from the browser, and nothing more. The services take this instead of
 * touching `browser.*`, so a Node test composes the whole background with fakes
 * (`test/helpers/fake-platform.ts`) and the real one (`webextension-platform.ts`) stays a thin adapter.
 */
export interface StorageArea {
  get(keys: readonly string[]): Promise<Record<string, unknown>>;
  set(items: Record<string, unknown>): Promise<void>;
}

/** A runtime Port as the background sees it before the channel table has judged it. */
export interface PlatformPort {
  readonly name: string;
  readonly sender: SenderFacts;
  /** Throws once the other side is gone. */
  postMessage(message: unknown): void;
  disconnect(): void;
  onMessage(listener: (message: unknown) => void): void;
  onDisconnect(listener: () => void): void;
}

export interface Repeating {
  cancel(): void;
}

export interface BackgroundPlatform {
  clock: Clock;
  /** Wall-clock epoch ms (log entries, timeline, "started at"). */
  now: () => number;
  /** Runs `callback` every `ms` while this background lives (an idle Chrome worker stops, and so do they). */
  every(ms: number, callback: () => void): Repeating;
  local: StorageArea;
  /** Survives a service-worker restart, not a browser restart; null where the browser has none. */
  session: StorageArea | null;
  onLocalChanged(listener: (key: string, newValue: unknown) => void): void;
  /** Whether the browser lets us reach this match pattern now. */
  hasOrigin(pattern: string): Promise<boolean>;
  /** A grant or a withdrawal, however made (popup, about:addons, Chrome's site access menu). */
  onPermissionsChanged(listener: (added: boolean) => void): void;
  onConnect(listener: (port: PlatformPort) => void): void;
  /** A request of this browser's own tabs (not the extension's own fetches): the sharer is browsing. */
  onOwnBrowsing(listener: () => void): void;
  /** `chrome-extension://<id>` or `moz-extension://<uuid>`, no trailing slash. */
  extensionOrigin: string;
  /** Where the routed cache keeps its answers (IndexedDB in both browsers). */
  cacheStore: CacheStore;
  /** Registers the page hook and bridge on exactly these routed origins. */
  syncRoutedScripts(origins: readonly string[]): Promise<void>;
  log: Pick<Console, 'warn' | 'error'>;
}
