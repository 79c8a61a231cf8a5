import { AsyncLocalStorage } from "node:async_hooks";

// The client-side rate limit of podium's API requests (client-go's
// --kube-api-qps and --kube-api-burst), with one lane ahead of the rest for
// the writes of a fail-over, so that a fail-over never waits behind a storm
// of status writes or renewals.

/**
 * A token bucket: `qps` tokens a second, at most `burst` saved up. A
 * reservation takes a token now and says how long to wait for it; tokens
 * can go negative, which is the queue of callers waiting. Why a limit: a
 * burst of reconciles (a cold start over thousands of groups) must not flood
 * the API server, as client-go's default limiter ensures for Go controllers.
 */
export class TokenBucket {
  readonly #qps: number;
  readonly #burst: number;
  #tokens: number;
  #last: number;
  readonly #now: () => number;

  constructor(qps: number, burst: number, now: () => number = () => performance.now()) {
    this.#qps = qps;
    this.#burst = Math.max(1, burst);
    this.#tokens = this.#burst;
    this.#now = now;
    this.#last = now();
  }

  /** Milliseconds to wait before the next request may go; takes the token. */
  reserve(): number {
    if (this.#qps <= 0) return 0;
    const now = this.#now();
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#last) * this.#qps) / 1000);
    this.#last = now;
    this.#tokens -= 1;
    return this.#tokens >= 0 ? 0 : (-this.#tokens * 1000) / this.#qps;
  }
}

/**
 * The API requests' limiter: one bucket for every request, and for urgent
 * ones (a reconcile acting on a detected change: a fail-over) a second bucket
 * of the same size that they wait on instead. An urgent request still takes
 * its token from the shared bucket, so the others wait that much longer and
 * the sustained rate stays about qps; in a mass fail-over (a node with
 * hundreds of leaders dies) the urgent requests are limited by their own
 * bucket.
 */
export class RequestLimiter {
  readonly #all: TokenBucket;
  readonly #urgent: TokenBucket;

  constructor(qps: number, burst: number, now: () => number = () => performance.now()) {
    this.#all = new TokenBucket(qps, burst, now);
    this.#urgent = new TokenBucket(qps, burst, now);
  }

  /** Milliseconds to wait before the request may go; `urgent` goes ahead of the queue. */
  reserve(urgent: boolean): number {
    const shared = this.#all.reserve();
    return urgent ? this.#urgent.reserve() : shared;
  }

  /**
   * Resolves when the API request about to be sent may go, by the urgency of
   * the code running now ({@link isUrgent}); rejects with the signal's reason
   * when it aborts first. An ordinary request that turns urgent while it
   * waits ({@link reconsiderUrgency}) waits from then on only for the urgent
   * bucket, having already taken its shared token.
   */
  async waitTurn(signal: AbortSignal | undefined): Promise<void> {
    signal?.throwIfAborted();
    const test = urgency.getStore();
    const urgent = test?.() === true;
    const wait = this.reserve(urgent);
    if (wait <= 0) return;
    await new Promise<void>((resolve, reject) => {
      const end = (): void => {
        clearTimeout(timer);
        sleepers.delete(sleeper);
        signal?.removeEventListener("abort", onAbort);
      };
      const go = (): void => {
        end();
        resolve();
      };
      const onAbort = (): void => {
        end();
        reject(signal?.reason as Error);
      };
      let timer = setTimeout(go, wait);
      const sleeper: Sleeper = {
        promote: () => {
          if (!test?.()) return;
          sleepers.delete(sleeper);
          clearTimeout(timer);
          timer = setTimeout(go, Math.max(0, this.#urgent.reserve()));
        },
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      // Only a conditional urgency can change while the request waits.
      if (!urgent && test !== undefined) sleepers.add(sleeper);
    });
  }
}

/** An ordinary request waiting for its turn that may turn urgent. */
interface Sleeper {
  /** Moves the request to the urgent lane if its urgency holds now. */
  promote: () => void;
}

const sleepers = new Set<Sleeper>();

/**
 * Asks every ordinary request waiting for its turn whether it is urgent now:
 * called when a change is detected for a group, so that a reconcile or
 * renewal of that group already waiting for a token (which the group's
 * fail-over must wait for) goes ahead at once rather than after its wait.
 */
export function reconsiderUrgency(): void {
  // A promoted sleeper leaves the set; deleting the entry being visited is safe.
  for (const sleeper of sleepers) sleeper.promote();
}

/** Whether the requests of the code running now are urgent; asked at each request. */
type Urgency = () => boolean;

const urgency = new AsyncLocalStorage<Urgency>();
const always: Urgency = () => true;

/** Runs `fn` so that the API requests it makes are urgent ({@link isUrgent}). */
export function runUrgent<T>(fn: () => Promise<T>): Promise<T> {
  return urgency.run(always, fn);
}

/**
 * Runs `fn` so that each API request it makes is urgent when `urgent()` says
 * so at the time of the request: work that was ordinary when it began (a
 * resync's reconcile, a renewal) and that a fail-over of the same group now
 * waits for sends its remaining requests ahead of the queue.
 */
export function runUrgentWhile<T>(urgent: () => boolean, fn: () => Promise<T>): Promise<T> {
  return urgency.run(urgent, fn);
}

/** Whether the code running now was started by {@link runUrgent}, or {@link runUrgentWhile} whose test holds now. */
export function isUrgent(): boolean {
  return urgency.getStore()?.() === true;
}
