/**
 * Waiting requests in three FIFO lanes (document > interactive > background) plus a lane for admitted
 * requests coming back for a retry. Aging bounds starvation: once the head of any lane has waited
 * `agingMs`, aged heads are served oldest first, whatever their lane. Dispatch and enqueue are O(1);
 * a cancelled entry is dropped lazily and the lanes are compacted when the dead outnumber the living.
 */
export const PRIORITIES = ['document', 'interactive', 'background'] as const;
export type Priority = (typeof PRIORITIES)[number];

export interface LaneEntry {
  readonly priority: Priority;
  /** When the entry (re-)entered a lane. */
  enqueuedAt: number;
  /** False once it was taken out or cancelled: skipped when it reaches the head. */
  waiting: boolean;
  /** Came back for a retry: served before new work, since it was admitted earlier. */
  inRetryLane: boolean;
}

class Fifo<T extends LaneEntry> {
  private items: T[] = [];
  private head = 0;

  push(item: T): void {
    this.items.push(item);
  }

  /** First entry still waiting, dropping dead ones on the way. */
  peek(): T | undefined {
    while (this.head < this.items.length) {
      const item = this.items[this.head]!;
      if (item.waiting) return item;
      this.head += 1;
    }
    this.reset();
    return undefined;
  }

  shift(): T | undefined {
    const item = this.peek();
    if (item) this.head += 1;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  compact(): void {
    this.items = this.items.slice(this.head).filter((item) => item.waiting);
    this.head = 0;
  }

  /** Drops the consumed prefix; an already empty lane allocates nothing (peeked on every dispatch). */
  private reset(): void {
    if (this.items.length === 0) return;
    this.items = [];
    this.head = 0;
  }

  get storedCount(): number {
    return this.items.length - this.head;
  }
}

export class PriorityLanes<T extends LaneEntry> {
  private readonly retry = new Fifo<T>();
  private readonly lanes: Record<Priority, Fifo<T>> = {
    document: new Fifo(),
    interactive: new Fifo(),
    background: new Fifo(),
  };
  private readonly counts: Record<Priority | 'retry', number> = {
    document: 0,
    interactive: 0,
    background: 0,
    retry: 0,
  };
  private dead = 0;

  constructor(public agingMs: number) {}

  get size(): number {
    return this.counts.document + this.counts.interactive + this.counts.background + this.counts.retry;
  }

  depth(): Record<Priority | 'retry', number> {
    return { ...this.counts };
  }

  /** Entries held in memory, waiting or dead: stays within a constant factor of `size`. */
  get stored(): number {
    return this.retry.storedCount + PRIORITIES.reduce((sum, priority) => sum + this.lanes[priority].storedCount, 0);
  }

  push(entry: T, now: number, asRetry = false): void {
    entry.waiting = true;
    entry.enqueuedAt = now;
    (asRetry ? this.retry : this.lanes[entry.priority]).push(entry);
    this.counts[asRetry ? 'retry' : entry.priority] += 1;
    entry.inRetryLane = asRetry;
  }

  /** Takes a waiting entry out (cancelled or timed out) without touching the others. */
  remove(entry: T): void {
    if (!entry.waiting) return;
    entry.waiting = false;
    this.counts[this.laneOf(entry)] -= 1;
    this.dead += 1;
    if (this.dead > 64 && this.dead > this.size) {
      this.retry.compact();
      for (const priority of PRIORITIES) this.lanes[priority].compact();
      this.dead = 0;
    }
  }

  /** The entry to serve next, without taking it. */
  peek(now: number): T | undefined {
    const retried = this.counts.retry > 0 ? this.retry.peek() : undefined;
    if (retried) return retried;
    let oldestAged: T | undefined;
    let first: T | undefined;
    for (const priority of PRIORITIES) {
      if (this.counts[priority] === 0) continue;
      const head = this.lanes[priority].peek();
      if (!head) continue;
      first ??= head;
      if (now - head.enqueuedAt >= this.agingMs && (!oldestAged || head.enqueuedAt < oldestAged.enqueuedAt))
        oldestAged = head;
    }
    return oldestAged ?? first;
  }

  /** Takes the entry `peek` returned. */
  take(entry: T): void {
    const lane = this.laneOf(entry);
    const taken = lane === 'retry' ? this.retry.shift() : this.lanes[lane].shift();
    if (taken !== entry) throw new Error('priority lanes: take() must follow peek()');
    entry.waiting = false;
    this.counts[lane] -= 1;
  }

  private laneOf(entry: T): Priority | 'retry' {
    return entry.inRetryLane ? 'retry' : entry.priority;
  }
}
