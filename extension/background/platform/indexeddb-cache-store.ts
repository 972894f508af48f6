import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import type { CacheEntry, CacheEntryMeta, CacheStore } from '../../core/http/routed-cache';

/**
 * The routed cache's store: IndexedDB, in the extension's own origin, so it outlives the Chrome
 * service worker's stop and the browser's restart (both browsers' backgrounds have it). Bodies and
 * what eviction reads are kept apart: eviction and an exit's removal read the small records only.
 */
interface CacheSchema extends DBSchema {
  entries: { key: string; value: CacheEntry };
  metas: { key: string; value: CacheEntryMeta };
}

export const ROUTED_CACHE_DATABASE = 'peerlane-routed-cache';

export class IndexedDbCacheStore implements CacheStore {
  private database: Promise<IDBPDatabase<CacheSchema>> | null = null;

  constructor(private readonly name = ROUTED_CACHE_DATABASE) {}

  private open(): Promise<IDBPDatabase<CacheSchema>> {
    this.database ??= openDB<CacheSchema>(this.name, 1, {
      upgrade(database) {
        database.createObjectStore('entries', { keyPath: 'key' });
        database.createObjectStore('metas', { keyPath: 'key' });
      },
    });
    return this.database;
  }

  async get(key: string): Promise<CacheEntry | undefined> {
    return (await this.open()).get('entries', key);
  }

  async put(entry: CacheEntry): Promise<void> {
    const transaction = (await this.open()).transaction(['entries', 'metas'], 'readwrite');
    await Promise.all([
      transaction.objectStore('entries').put(entry),
      transaction
        .objectStore('metas')
        .put({ key: entry.key, size: entry.body.byteLength, usedAt: entry.usedAt, exit: entry.exit }),
      transaction.done,
    ]);
  }

  async touch(key: string, usedAt: number): Promise<void> {
    const transaction = (await this.open()).transaction('metas', 'readwrite');
    const meta = await transaction.store.get(key);
    if (meta) await transaction.store.put({ ...meta, usedAt });
    await transaction.done;
  }

  async delete(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    const transaction = (await this.open()).transaction(['entries', 'metas'], 'readwrite');
    await Promise.all([
      ...keys.flatMap((key) => [
        transaction.objectStore('entries').delete(key),
        transaction.objectStore('metas').delete(key),
      ]),
      transaction.done,
    ]);
  }

  async metas(): Promise<CacheEntryMeta[]> {
    return (await this.open()).getAll('metas');
  }

  async clear(): Promise<void> {
    const transaction = (await this.open()).transaction(['entries', 'metas'], 'readwrite');
    await Promise.all([
      transaction.objectStore('entries').clear(),
      transaction.objectStore('metas').clear(),
      transaction.done,
    ]);
  }
}
