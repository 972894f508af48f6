/**
 * Matches webRequest events to the exit's own fetches by URL, oldest first: `wait` registers a
 * fetch about to start, `settle` answers the oldest waiter for a URL. A waiter whose fetch is
 * aborted, or that hears nothing in time, gets `fallback` (the checks then fail closed).
 */
export class UrlWaiters<T> {
  private readonly waiting = new Map<string, ((value: T) => void)[]>();

  constructor(private readonly fallback: T) {}

  settle(url: string, value: T): void {
    const queue = this.waiting.get(url);
    const next = queue?.shift();
    if (queue && queue.length === 0) this.waiting.delete(url);
    next?.(value);
  }

  /** Registers now; the returned function starts the timeout and yields the value. */
  wait(url: string, signal: AbortSignal, timeoutMs: number): () => Promise<T> {
    let resolveValue: (value: T) => void = () => undefined;
    const value = new Promise<T>((resolve) => {
      resolveValue = resolve;
    });
    const queue = this.waiting.get(url) ?? [];
    queue.push(resolveValue);
    this.waiting.set(url, queue);
    const forget = (): void => {
      const list = this.waiting.get(url);
      const index = list?.indexOf(resolveValue) ?? -1;
      if (list && index >= 0) list.splice(index, 1);
      if (list && list.length === 0) this.waiting.delete(url);
      resolveValue(this.fallback);
    };
    signal.addEventListener('abort', forget, { once: true });
    return () => {
      const timer = setTimeout(forget, timeoutMs);
      return value.finally(() => clearTimeout(timer));
    };
  }
}
