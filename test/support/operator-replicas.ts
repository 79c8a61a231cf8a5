import { CoordinationV1Api } from "@kubernetes/client-node";
import type { Clients } from "./kube.ts";
import { startOperator } from "./operator.ts";
import type { OperatorProcess } from "./operator.ts";

// The operator's replicas as a chaos run drives them: kept running (a replica
// that exits is replaced), killed and paused on purpose, and every such fault
// recorded as a Disruption: a span during which the operator could not act,
// which the invariant checker's check (b) does not count.

/** The namespace of the operator's own Lease. */
const OPERATOR_NAMESPACE = "podium-system";

/** Timers and fire-and-forget tasks of a run, so that all of them end with it. */
export class Background {
  /** Set while the run heals or ends: no replica is replaced meanwhile. */
  stopping = false;
  readonly #tasks = new Set<Promise<unknown>>();
  readonly #timers = new Set<NodeJS.Timeout>();
  /** Starts the lines logged about the run's background work. */
  readonly label: string;

  constructor(label: string) {
    this.label = label;
  }

  /** Tracks `task`; its failure is logged, not thrown. */
  run(task: Promise<unknown>): void {
    const tracked = task.catch((err: unknown) => {
      console.log(`${this.label}: background task failed: ${(err as Error).message}`);
    });
    this.#tasks.add(tracked);
    void tracked.finally(() => this.#tasks.delete(tracked));
  }

  /** Calls `fn` in `ms` unless clearTimers comes first. */
  later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      fn();
    }, ms);
    this.#timers.add(t);
  }

  clearTimers(): void {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
  }

  /** Resolves once every task tracked so far has settled. */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.#tasks]);
  }
}

/**
 * A span during which the operator could not act. A fault opens one; it is
 * `over` when the fault itself ends (process resumed, proxy cleared, API
 * server back); it closes once the operator's own Lease is renewed after
 * that by a live, running replica, plus a grace for the catch-up.
 */
export interface Disruption {
  reason: string;
  start: number;
  overAt: number | undefined;
  graceMs: number;
}

/** The disruptions still open, and every fault injected (for a failed run's diagnostics). */
export class Disruptions {
  readonly open: Disruption[] = [];
  readonly faults: { at: number; what: string }[] = [];

  /** Opens a disruption for a fault that starts now. */
  begin(reason: string, graceMs = 3_000): Disruption {
    const d: Disruption = { reason, start: Date.now(), overAt: undefined, graceMs };
    this.faults.push({ at: d.start, what: reason });
    this.open.push(d);
    return d;
  }

  /** Marks the fault of `d` as ended (once). */
  over(d: Disruption): void {
    d.overAt ??= Date.now();
  }

  /** Closes `d`: the operator has recovered from it. */
  close(d: Disruption): void {
    this.open.splice(this.open.indexOf(d), 1);
  }
}

/** One operator replica slot; a replica that exits is replaced by a new process. */
export interface Slot {
  id: string;
  proc: OperatorProcess | undefined;
  paused: boolean;
  starts: number;
  starting: Promise<void> | undefined;
}

export interface ReplicaOptions {
  /** The slots' ids, one replica each. */
  ids: readonly string[];
  /** The operator's own Lease (--leader-election-id). */
  electionId: string;
  /** The operator's flags, read at each start. */
  args: () => string[];
  /** The kubeconfig a replica starts with, read at each start (a fault proxy's, say). */
  kubeconfig: () => string;
  background: Background;
  disruptions: Disruptions;
  /** Draws for background choices (how long until a replacement starts). */
  random: () => number;
}

/** The operator's replicas, named `<electionId>-<slot>-<start>`. */
export class OperatorReplicas {
  readonly slots: Slot[];
  /** Every exit of a replica, and whether a fault caused it on purpose. */
  readonly exits: { slot: string; code: number | null; expected: boolean }[] = [];
  /** Every replica started, for their logs. */
  readonly all: OperatorProcess[] = [];
  readonly #expectedExit = new WeakSet<OperatorProcess>();
  readonly #options: ReplicaOptions;

  constructor(options: ReplicaOptions) {
    this.#options = options;
    this.slots = options.ids.map((id) => ({
      id,
      proc: undefined,
      paused: false,
      starts: 0,
      starting: undefined,
    }));
  }

  /**
   * Starts a replica in `slot` (up to 5 attempts) and, when it exits while
   * the run is not stopping, another one after up to 1.5 s.
   */
  start(slot: Slot): Promise<void> {
    const { background, electionId } = this.#options;
    slot.starting ??= (async () => {
      for (let attempt = 1; attempt <= 5 && !background.stopping; attempt++) {
        try {
          slot.starts += 1;
          const proc = await startOperator(this.#options.kubeconfig(), {
            args: this.#options.args(),
            identity: `${electionId}-${slot.id}-${String(slot.starts)}`,
            // Under a load of 20 on 2 cores, Node took more than 30 s to serve /readyz.
            readyTimeoutMs: 90_000,
          });
          slot.proc = proc;
          slot.paused = false;
          this.all.push(proc);
          void proc.exited.then((code) => {
            this.exits.push({ slot: slot.id, code, expected: this.#expectedExit.has(proc) });
            if (slot.proc !== proc) return;
            slot.proc = undefined;
            slot.paused = false;
            // A replica that lost its Lease exits 1 by design: start another.
            if (!background.stopping) {
              background.later(Math.floor(this.#options.random() * 1_500), () => {
                background.run(this.start(slot));
              });
            }
          });
          return;
        } catch (err) {
          console.log(
            `${background.label}: starting replica ${slot.id} failed: ${(err as Error).message}`,
          );
        }
      }
    })().finally(() => {
      slot.starting = undefined;
    });
    return slot.starting;
  }

  /** Stops the replica of `slot` with `signal`; false when the slot has none. */
  kill(slot: Slot, signal: "SIGKILL" | "SIGTERM"): boolean {
    const proc = slot.proc;
    if (!proc) return false;
    const { background, disruptions } = this.#options;
    const d = disruptions.begin(`operator ${proc.identity} ${signal}`);
    this.#expectedExit.add(proc);
    background.run(
      proc.stop(signal).finally(() => {
        disruptions.over(d);
      }),
    );
    return true;
  }

  /** Stops (SIGSTOP) the replica of `slot` for `ms`; false when there is none or it is paused. */
  pause(slot: Slot, ms: number): boolean {
    const proc = slot.proc;
    if (!proc || slot.paused) return false;
    const { background, disruptions } = this.#options;
    const d = disruptions.begin(`operator ${proc.identity} SIGSTOP ${String(ms)} ms`);
    process.kill(proc.pid, "SIGSTOP");
    slot.paused = true;
    background.later(ms, () => {
      if (slot.proc === proc) {
        process.kill(proc.pid, "SIGCONT");
        slot.paused = false;
      }
      disruptions.over(d);
    });
    return true;
  }

  /** Resumes (SIGCONT) every paused replica. */
  resumeAll(): void {
    for (const s of this.slots) {
      if (s.proc && s.paused) {
        process.kill(s.proc.pid, "SIGCONT");
        s.paused = false;
      }
    }
  }

  /** The replica holding the operator's Lease, if it is one of ours. */
  async active(clients: Clients): Promise<Slot | undefined> {
    const holder = (await this.#lease(clients)).spec?.holderIdentity ?? "";
    return this.slots.find((s) => s.proc?.identity === holder);
  }

  /** True when the operator's Lease is held by a live, running replica that renewed it after `since`. */
  async healthy(clients: Clients, since: number): Promise<boolean> {
    const lease = await this.#lease(clients);
    const holder = lease.spec?.holderIdentity ?? "";
    const renew = lease.spec?.renewTime;
    const renewedAt = renew === undefined ? 0 : new Date(renew).getTime();
    return this.slots.some((s) => s.proc?.identity === holder && !s.paused) && renewedAt > since;
  }

  /** Deletes the operator's Lease, if it is there. */
  async deleteLease(clients: Clients): Promise<void> {
    await clients.kc
      .makeApiClient(CoordinationV1Api)
      .deleteNamespacedLease({ name: this.#options.electionId, namespace: OPERATOR_NAMESPACE })
      .catch(() => undefined);
  }

  #lease(clients: Clients): ReturnType<CoordinationV1Api["readNamespacedLease"]> {
    return clients.kc
      .makeApiClient(CoordinationV1Api)
      .readNamespacedLease({ name: this.#options.electionId, namespace: OPERATOR_NAMESPACE });
  }
}
