import { LeaseLockError } from "../../../src/leaderelection/lease-lock.ts";
import type {
  LeaderElectionRecord,
  LeaseLock,
  LeaseLockErrorKind,
  LeaseSnapshot,
} from "../../../src/leaderelection/lease-lock.ts";

export type Op = "get" | "create" | "update";

/** One write that reached the store. */
export interface Write {
  at: number;
  by: string;
  op: Op;
  record: LeaderElectionRecord;
  resourceVersion: string;
}

/**
 * A one-Lease API server in memory: every write bumps the resourceVersion,
 * `create` conflicts when the Lease exists, `update` conflicts unless it
 * names the current resourceVersion. Time is `Date.now()` (fake under
 * `vi.useFakeTimers`).
 */
export class FakeLeaseStore {
  #state: { record: LeaderElectionRecord; resourceVersion: string } | undefined;
  #nextVersion = 1;
  readonly writes: Write[] = [];

  read(): LeaseSnapshot | undefined {
    return this.#state && snapshot(this.#state.record, this.#state.resourceVersion);
  }

  create(record: LeaderElectionRecord, by: string): LeaseSnapshot {
    if (this.#state) throw new LeaseLockError("conflict", "create: already exists");
    return this.#write(record, by, "create");
  }

  update(record: LeaderElectionRecord, resourceVersion: string, by: string): LeaseSnapshot {
    if (!this.#state) throw new LeaseLockError("notFound", "update: not found");
    if (this.#state.resourceVersion !== resourceVersion) {
      throw new LeaseLockError(
        "conflict",
        `update: resourceVersion ${resourceVersion} is not ${this.#state.resourceVersion}`,
      );
    }
    return this.#write(record, by, "update");
  }

  /** Overwrites the Lease unconditionally, as another writer (or a person) would. */
  put(record: Partial<LeaderElectionRecord>, by = "test"): LeaseSnapshot {
    const now = Date.now();
    return this.#write(
      {
        holderIdentity: "",
        leaseDurationSeconds: 15,
        acquireTime: now,
        renewTime: now,
        leaseTransitions: 0,
        ...record,
      },
      by,
      this.#state ? "update" : "create",
    );
  }

  /** Bumps the resourceVersion without changing the record (a label change, say). */
  touch(): void {
    if (this.#state) this.#state = { ...this.#state, resourceVersion: String(this.#nextVersion++) };
  }

  #write(record: LeaderElectionRecord, by: string, op: Op): LeaseSnapshot {
    const resourceVersion = String(this.#nextVersion++);
    this.#state = { record: { ...record }, resourceVersion };
    this.writes.push({ at: Date.now(), by, op, record: { ...record }, resourceVersion });
    return snapshot(record, resourceVersion);
  }
}

function snapshot(record: LeaderElectionRecord, resourceVersion: string): LeaseSnapshot {
  return { record: { ...record }, resourceVersion, raw: JSON.stringify(record) };
}

/** Latency of one call: `before` it reaches the store (the write commits then), `after` until its answer arrives. */
export interface Latency {
  before: number;
  after: number;
}

export interface FakeLeaseLockBehaviour {
  /** An error kind to fail this call with before it reaches the store, or undefined. */
  fail?: (op: Op) => LeaseLockErrorKind | undefined;
  latency?: (op: Op) => Latency;
}

/**
 * One client's view of a `FakeLeaseStore`, with failures and latency to
 * inject. An abort before the call reaches the store leaves the store
 * untouched; an abort after it (the answer lost) leaves the write in place,
 * as with a real API server.
 */
export class FakeLeaseLock implements LeaseLock {
  readonly calls: Op[] = [];
  readonly #store: FakeLeaseStore;
  readonly #client: string;
  #queued: { op: Op | "any"; kind: LeaseLockErrorKind }[] = [];
  behaviour: FakeLeaseLockBehaviour;

  constructor(store: FakeLeaseStore, client: string, behaviour: FakeLeaseLockBehaviour = {}) {
    this.#store = store;
    this.#client = client;
    this.behaviour = behaviour;
  }

  /** Fails the next `count` calls of `op` with `kind`. */
  failNext(op: Op | "any", kind: LeaseLockErrorKind, count = 1): void {
    for (let i = 0; i < count; i++) this.#queued.push({ op, kind });
  }

  describe(): string {
    return `fake/${this.#client}`;
  }

  get(signal: AbortSignal): Promise<LeaseSnapshot | undefined> {
    return this.#run("get", signal, () => this.#store.read());
  }

  create(record: LeaderElectionRecord, signal: AbortSignal): Promise<LeaseSnapshot> {
    return this.#run("create", signal, () => this.#store.create(record, this.#client));
  }

  update(
    record: LeaderElectionRecord,
    resourceVersion: string,
    signal: AbortSignal,
  ): Promise<LeaseSnapshot> {
    return this.#run("update", signal, () =>
      this.#store.update(record, resourceVersion, this.#client),
    );
  }

  async #run<T>(op: Op, signal: AbortSignal, apply: () => T): Promise<T> {
    this.calls.push(op);
    const index = this.#queued.findIndex((q) => q.op === op || q.op === "any");
    let kind: LeaseLockErrorKind | undefined;
    if (index >= 0) {
      kind = this.#queued[index]?.kind;
      this.#queued.splice(index, 1);
    } else {
      kind = this.behaviour.fail?.(op);
    }
    const latency = this.behaviour.latency?.(op) ?? { before: 0, after: 0 };
    await delay(latency.before, signal);
    if (kind) throw new LeaseLockError(kind, `injected ${kind} on ${op}`);
    const result = apply();
    await delay(latency.after, signal);
    return result;
  }
}

/** Waits `ms` on the global (fake) timers; rejects when `signal` aborts. */
export function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new LeaseLockError("other", "aborted"));
    };
    if (signal.aborted) {
      reject(new LeaseLockError("other", "aborted"));
      return;
    }
    if (ms <= 0) {
      resolve();
      return;
    }
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
