import { realClock } from "./clock.ts";
import type { Clock } from "./clock.ts";

export interface BackoffOptions {
  /** The first base delay. Default 800 ms (client-go's reflector). */
  initialMs?: number;
  /** The cap on the base delay. Default 30 s. */
  maxMs?: number;
  /** Growth per consecutive failure. Default 2. */
  factor?: number;
  /**
   * Each delay is `base * (1 + jitter * random())`. Default 1.0, as in
   * client-go: restarts of many caches after one API server outage spread
   * over [base, 2 * base) instead of arriving together.
   */
  jitter?: number;
  /**
   * When no backoff was asked for during this long, the sequence starts over
   * at `initialMs`: the thing being retried has been healthy. Default 2 min.
   */
  resetAfterMs?: number;
  clock?: Clock;
  /** A source of uniform numbers in [0, 1); tests make it deterministic. */
  random?: () => number;
}

/**
 * Jittered exponential backoff for restarting a failing list or watch, with
 * client-go reflector semantics (`NewExponentialBackoffManager(800ms, 30s,
 * 2min, 2.0, 1.0)`): each `next()` returns the delay before the next attempt,
 * growing from `initialMs` to `maxMs` (plus jitter), and starting over once
 * `resetAfterMs` passed since the previous `next()`.
 */
export class Backoff {
  readonly #initialMs: number;
  readonly #maxMs: number;
  readonly #factor: number;
  readonly #jitter: number;
  readonly #resetAfterMs: number;
  readonly #clock: Clock;
  readonly #random: () => number;
  #baseMs: number;
  #lastAt: number | undefined;

  constructor(options: BackoffOptions = {}) {
    this.#initialMs = options.initialMs ?? 800;
    this.#maxMs = options.maxMs ?? 30_000;
    this.#factor = options.factor ?? 2;
    this.#jitter = options.jitter ?? 1;
    this.#resetAfterMs = options.resetAfterMs ?? 120_000;
    this.#clock = options.clock ?? realClock;
    this.#random = options.random ?? Math.random;
    this.#baseMs = this.#initialMs;
  }

  /** Returns the delay before the next attempt and advances the sequence. */
  next(): number {
    const now = this.#clock.now();
    if (this.#lastAt !== undefined && now - this.#lastAt > this.#resetAfterMs) {
      this.#baseMs = this.#initialMs;
    }
    this.#lastAt = now;
    const base = this.#baseMs;
    this.#baseMs = Math.min(this.#maxMs, base * this.#factor);
    return base * (1 + this.#jitter * this.#random());
  }

  /** Starts the sequence over, as after a proven success. */
  reset(): void {
    this.#baseMs = this.#initialMs;
    this.#lastAt = undefined;
  }
}

export interface ItemRateLimiterOptions {
  /** The delay after the first failure. Default 5 ms (controller-runtime). */
  baseMs?: number;
  /**
   * The cap. Default 1000 s, as controller-runtime; a domain whose failures
   * are usually transient may prefer a few minutes.
   */
  maxMs?: number;
}

/**
 * Per-item exponential backoff (client-go `ItemExponentialFailureRateLimiter`):
 * the n-th consecutive `when(item)` returns `baseMs * 2^(n-1)`, capped at
 * `maxMs`, until `forget(item)` clears that item's history.
 */
export class ItemExponentialRateLimiter {
  readonly #baseMs: number;
  readonly #maxMs: number;
  readonly #failures = new Map<string, number>();

  constructor(options: ItemRateLimiterOptions = {}) {
    this.#baseMs = options.baseMs ?? 5;
    this.#maxMs = options.maxMs ?? 1_000_000;
  }

  /** Records a failure of `item` and returns how long to wait before retrying it. */
  when(item: string): number {
    const failures = this.#failures.get(item) ?? 0;
    this.#failures.set(item, failures + 1);
    // 2^failures overflows to Infinity long after it passed any sane cap.
    return Math.min(this.#maxMs, this.#baseMs * 2 ** failures);
  }

  /** How many failures of `item` were recorded since it was last forgotten. */
  numRequeues(item: string): number {
    return this.#failures.get(item) ?? 0;
  }

  /** Clears `item`'s failure history, so that its next failure starts at `baseMs`. */
  forget(item: string): void {
    this.#failures.delete(item);
  }
}
