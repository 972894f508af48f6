import { systemClock } from '../../extension/core/clock';
import type { SenderFacts } from '../../extension/core/channels/channel-table';
import type {
  BackgroundPlatform,
  PlatformPort,
  Repeating,
  StorageArea,
} from '../../extension/background/platform/platform';
import { SETTINGS_STORAGE_KEY, type Settings } from '../../extension/core/settings';
import 'fake-indexeddb/auto';
import { IndexedDbCacheStore } from '../../extension/background/platform/indexeddb-cache-store';

let fakePlatforms = 0;

/**
 * The background's platform in Node, for composing the real background in unit tests: storage in
 * maps, permissions as a set of granted patterns, Ports as pairs whose messages cross as structured
 * clones (as Chrome with `message_serialization: structured_clone` and Firefox do).
 */
export const TEST_EXTENSION_ORIGIN = 'chrome-extension://peerlanetestextensionid';

class MapArea implements StorageArea {
  readonly data = new Map<string, unknown>();
  async get(keys: readonly string[]): Promise<Record<string, unknown>> {
    return Object.fromEntries(
      keys.filter((key) => this.data.has(key)).map((key) => [key, structuredClone(this.data.get(key))]),
    );
  }
  async set(items: Record<string, unknown>): Promise<void> {
    for (const [key, value] of Object.entries(items)) this.data.set(key, structuredClone(value));
  }
}

/** The page's end of a Port: what the background sent it, and whether the background hung up. */
export class TestPort {
  readonly received: unknown[] = [];
  disconnectedByBackground = false;
  private readonly toBackground: ((message: unknown) => void)[] = [];
  private readonly backgroundDisconnect: (() => void)[] = [];
  private waiters: (() => void)[] = [];
  private open = true;

  /** The background's end. */
  readonly platformPort: PlatformPort;

  constructor(
    readonly name: string,
    readonly sender: SenderFacts,
  ) {
    this.platformPort = this.backgroundEnd();
  }

  private backgroundEnd(): PlatformPort {
    return {
      name: this.name,
      sender: this.sender,
      postMessage: (message) => {
        if (!this.open) throw new Error('Attempting to use a disconnected port object');
        this.received.push(structuredClone(message));
        this.wake();
      },
      disconnect: () => {
        this.open = false;
        this.disconnectedByBackground = true;
        this.wake();
      },
      onMessage: (listener) => this.toBackground.push(listener),
      onDisconnect: (listener) => this.backgroundDisconnect.push(listener),
    };
  }

  post(message: unknown): void {
    const copy = structuredClone(message);
    for (const listener of this.toBackground) listener(copy);
  }

  disconnect(): void {
    this.open = false;
    for (const listener of this.backgroundDisconnect) listener();
  }

  /** Waits (bounded) until `done` holds over what arrived. */
  async until(done: (port: TestPort) => boolean, timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done(this)) {
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(
          `port ${this.name}: condition not met within ${timeoutMs} ms; received ${JSON.stringify(this.received.map((m) => (m as { type?: string }).type))}`,
        );
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  private wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }
}

export class FakePlatform implements BackgroundPlatform {
  readonly clock = systemClock;
  readonly now = (): number => Date.now();
  readonly local = new MapArea();
  readonly session = new MapArea();
  readonly extensionOrigin = TEST_EXTENSION_ORIGIN;
  readonly granted = new Set<string>(['<all_urls>']);
  /** The real store on fake-indexeddb, one database per platform (tests never share a cache). */
  readonly cacheStore = new IndexedDbCacheStore(`peerlane-routed-cache-${(fakePlatforms += 1)}`);
  readonly syncedScripts: string[][] = [];
  readonly warnings: unknown[][] = [];
  readonly log = {
    warn: (...args: unknown[]) => void this.warnings.push(args),
    error: (...args: unknown[]) => void this.warnings.push(args),
  };
  private readonly repeating = new Set<ReturnType<typeof setInterval>>();
  private readonly localListeners: ((key: string, value: unknown) => void)[] = [];
  private readonly permissionListeners: ((added: boolean) => void)[] = [];
  private readonly connectListeners: ((port: PlatformPort) => void)[] = [];

  constructor(settings: Partial<Settings> = {}) {
    this.local.data.set(SETTINGS_STORAGE_KEY, settings);
  }

  every(ms: number, callback: () => void): Repeating {
    const timer = setInterval(callback, ms);
    this.repeating.add(timer);
    return {
      cancel: () => {
        clearInterval(timer);
        this.repeating.delete(timer);
      },
    };
  }

  onLocalChanged(listener: (key: string, value: unknown) => void): void {
    this.localListeners.push(listener);
  }

  async hasOrigin(pattern: string): Promise<boolean> {
    return this.granted.has(pattern) || this.granted.has('<all_urls>');
  }

  onPermissionsChanged(listener: (added: boolean) => void): void {
    this.permissionListeners.push(listener);
  }

  onConnect(listener: (port: PlatformPort) => void): void {
    this.connectListeners.push(listener);
  }

  /** The person's own tabs: tests call `browse()`. */
  private readonly browsingListeners: (() => void)[] = [];
  onOwnBrowsing(listener: () => void): void {
    this.browsingListeners.push(listener);
  }

  browse(): void {
    for (const listener of this.browsingListeners) listener();
  }

  async syncRoutedScripts(origins: readonly string[]): Promise<void> {
    this.syncedScripts.push([...origins]);
  }

  /** A context connects, as `runtime.connect({ name })` from `sender` would. */
  connect(name: string, sender: SenderFacts): TestPort {
    const port = new TestPort(name, sender);
    for (const listener of this.connectListeners) listener(port.platformPort);
    return port;
  }

  /** Writes settings as the popup or options page would; listeners hear it as from storage.onChanged. */
  async setSettings(change: Partial<Settings>): Promise<void> {
    const next = { ...(this.local.data.get(SETTINGS_STORAGE_KEY) as object), ...change };
    this.local.data.set(SETTINGS_STORAGE_KEY, next);
    for (const listener of this.localListeners) listener(SETTINGS_STORAGE_KEY, structuredClone(next));
  }

  dispose(): void {
    for (const timer of this.repeating) clearInterval(timer);
    this.repeating.clear();
  }
}
