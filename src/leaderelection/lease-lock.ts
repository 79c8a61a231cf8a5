import { ApiException, Observable } from "@kubernetes/client-node";
import type {
  ConfigurationOptions,
  CoordinationV1Api,
  ObservableMiddleware,
  RequestContext,
  ResponseContext,
  V1Lease,
  V1LeaseSpec,
} from "@kubernetes/client-node";
import { parseMicroTime, toMicroTime } from "../kube/microtime.ts";

/**
 * The content of a leader-election lock, as client-go's
 * `resourcelock.LeaderElectionRecord` holds it; times are epoch milliseconds.
 *
 * `acquireTime` and `renewTime` are informational only: electors never judge
 * expiry by them (see `LeaderElector`), so 0 (what a missing or unparseable
 * time reads as) is harmless.
 */
export interface LeaderElectionRecord {
  /** Who holds the lock; "" when nobody does (never taken, or released). */
  holderIdentity: string;
  /** How long others must wait, from their own observation of a change, before taking over. */
  leaseDurationSeconds: number;
  acquireTime: number;
  renewTime: number;
  /** Incremented each time the holder changes. */
  leaseTransitions: number;
}

/**
 * One read of the lock: the record, the `resourceVersion` an update must name,
 * and `raw`, a canonical text of the record whose change (not the times it
 * carries) is what tells an observer that the holder is alive.
 */
export interface LeaseSnapshot {
  record: LeaderElectionRecord;
  resourceVersion: string;
  raw: string;
}

/** Why a lock operation failed: the elector treats a conflict as "someone else moved first". */
export type LeaseLockErrorKind = "conflict" | "notFound" | "other";

/**
 * The only error a `LeaseLock` throws: `kind` classifies it, `cause` keeps
 * the original (an `ApiException`, an abort reason, a network error).
 */
export class LeaseLockError extends Error {
  readonly kind: LeaseLockErrorKind;

  constructor(kind: LeaseLockErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "LeaseLockError";
    this.kind = kind;
  }
}

/**
 * A leader-election lock with optimistic concurrency, the contract of
 * client-go's `resourcelock.Interface` restated for promises: `get` resolves
 * undefined when the lock does not exist; `create` fails with kind "conflict"
 * when it already does; `update` fails with "conflict" unless the lock is
 * still at `resourceVersion`. Each call must stop (reject) once `signal`
 * aborts. Writes resolve the stored result, so the caller learns the new
 * `resourceVersion` without another read.
 */
export interface LeaseLock {
  get(signal: AbortSignal): Promise<LeaseSnapshot | undefined>;
  create(record: LeaderElectionRecord, signal: AbortSignal): Promise<LeaseSnapshot>;
  update(
    record: LeaderElectionRecord,
    resourceVersion: string,
    signal: AbortSignal,
  ): Promise<LeaseSnapshot>;
  /** A human-readable name for logs, such as "namespace/name". */
  describe(): string;
}

/** Where a `KubeLeaseLock` keeps its record. */
export interface KubeLeaseLockOptions {
  api: CoordinationV1Api;
  namespace: string;
  name: string;
}

/**
 * A `LeaseLock` on a `coordination.k8s.io/v1` Lease, wire-compatible with
 * client-go's `LeaseLock`: Go and Node electors can share one Lease.
 *
 * Updates are full replaces (PUT) of the last Lease this lock read or wrote,
 * with `metadata.resourceVersion` set to the version the caller names, so the
 * API server refuses the write (409) if anything changed in between; labels,
 * annotations, owner references and the spec fields this record does not
 * model (`strategy`, `preferredHolder`) are carried over, as client-go does.
 *
 * Each request is cancelled when its signal aborts: the signal is handed to
 * the HTTP request through a per-call middleware (client-node 2.0.1 has no
 * signal parameter, but its `RequestContext.setSignal` reaches `fetch`).
 */
export class KubeLeaseLock implements LeaseLock {
  readonly #api: CoordinationV1Api;
  readonly #namespace: string;
  readonly #name: string;
  #lease: V1Lease | undefined;

  constructor(options: KubeLeaseLockOptions) {
    this.#api = options.api;
    this.#namespace = options.namespace;
    this.#name = options.name;
  }

  describe(): string {
    return `${this.#namespace}/${this.#name}`;
  }

  async get(signal: AbortSignal): Promise<LeaseSnapshot | undefined> {
    try {
      const lease = await this.#api.readNamespacedLease(
        { name: this.#name, namespace: this.#namespace },
        withSignal(signal),
      );
      this.#lease = lease;
      return snapshotOf(lease);
    } catch (error) {
      const classified = classify(error, signal, `get lease ${this.describe()}`);
      if (classified.kind === "notFound") return undefined;
      throw classified;
    }
  }

  async create(record: LeaderElectionRecord, signal: AbortSignal): Promise<LeaseSnapshot> {
    const body: V1Lease = {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name: this.#name, namespace: this.#namespace },
      spec: specOf(record),
    };
    try {
      const lease = await this.#api.createNamespacedLease(
        { namespace: this.#namespace, body },
        withSignal(signal),
      );
      this.#lease = lease;
      return snapshotOf(lease);
    } catch (error) {
      throw classify(error, signal, `create lease ${this.describe()}`);
    }
  }

  async update(
    record: LeaderElectionRecord,
    resourceVersion: string,
    signal: AbortSignal,
  ): Promise<LeaseSnapshot> {
    const base = this.#lease;
    const body: V1Lease = {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      // Object.assign, not spread: the models are classes (with no behaviour).
      metadata: Object.assign({}, base?.metadata, {
        name: this.#name,
        namespace: this.#namespace,
        resourceVersion,
      }),
      spec: Object.assign({}, base?.spec, specOf(record)),
    };
    try {
      const lease = await this.#api.replaceNamespacedLease(
        { name: this.#name, namespace: this.#namespace, body },
        withSignal(signal),
      );
      this.#lease = lease;
      return snapshotOf(lease);
    } catch (error) {
      throw classify(error, signal, `update lease ${this.describe()}`);
    }
  }
}

/**
 * Converts a Lease into the record and its canonical raw text. The raw text
 * keeps the times exactly as the server sent them (strings, despite their
 * `V1MicroTime` type) so that a change of microseconds counts as a change.
 */
export function snapshotOf(lease: V1Lease): LeaseSnapshot {
  const spec = lease.spec ?? {};
  const acquire = spec.acquireTime as Date | string | undefined;
  const renew = spec.renewTime as Date | string | undefined;
  const record: LeaderElectionRecord = {
    holderIdentity: spec.holderIdentity ?? "",
    leaseDurationSeconds: spec.leaseDurationSeconds ?? 0,
    acquireTime: parseMicroTime(acquire) ?? 0,
    renewTime: parseMicroTime(renew) ?? 0,
    leaseTransitions: spec.leaseTransitions ?? 0,
  };
  const raw = JSON.stringify([
    record.holderIdentity,
    record.leaseDurationSeconds,
    timeText(acquire),
    timeText(renew),
    record.leaseTransitions,
    spec.strategy ?? "",
    spec.preferredHolder ?? "",
  ]);
  return { record, resourceVersion: lease.metadata?.resourceVersion ?? "", raw };
}

/** The Lease spec for a record, times as `V1MicroTime` (six fractional digits, or the server refuses them). */
export function specOf(record: LeaderElectionRecord): V1LeaseSpec {
  return {
    holderIdentity: record.holderIdentity,
    leaseDurationSeconds: record.leaseDurationSeconds,
    acquireTime: toMicroTime(record.acquireTime),
    renewTime: toMicroTime(record.renewTime),
    leaseTransitions: record.leaseTransitions,
  };
}

function timeText(value: Date | string | undefined): string {
  if (typeof value === "string") return value;
  if (value instanceof Date && !Number.isNaN(value.getTime())) return value.toISOString();
  return "";
}

/** Per-call options that attach `signal` to the HTTP request, keeping the client's own middleware. */
function withSignal(signal: AbortSignal): ConfigurationOptions {
  const middleware: ObservableMiddleware = {
    pre: (context: RequestContext) => {
      context.setSignal(signal);
      return new Observable(Promise.resolve(context));
    },
    post: (context: ResponseContext) => new Observable(Promise.resolve(context)),
  };
  return { middleware: [middleware], middlewareMergeStrategy: "append" };
}

/** Maps whatever a request threw to a `LeaseLockError`: 409 is a conflict, 404 not found. */
export function classify(error: unknown, signal: AbortSignal, what: string): LeaseLockError {
  if (error instanceof LeaseLockError) return error;
  if (error instanceof ApiException) {
    const code = (error as ApiException<unknown>).code;
    if (code === 409)
      return new LeaseLockError("conflict", `${what}: conflict (409)`, { cause: error });
    if (code === 404)
      return new LeaseLockError("notFound", `${what}: not found (404)`, { cause: error });
    return new LeaseLockError("other", `${what}: HTTP ${code}`, { cause: error });
  }
  if (signal.aborted) {
    return new LeaseLockError("other", `${what}: aborted (${describeReason(signal.reason)})`, {
      cause: error,
    });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new LeaseLockError("other", `${what}: ${message}`, { cause: error });
}

function describeReason(reason: unknown): string {
  return reason instanceof Error ? reason.message : String(reason);
}
