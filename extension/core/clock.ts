/** Time as an injected dependency, so the queue and exit caps can be tested with a fake clock. */

/** What setTimeout returns: a number in browsers, a Timeout object in Node. */
export type TimerHandle = object | number;

export interface Clock {
  now(): number;
  setTimeout(callback: () => void, ms: number): TimerHandle;
  /** Like the platform's: clearing nothing (undefined) is allowed. */
  clearTimeout(handle: TimerHandle | undefined): void;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof globalThis.setTimeout>),
};
