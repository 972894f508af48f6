/**
 * Matches webRequest events to the exit's own fetches. `wait` registers a fetch about to start;
 * `bind` ties the oldest unbound waiter for a URL to the request id Chrome/Firefox gave that fetch
 * (from `onBeforeRequest`, which fires in the order fetches start); `settle` then answers exactly
 * that waiter. An event whose request was never bound falls back to the oldest unbound waiter for
 * its URL. Binding matters when two fetches of one URL overlap: an aborted one's error event must not
 * answer the other (it once made a live fetch fail its address check). A waiter whose fetch is
 * aborted, or that hears nothing in time, gets `fallback` (the checks then fail closed).
 */
interface Waiter<T> {
  resolve(value: T): void;
  requestId: string | null;
}

export class UrlWaiters<T> {
  private readonly waiting = new Map<string, Waiter<T>[]>();
  private readonly byRequest = new Map<string, { url: string; waiter: Waiter<T> }>();
  /** Ids of bound waiters already answered or forgotten: their late events answer no one. */
  private readonly finished = new Set<string>();

  constructor(private readonly fallback: T) {}

  bind(url: string, requestId: string): void {
    const waiter = this.waiting.get(url)?.find((each) => each.requestId === null);
    if (!waiter) return;
    waiter.requestId = requestId;
    this.byRequest.set(requestId, { url, waiter });
  }

  settle(url: string, value: T, requestId?: string): void {
    const bound = requestId === undefined ? undefined : this.byRequest.get(requestId);
    if (requestId !== undefined && !bound && this.finished.has(requestId)) return;
    const waiter = bound?.waiter ?? this.waiting.get(url)?.find((each) => each.requestId === null);
    if (!waiter) return;
    this.remove(bound?.url ?? url, waiter);
    waiter.resolve(value);
  }

  /** Registers now; the returned function starts the timeout and yields the value. */
  wait(url: string, signal: AbortSignal, timeoutMs: number): () => Promise<T> {
    let resolveValue: (value: T) => void = () => undefined;
    const value = new Promise<T>((resolve) => {
      resolveValue = resolve;
    });
    const waiter: Waiter<T> = { resolve: (result) => resolveValue(result), requestId: null };
    const queue = this.waiting.get(url) ?? [];
    queue.push(waiter);
    this.waiting.set(url, queue);
    const forget = (): void => {
      this.remove(url, waiter);
      resolveValue(this.fallback);
    };
    signal.addEventListener('abort', forget, { once: true });
    return () => {
      const timer = setTimeout(forget, timeoutMs);
      return value.finally(() => clearTimeout(timer));
    };
  }

  private remove(url: string, waiter: Waiter<T>): void {
    const list = this.waiting.get(url);
    const index = list?.indexOf(waiter) ?? -1;
    if (list && index >= 0) list.splice(index, 1);
    if (list && list.length === 0) this.waiting.delete(url);
    if (waiter.requestId !== null) {
      this.byRequest.delete(waiter.requestId);
      this.finished.add(waiter.requestId);
      // Bounded: only recent ids can still have events in flight.
      if (this.finished.size > 1024) this.finished.delete(this.finished.values().next().value!);
    }
  }
}
