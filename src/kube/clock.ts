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

/** The longest delay Node's timers hold: 2^31 - 1 ms, about 24.8 days. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The wall clock, backed by the global timers at call time (so
 * `vi.useFakeTimers()` controls it too). Its timers are unref'd: a backoff or a
 * delayed requeue must never be what keeps the process alive; the servers and
 * sockets of a running operator do that.
 */
export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    // Node fires a longer timer after 1 ms (with a TimeoutOverflowWarning), so
    // a far-off deadline, e.g. from a Lease with an absurd duration, would
    // spin. Capped, such a timer fires early, and every caller re-checks the
    // time when it fires.
    const timer = globalThis.setTimeout(fn, Math.min(Math.max(0, ms), MAX_TIMER_MS));
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
