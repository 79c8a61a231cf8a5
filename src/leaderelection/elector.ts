import { sleep } from "../kube/clock.ts";
import type { Clock } from "../kube/clock.ts";
import { LeaseLockError } from "./lease-lock.ts";
import type { LeaderElectionRecord, LeaseLock, LeaseSnapshot } from "./lease-lock.ts";

/**
 * The acquire loop sleeps between `retryPeriod` and `retryPeriod × (1 +
 * JITTER_FACTOR)`, as client-go's `wait.JitterUntil(retryPeriod, 1.2)` does,
 * so that candidates started together do not poll in lockstep.
 */
export const JITTER_FACTOR = 1.2;

/**
 * The source of time and timers for everything the elector waits on, so that
 * tests drive time instead of sleeping: podium's one `Clock` interface.
 */
export type LeaderElectionClock = Clock;

/**
 * The wall clock, through the global timers looked up at call time (so
 * `vi.useFakeTimers()` controls it). Its timers are deliberately not unref'd:
 * a Node app whose only activity is waiting to become leader must stay alive.
 */
export const systemClock: LeaderElectionClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, Math.max(0, ms)),
  clearTimeout: (timer) => {
    globalThis.clearTimeout(timer as ReturnType<typeof globalThis.setTimeout>);
  },
};

/** A pino-compatible logger (a pino `Logger` fits); the elector logs nothing without one. */
export interface LeaderElectionLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/**
 * Where the elector reports what client-go exports as
 * `leader_election_master_status` and `leader_election_slowpath_total`.
 * `prometheusMetrics(registry)` (in `./prometheus.ts`) is one backed by
 * prom-client; the elector itself imports no metrics library, so an app that
 * does not want metrics does not install one.
 */
export interface LeaderElectionMetrics {
  /** Whether the elector named `name` leads now; called with false at construction. */
  leading(name: string, leading: boolean): void;
  /** The optimistic renewal of `name` failed and fell back to a read. */
  slowpath(name: string): void;
}

/** What the elector tells its owner. */
export interface LeaderCallbacks {
  /**
   * Called once when this elector starts leading. `signal` aborts the moment
   * leadership is lost or the run is cancelled: every write guarded by
   * leadership must check it (invariant 8 of the design: a replica that is no
   * longer sure it leads stops writing at once). If it returns a promise, the
   * elector waits for it to settle before releasing the Lease on cancel.
   */
  onStartedLeading(signal: AbortSignal): unknown;
  /** Called exactly once when `run` ends, whether or not this elector ever led (as client-go does). */
  onStoppedLeading(): void;
  /** Called when the observed holder changes, including to "" (released). */
  onNewLeader?(identity: string): void;
}

/** Configuration of a `LeaderElector`; durations in milliseconds, as client-go's `LeaderElectionConfig`. */
export interface LeaderElectorOptions {
  lock: LeaseLock;
  /** This candidate's identity, written as `holderIdentity`; must be unique among candidates. */
  identity: string;
  /**
   * How long a non-leader waits, from its own last observation of a change to
   * the record, before taking over; also written to `leaseDurationSeconds`, so
   * it must be a whole number of seconds.
   */
  leaseDurationMs: number;
  /** How long the leader keeps trying to renew, from the start of its last successful renewal, before it stops leading. */
  renewDeadlineMs: number;
  /** The interval between attempts to acquire or renew. */
  retryPeriodMs: number;
  /**
   * Release the Lease (holder "") when `run`'s signal aborts while leading, so
   * that another candidate takes over on its next poll instead of after a full
   * lease duration. Only safe if the guarded work has stopped: the elector waits
   * for `onStartedLeading`'s promise, if it returned one.
   */
  releaseOnCancel?: boolean;
  callbacks: LeaderCallbacks;
  /** The `name` label of the metrics; defaults to `lock.describe()`. */
  name?: string;
  /** Receives leadership and slow-path reports (`prometheusMetrics(registry)` for prom-client); none without it. */
  metrics?: LeaderElectionMetrics;
  /** Timeout of each request to the lock; defaults to min(renewDeadlineMs / 2, 5000), as controller-runtime caps it. */
  requestTimeoutMs?: number;
  clock?: LeaderElectionClock;
  /** A uniform random number in [0, 1), for the jitter; defaults to `Math.random`. */
  random?: () => number;
  logger?: LeaderElectionLogger;
}

type Attempt =
  { kind: "ok" } | { kind: "heldByOther"; holder: string } | { kind: "failed"; error: Error };

const OK: Attempt = { kind: "ok" };

const silentLogger: LeaderElectionLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

/**
 * A client-go-compatible leader elector on a `LeaseLock`: `run` campaigns
 * until it acquires the lock, then leads (renewing) until it fails to renew
 * within the renew deadline, sees another holder, or its signal aborts.
 *
 * Expiry is judged as client-go judges it (from the header of
 * `leaderelection.go`): "A client only acts on timestamps captured locally to
 * infer the state of the leader election. The client does not consider
 * timestamps in the leader election record to be accurate because these
 * timestamps may not have been produced by a local clock." So a candidate
 * takes over only when the record has not changed for the record's own
 * `leaseDurationSeconds` as measured on its own clock since it last saw it
 * change. This tolerates arbitrary clock skew between replicas (not an
 * arbitrary skew *rate*), at the price that a freshly started candidate always
 * waits a full lease duration, however old `renewTime` is.
 *
 * Like client-go this is not fencing: it cannot stop a paused process from
 * writing. It narrows the window instead: the leader stops at the renew
 * deadline, measured from the start of its last successful renewal, while
 * others wait at least the lease duration from the moment they saw that
 * renewal, which leaves a gap of leaseDuration − renewDeadline.
 */
export class LeaderElector {
  readonly #lock: LeaseLock;
  readonly #identity: string;
  readonly #leaseDurationMs: number;
  readonly #renewDeadlineMs: number;
  readonly #retryPeriodMs: number;
  readonly #requestTimeoutMs: number;
  readonly #releaseOnCancel: boolean;
  readonly #callbacks: LeaderCallbacks;
  readonly #name: string;
  readonly #clock: LeaderElectionClock;
  readonly #random: () => number;
  readonly #log: LeaderElectionLogger;
  readonly #metrics: LeaderElectionMetrics | undefined;

  /** The last record read or written, and the local time it was first seen in that form. */
  #observed: LeaseSnapshot | undefined;
  #observedTime = 0;
  #leading = false;
  #reportedLeader = "";
  #started = false;

  /** Validates `options` as client-go's `NewLeaderElector` does; throws a `TypeError` or `RangeError` naming the option. */
  constructor(options: LeaderElectorOptions) {
    validateOptions(options);
    this.#lock = options.lock;
    this.#identity = options.identity;
    this.#leaseDurationMs = options.leaseDurationMs;
    this.#renewDeadlineMs = options.renewDeadlineMs;
    this.#retryPeriodMs = options.retryPeriodMs;
    this.#requestTimeoutMs =
      options.requestTimeoutMs ?? Math.min(options.renewDeadlineMs / 2, 5000);
    this.#releaseOnCancel = options.releaseOnCancel ?? false;
    this.#callbacks = options.callbacks;
    this.#name = options.name ?? options.lock.describe();
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
    this.#log = options.logger ?? silentLogger;
    this.#metrics = options.metrics;
    this.#metrics?.leading(this.#name, false);
  }

  /** True from acquisition until leadership is lost or the run cancelled: exactly while the leading signal is live. */
  isLeader(): boolean {
    return this.#leading;
  }

  /**
   * The holder named by the last record this elector read or wrote, or
   * undefined if none; it may be stale or expired (it is what this replica last
   * saw, as client-go's `GetLeader`).
   */
  getLeader(): string | undefined {
    const holder = this.#observed?.record.holderIdentity;
    return holder === "" ? undefined : holder;
  }

  /**
   * Campaigns, then leads, until `signal` aborts or leadership is lost; always
   * ends by calling `onStoppedLeading`. Failures of the lock are retried and
   * logged, never thrown; it rejects only if called a second time: an elector
   * runs once, and after a loss the owner creates a new one (the operator's
   * convention, like controller-runtime's, is to exit).
   */
  async run(signal: AbortSignal): Promise<void> {
    if (this.#started) {
      throw new Error("LeaderElector.run may only be called once; create a new LeaderElector");
    }
    this.#started = true;
    try {
      const acquiredAt = await this.#acquire(signal);
      if (acquiredAt !== undefined) await this.#lead(signal, acquiredAt);
    } finally {
      this.#setLeading(false);
      try {
        this.#callbacks.onStoppedLeading();
      } catch (error) {
        this.#log.error({ err: error, lock: this.#lock.describe() }, "onStoppedLeading threw");
      }
    }
  }

  /** Tries every retryPeriod (jittered) until acquired (resolving the start time of the winning attempt) or cancelled. */
  async #acquire(signal: AbortSignal): Promise<number | undefined> {
    this.#log.info(
      { lock: this.#lock.describe(), identity: this.#identity },
      "attempting to acquire leader lease",
    );
    while (!signal.aborted) {
      const start = this.#clock.now();
      const attempt = await this.#tryAcquireOrRenew(signal, Number.POSITIVE_INFINITY);
      this.#maybeReportTransition();
      if (attempt.kind === "ok") {
        this.#log.info({ lock: this.#lock.describe() }, "successfully acquired lease");
        return start;
      }
      this.#logAttempt(attempt, "failed to acquire lease");
      const jitter = this.#random() * JITTER_FACTOR * this.#retryPeriodMs;
      await sleep(this.#clock, this.#retryPeriodMs + jitter, signal);
    }
    return undefined;
  }

  /** Leads from `acquiredAt` (the start of the acquiring attempt) until loss or cancel, then releases if asked. */
  async #lead(signal: AbortSignal, acquiredAt: number): Promise<void> {
    if (signal.aborted) {
      // Cancelled while the acquiring write was in flight: never start the work.
      if (this.#releaseOnCancel) await this.#release();
      return;
    }
    const leading = new AbortController();
    let lastRenewStart = acquiredAt;
    const ended = { byCancel: false };
    const lost = (): boolean => leading.signal.aborted;
    let deadlineTimer: object | undefined;

    const lose = (reason: string): boolean => {
      if (leading.signal.aborted) return false;
      this.#setLeading(false);
      leading.abort(new Error(reason));
      return true;
    };
    const armDeadline = (): void => {
      if (deadlineTimer !== undefined) this.#clock.clearTimeout(deadlineTimer);
      deadlineTimer = this.#clock.setTimeout(
        () => {
          if (lose(`failed to renew within renewDeadlineMs (${this.#renewDeadlineMs} ms)`)) {
            this.#log.warn({ lock: this.#lock.describe() }, "leader election lost: renew deadline");
          }
        },
        lastRenewStart + this.#renewDeadlineMs - this.#clock.now(),
      );
    };
    const onCancel = (): void => {
      ended.byCancel = lose("leader election cancelled");
    };

    this.#setLeading(true);
    armDeadline();
    signal.addEventListener("abort", onCancel, { once: true });
    const work = this.#startWork(leading.signal);
    try {
      while (!lost()) {
        await sleep(this.#clock, this.#retryPeriodMs, leading.signal);
        if (lost()) break;
        const start = this.#clock.now();
        const attempt = await this.#tryAcquireOrRenew(
          leading.signal,
          lastRenewStart + this.#renewDeadlineMs,
        );
        this.#maybeReportTransition();
        if (lost()) break;
        if (attempt.kind === "ok") {
          lastRenewStart = start;
          armDeadline();
        } else if (attempt.kind === "heldByOther") {
          // client-go keeps polling until the deadline; a replica that has seen
          // another holder knows it does not lead, so it stops now.
          lose(`the lease is held by ${attempt.holder}`);
          this.#log.warn(
            { lock: this.#lock.describe(), holder: attempt.holder },
            "leader election lost: another holder",
          );
        } else {
          this.#logAttempt(attempt, "failed to renew lease, retrying");
        }
      }
    } finally {
      if (deadlineTimer !== undefined) this.#clock.clearTimeout(deadlineTimer);
      signal.removeEventListener("abort", onCancel);
    }

    if (ended.byCancel && this.#releaseOnCancel) {
      // Release only once the guarded work has stopped, and only while our
      // renewal still stands: after that, letting the lease expire keeps the
      // leaseDuration − renewDeadline gap that an immediate release would void.
      const stopped = await settledBy(
        work,
        this.#clock,
        lastRenewStart + this.#renewDeadlineMs - this.#clock.now(),
      );
      if (stopped) await this.#release();
      else {
        this.#log.warn(
          { lock: this.#lock.describe() },
          "not releasing the lease: onStartedLeading did not settle before the renew deadline",
        );
      }
    }
  }

  /** Calls onStartedLeading; resolves when the promise it returned (if any) settles. */
  #startWork(signal: AbortSignal): Promise<void> {
    let result: unknown;
    try {
      result = this.#callbacks.onStartedLeading(signal);
    } catch (error) {
      this.#log.error({ err: error, lock: this.#lock.describe() }, "onStartedLeading threw");
      return Promise.resolve();
    }
    if (!isPromiseLike(result)) return Promise.resolve();
    return Promise.resolve(result).then(
      () => undefined,
      (error: unknown) => {
        this.#log.error({ err: error, lock: this.#lock.describe() }, "onStartedLeading rejected");
      },
    );
  }

  /**
   * One attempt, as client-go's `tryAcquireOrRenew`: a leader first updates
   * its cached record directly (the fast path); otherwise get or create the
   * record, note the local time if it changed, back off if another holder's
   * lease is still valid by that local time, else update it with the read
   * `resourceVersion`. Requests end by `deadline` (a local time) at the latest.
   */
  async #tryAcquireOrRenew(signal: AbortSignal, deadline: number): Promise<Attempt> {
    const now = this.#clock.now();
    const desired: LeaderElectionRecord = {
      holderIdentity: this.#identity,
      leaseDurationSeconds: this.#leaseDurationMs / 1000,
      acquireTime: now,
      renewTime: now,
      leaseTransitions: 0,
    };

    // 1. Fast path: the leader renews the record it last wrote, without a read.
    const cached = this.#observed;
    if (
      this.#leading &&
      cached?.record.holderIdentity === this.#identity &&
      this.#isLeaseValid(now)
    ) {
      const renewed = {
        ...desired,
        acquireTime: cached.record.acquireTime,
        leaseTransitions: cached.record.leaseTransitions,
      };
      try {
        this.#setObserved(
          await this.#call(signal, deadline, (s) =>
            this.#lock.update(renewed, cached.resourceVersion, s),
          ),
        );
        return OK;
      } catch (error) {
        if (signal.aborted) return failed(error);
        this.#metrics?.slowpath(this.#name);
        this.#log.debug(
          { err: error, lock: this.#lock.describe() },
          "optimistic renewal failed, falling back to the slow path",
        );
      }
    }

    // 2. Get the record, or create it.
    let current: LeaseSnapshot | undefined;
    try {
      current = await this.#call(signal, deadline, (s) => this.#lock.get(s));
    } catch (error) {
      return failed(error);
    }
    if (current === undefined) {
      try {
        this.#setObserved(await this.#call(signal, deadline, (s) => this.#lock.create(desired, s)));
        return OK;
      } catch (error) {
        return failed(error);
      }
    }

    // 3. Only a change of the record restarts the local expiry clock.
    if (current.raw !== this.#observed?.raw) this.#setObserved(current);
    else this.#observed = current; // same record, perhaps a newer resourceVersion
    const holder = current.record.holderIdentity;
    if (holder !== "" && holder !== this.#identity && this.#isLeaseValid(now)) {
      return { kind: "heldByOther", holder };
    }
    if (this.#leading && holder !== this.#identity) {
      // Someone wrote over our record (expired from their view, or cleared by
      // hand): whatever happens next, we were not the only one who could act.
      return { kind: "heldByOther", holder };
    }

    // 4. Take or renew it, on the resourceVersion just read.
    const next: LeaderElectionRecord =
      holder === this.#identity
        ? {
            ...desired,
            acquireTime: current.record.acquireTime,
            leaseTransitions: current.record.leaseTransitions,
          }
        : { ...desired, leaseTransitions: current.record.leaseTransitions + 1 };
    const resourceVersion = current.resourceVersion;
    try {
      this.#setObserved(
        await this.#call(signal, deadline, (s) => this.#lock.update(next, resourceVersion, s)),
      );
      return OK;
    } catch (error) {
      return failed(error);
    }
  }

  /**
   * Writes the release record (holder "", leaseDurationSeconds 1, times now,
   * leaseTransitions unchanged) on the resourceVersion of our last write; on a
   * conflict re-reads and retries only if the Lease still names us. Bounded
   * by renewDeadline, as client-go bounds it.
   */
  async #release(): Promise<void> {
    const deadline = this.#clock.now() + this.#renewDeadlineMs;
    const never = new AbortController().signal;
    let snapshot = this.#observed;
    while (snapshot?.record.holderIdentity === this.#identity && this.#clock.now() < deadline) {
      const now = this.#clock.now();
      const record: LeaderElectionRecord = {
        holderIdentity: "",
        leaseDurationSeconds: 1,
        acquireTime: now,
        renewTime: now,
        leaseTransitions: snapshot.record.leaseTransitions,
      };
      const resourceVersion = snapshot.resourceVersion;
      try {
        this.#setObserved(
          await this.#call(never, deadline, (s) => this.#lock.update(record, resourceVersion, s)),
        );
        this.#log.info({ lock: this.#lock.describe() }, "released leader lease");
        return;
      } catch (error) {
        if (error instanceof LeaseLockError && error.kind === "conflict") {
          try {
            snapshot = await this.#call(never, deadline, (s) => this.#lock.get(s));
            if (snapshot && snapshot.raw !== this.#observed?.raw) this.#setObserved(snapshot);
          } catch (readError) {
            this.#log.error({ err: readError, lock: this.#lock.describe() }, "release failed");
            return;
          }
        } else {
          this.#log.warn({ err: error, lock: this.#lock.describe() }, "release failed, retrying");
          await sleep(
            this.#clock,
            Math.min(this.#retryPeriodMs, deadline - this.#clock.now()),
            never,
          );
        }
      }
    }
  }

  /**
   * Runs one lock call under a timeout of min(requestTimeoutMs, time left to
   * `deadline`), also aborted by `signal`. The call counts as failed once its
   * signal aborts even if the lock ignores the signal; a write that lands late
   * is then only ever our own renewal, which makes others wait longer (safe).
   */
  async #call<T>(
    signal: AbortSignal,
    deadline: number,
    fn: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const timeout = Math.min(this.#requestTimeoutMs, deadline - this.#clock.now());
    if (timeout <= 0) throw new LeaseLockError("other", "no time left before the renew deadline");
    const controller = new AbortController();
    const onAbort = (): void => {
      controller.abort(signal.reason);
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
    const timer = this.#clock.setTimeout(() => {
      controller.abort(new LeaseLockError("other", `request timed out after ${timeout} ms`));
    }, timeout);
    try {
      return await raceAbort((async () => fn(controller.signal))(), controller.signal);
    } finally {
      this.#clock.clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
    }
  }

  #isLeaseValid(now: number): boolean {
    const duration = (this.#observed?.record.leaseDurationSeconds ?? 0) * 1000;
    return this.#observedTime + duration > now;
  }

  #setObserved(snapshot: LeaseSnapshot): void {
    this.#observed = snapshot;
    this.#observedTime = this.#clock.now();
  }

  #setLeading(leading: boolean): void {
    this.#leading = leading;
    this.#metrics?.leading(this.#name, leading);
  }

  #maybeReportTransition(): void {
    const holder = this.#observed?.record.holderIdentity ?? "";
    if (holder === this.#reportedLeader) return;
    this.#reportedLeader = holder;
    try {
      this.#callbacks.onNewLeader?.(holder);
    } catch (error) {
      this.#log.error({ err: error, lock: this.#lock.describe() }, "onNewLeader threw");
    }
  }

  #logAttempt(attempt: Exclude<Attempt, { kind: "ok" }>, message: string): void {
    if (attempt.kind === "heldByOther") {
      this.#log.debug(
        { lock: this.#lock.describe(), holder: attempt.holder },
        `${message}: held by another holder and not yet expired`,
      );
    } else {
      this.#log.info({ err: attempt.error, lock: this.#lock.describe() }, message);
    }
  }
}

function validateOptions(options: LeaderElectorOptions): void {
  const { leaseDurationMs, renewDeadlineMs, retryPeriodMs } = options;
  for (const [option, value] of [
    ["leaseDurationMs", leaseDurationMs],
    ["renewDeadlineMs", renewDeadlineMs],
    ["retryPeriodMs", retryPeriodMs],
  ] as const) {
    if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
      throw new RangeError(`${option} must be a finite number greater than zero, got ${value}`);
    }
  }
  if (leaseDurationMs <= renewDeadlineMs) {
    throw new RangeError(
      `leaseDurationMs (${leaseDurationMs}) must be greater than renewDeadlineMs (${renewDeadlineMs})`,
    );
  }
  // renewDeadline > JITTER_FACTOR × retryPeriod, in integers: 5 × RD > 6 × RP.
  if (renewDeadlineMs * 5 <= retryPeriodMs * 6) {
    throw new RangeError(
      `renewDeadlineMs (${renewDeadlineMs}) must be greater than retryPeriodMs × ${JITTER_FACTOR} (${retryPeriodMs * JITTER_FACTOR})`,
    );
  }
  if (leaseDurationMs % 1000 !== 0) {
    throw new RangeError(
      `leaseDurationMs (${leaseDurationMs}) must be a whole number of seconds: it is written to spec.leaseDurationSeconds`,
    );
  }
  if (
    options.requestTimeoutMs !== undefined &&
    !(Number.isFinite(options.requestTimeoutMs) && options.requestTimeoutMs > 0)
  ) {
    throw new RangeError(
      `requestTimeoutMs must be a finite number greater than zero, got ${options.requestTimeoutMs}`,
    );
  }
  if (typeof options.identity !== "string" || options.identity === "") {
    throw new TypeError("identity must be a non-empty string");
  }
  if (typeof (options.lock as LeaseLock | undefined)?.get !== "function") {
    throw new TypeError("lock must be a LeaseLock");
  }
  const callbacks = options.callbacks as Partial<LeaderCallbacks> | undefined;
  if (typeof callbacks?.onStartedLeading !== "function") {
    throw new TypeError("callbacks.onStartedLeading must be a function");
  }
  if (typeof callbacks.onStoppedLeading !== "function") {
    throw new TypeError("callbacks.onStoppedLeading must be a function");
  }
}

function failed(error: unknown): Attempt {
  return { kind: "failed", error: asError(error) };
}

function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === "object" || typeof value === "function") &&
    value !== null &&
    typeof (value as { then?: unknown }).then === "function"
  );
}

/** Resolves true if `promise` settles within `ms` on `clock`, else false. */
function settledBy(
  promise: Promise<void>,
  clock: LeaderElectionClock,
  ms: number,
): Promise<boolean> {
  if (ms <= 0) return Promise.resolve(false);
  return new Promise((resolve) => {
    const timer = clock.setTimeout(() => {
      resolve(false);
    }, ms);
    void promise.then(() => {
      clock.clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Settles as `promise` does, or rejects with the abort reason as soon as `signal` aborts. */
function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      reject(asError(signal.reason));
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(asError(error));
      },
    );
  });
}
