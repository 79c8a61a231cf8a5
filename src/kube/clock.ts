/**
 * An opaque handle for a pending timer; only the clock that created it can
 * cancel it.
 */
export type Timer = object;

/**
 * The source of time and timers for everything that waits, so that tests can
 * drive time instead of sleeping.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `fn` once after `ms` milliseconds unless cancelled first. */
  setTimeout(fn: () => void, ms: number): Timer;
  /** Cancels a pending timer; a no-op for a timer that already fired. */
  clearTimeout(timer: Timer): void;
}

/**
 * The wall clock, backed by the global timers at call time (so
 * `vi.useFakeTimers()` controls it too). Its timers are unref'd: a backoff or a
 * delayed requeue must never be what keeps the process alive; the servers and
 * sockets of a running operator do that.
 */
export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const timer = globalThis.setTimeout(fn, Math.max(0, ms));
    timer.unref();
    return timer;
  },
  clearTimeout: (timer) => {
    globalThis.clearTimeout(timer as ReturnType<typeof globalThis.setTimeout>);
  },
};

/**
 * Resolves after `ms` on `clock`, or as soon as `signal` aborts (early, never
 * rejecting), so that a loop can sleep through a backoff and still stop
 * promptly; callers check the signal afterwards.
 */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const onAbort = (): void => {
      clock.clearTimeout(timer);
      resolve();
    };
    const timer = clock.setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
