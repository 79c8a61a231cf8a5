import { readFileSync } from "node:fs";
import type { V1Lease, V1LeaseSpec } from "@kubernetes/client-node";
import { vi } from "vitest";
import type {
  Trace,
  TraceCandidate,
  TraceRecord,
  TraceSpec,
} from "../../../hack/record-clientgo-traces.ts";
import { LeaderElector } from "../../../src/leaderelection/elector.ts";
import { LeaseLockError, snapshotOf, specOf } from "../../../src/leaderelection/lease-lock.ts";
import type {
  LeaderElectionRecord,
  LeaseLock,
  LeaseSnapshot,
} from "../../../src/leaderelection/lease-lock.ts";

export type { Trace, TraceCandidate, TraceRecord, TraceSpec };

/** Loads test/fixtures/clientgo/<scenario>.json (recorded by hack/record-clientgo-traces.ts). */
export function loadTrace(scenario: string): Trace {
  const url = new URL(`../../fixtures/clientgo/${scenario}.json`, import.meta.url);
  return JSON.parse(readFileSync(url, "utf8")) as Trace;
}

/** The trace's time (ms since its recording started) of the fake clock's now. */
export function traceNow(trace: Trace): number {
  return Date.now() - trace.startedAtUnixMs;
}

/** Advances the fake clock to trace time `t`, running every timer and promise due meanwhile. */
export async function advanceTo(trace: Trace, t: number): Promise<void> {
  const ms = t - traceNow(trace);
  if (ms > 0) await vi.advanceTimersByTimeAsync(ms);
}

/** A write by podium that reached the replay store, in wire form (what a PUT would carry). */
export interface ReplayWrite {
  t: number;
  op: "create" | "update";
  resourceVersion: string;
  /** The resourceVersion it replaced (undefined for a create). */
  replaced: string | undefined;
  spec: TraceSpec;
}

export interface ReplayOptions {
  /** Only recorded versions observed before this trace time are served (to put podium in a candidate's place). */
  until?: number;
  /** Latency of each call before it reaches the store (a write commits then), in ms. */
  latencyMs?: number;
}

/**
 * A one-Lease API server that serves a recorded trace: each recorded version
 * of the Lease becomes current at its recorded time on the (fake) clock, with
 * its recorded resourceVersion. Podium's writes are accepted with the API
 * server's semantics (update only on the current resourceVersion, create only
 * if absent); its first accepted write makes the replay diverge from the
 * recording, so no later recorded version is applied (the real writers would
 * have been refused with a conflict, or acted on podium's record instead).
 *
 * Records are kept as the server sends them (MicroTime strings) and read
 * through podium's own `snapshotOf`, so the parsing path is the real one.
 */
export class ReplayLeaseLock implements LeaseLock {
  readonly trace: Trace;
  readonly writes: ReplayWrite[] = [];
  /** Trace times of podium's gets, and the conflicts it met. */
  readonly gets: number[] = [];
  readonly conflicts: number[] = [];
  /** Trace time of the first accepted podium write, if any. */
  divergedAt: number | undefined;
  #current: { spec: TraceSpec; resourceVersion: string } | undefined;
  readonly #timers: ReturnType<typeof setTimeout>[] = [];
  readonly #latencyMs: number;

  constructor(trace: Trace, options: ReplayOptions = {}) {
    this.trace = trace;
    this.#latencyMs = options.latencyMs ?? 0;
    const until = options.until ?? Number.POSITIVE_INFINITY;
    for (const record of trace.records) {
      if (record.t >= until) continue;
      this.#timers.push(
        setTimeout(
          () => {
            if (this.divergedAt === undefined) {
              this.#current = { spec: record.spec, resourceVersion: record.resourceVersion };
            }
          },
          Math.max(0, record.t - traceNow(trace)),
        ),
      );
    }
  }

  describe(): string {
    return `replay/${this.trace.scenario}`;
  }

  /** The Lease as the store holds it now, in wire form. */
  current(): { spec: TraceSpec; resourceVersion: string } | undefined {
    return this.#current;
  }

  async get(signal: AbortSignal): Promise<LeaseSnapshot | undefined> {
    await this.#delay(signal);
    this.gets.push(traceNow(this.trace));
    return this.#current && snapshotOfWire(this.#current.spec, this.#current.resourceVersion);
  }

  async create(record: LeaderElectionRecord, signal: AbortSignal): Promise<LeaseSnapshot> {
    await this.#delay(signal);
    if (this.#current) {
      this.conflicts.push(traceNow(this.trace));
      throw new LeaseLockError("conflict", "create: already exists");
    }
    return this.#write("create", record);
  }

  async update(
    record: LeaderElectionRecord,
    resourceVersion: string,
    signal: AbortSignal,
  ): Promise<LeaseSnapshot> {
    await this.#delay(signal);
    if (!this.#current) throw new LeaseLockError("notFound", "update: not found");
    if (this.#current.resourceVersion !== resourceVersion) {
      this.conflicts.push(traceNow(this.trace));
      throw new LeaseLockError(
        "conflict",
        `update: resourceVersion ${resourceVersion} is not ${this.#current.resourceVersion}`,
      );
    }
    return this.#write("update", record);
  }

  /** Cancels the recorded versions still to come. */
  stop(): void {
    for (const timer of this.#timers) clearTimeout(timer);
  }

  #write(op: "create" | "update", record: LeaderElectionRecord): LeaseSnapshot {
    const t = traceNow(this.trace);
    this.divergedAt ??= t;
    const replaced = this.#current?.resourceVersion;
    const resourceVersion = String(Number(replaced ?? "0") + 1);
    // What the PUT would carry: specOf's V1MicroTime serialised as JSON.
    const spec = JSON.parse(JSON.stringify(specOf(record))) as TraceSpec;
    this.#current = { spec, resourceVersion };
    this.writes.push({ t, op, resourceVersion, replaced, spec });
    return snapshotOfWire(spec, resourceVersion);
  }

  async #delay(signal: AbortSignal): Promise<void> {
    if (signal.aborted) throw new LeaseLockError("other", "aborted");
    if (this.#latencyMs <= 0) return;
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        clearTimeout(timer);
        reject(new LeaseLockError("other", "aborted"));
      };
      const timer = setTimeout(() => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      }, this.#latencyMs);
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }
}

function snapshotOfWire(spec: TraceSpec, resourceVersion: string): LeaseSnapshot {
  const lease: V1Lease = { metadata: { resourceVersion }, spec: spec as unknown as V1LeaseSpec };
  return snapshotOf(lease);
}

/** One podium candidate running against a replay. */
export interface PodiumCandidate {
  elector: LeaderElector;
  lock: ReplayLeaseLock;
  /** Callback events in trace time. */
  events: {
    t: number;
    event: "started_leading" | "stopped_leading" | "new_leader";
    leader?: string;
  }[];
  startedLeadingAt: () => number | undefined;
  cancel: () => void;
  done: Promise<void>;
}

export interface PodiumOptions {
  identity?: string;
  /** Timings: by default those of the given recorded candidate. */
  timings: Pick<TraceCandidate, "leaseDurationMs" | "renewDeadlineMs" | "retryPeriodMs">;
  random?: () => number;
  releaseOnCancel?: boolean;
}

/** Starts a podium LeaderElector now (fake clock) on `lock`. */
export function startPodium(lock: ReplayLeaseLock, options: PodiumOptions): PodiumCandidate {
  const trace = lock.trace;
  const events: PodiumCandidate["events"] = [];
  let startedAt: number | undefined;
  const elector = new LeaderElector({
    lock,
    identity: options.identity ?? "podium",
    leaseDurationMs: options.timings.leaseDurationMs,
    renewDeadlineMs: options.timings.renewDeadlineMs,
    retryPeriodMs: options.timings.retryPeriodMs,
    releaseOnCancel: options.releaseOnCancel ?? false,
    random: options.random ?? (() => 0),
    callbacks: {
      onStartedLeading: () => {
        startedAt = traceNow(trace);
        events.push({ t: startedAt, event: "started_leading" });
      },
      onStoppedLeading: () => events.push({ t: traceNow(trace), event: "stopped_leading" }),
      onNewLeader: (leader) => events.push({ t: traceNow(trace), event: "new_leader", leader }),
    },
  });
  const controller = new AbortController();
  const done = elector.run(controller.signal);
  return {
    elector,
    lock,
    events,
    startedLeadingAt: () => startedAt,
    cancel: () => {
      controller.abort();
    },
    done,
  };
}

/** A recorded candidate of the trace, by id. */
export function candidate(trace: Trace, id: string): TraceCandidate {
  const found = trace.candidates.find((c) => c.id === id);
  if (!found) throw new Error(`${trace.scenario}: no candidate ${id}`);
  return found;
}

/** The trace time at which the recorder did `action` to `id`. */
export function actionAt(trace: Trace, id: string, action: string): number {
  const found = trace.actions.find((a) => a.id === id && a.action === action);
  if (!found) throw new Error(`${trace.scenario}: no ${action} of ${id}`);
  return found.t;
}

/** The first recorded version whose holder is `id`: its acquisition. */
export function acquisitionBy(trace: Trace, id: string): TraceRecord {
  const found = trace.records.find((r) => r.spec.holderIdentity === id);
  if (!found) throw new Error(`${trace.scenario}: ${id} never held the Lease`);
  return found;
}

/** The last recorded version seen before trace time `t`. */
export function lastRecordBefore(trace: Trace, t: number): TraceRecord {
  const found = trace.records.filter((r) => r.t < t).at(-1);
  if (!found) throw new Error(`${trace.scenario}: no record before ${t}`);
  return found;
}
