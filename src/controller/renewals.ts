import type { ElectionGroupSpec } from "../api/types.ts";
import { nextRenewal, renewDueAt } from "../election/index.ts";
import type { RenewalTicket } from "../election/index.ts";
import type { Clock, Timer } from "../kube/clock.ts";
import { runUrgentWhile } from "../kube/limiter.ts";
import { heapPop, heapPush } from "../kube/min-heap.ts";
import type { Logger } from "../observability/logger.ts";
import type { Store } from "../sources/store.ts";
import { toPodView } from "../sources/views.ts";
import { rememberLeaseWrite } from "./act.ts";
import type { OwnWrites } from "./own-writes.ts";
import type { Writer } from "./writer.ts";

/** A held Managed Lease whose next renewal is scheduled, as the last reconcile left it. */
export interface ScheduledRenewal {
  namespace: string;
  leaseName: string;
  groupUID: string;
  spec: Pick<ElectionGroupSpec, "lease" | "leaderLabel">;
  ticket: RenewalTicket;
  /** When the renewal is due, epoch ms. */
  at: number;
}

/** What the renewal scheduler reads, writes and hands work to. */
export interface RenewalDeps {
  store: Store;
  ownWrites: OwnWrites;
  writer: Writer;
  clock: Clock;
  log: Logger;
  /** Whether the group's reconcile is queued or running: it will schedule the renewal itself. */
  isBusy: (key: string) => boolean;
  /**
   * Whether a detected change of the group waits for its reconcile: a renewal
   * in flight then holds up a possible fail-over (the reconcile waits for it,
   * see {@link Renewals.settled}), so its write goes ahead of the rate
   * limiter's queue.
   */
  hasDetection: (key: string) => boolean;
  /** Hands the group to a full reconcile (something besides the time changed). */
  reconcile: (key: string) => void;
  /** Renewals in flight at once. */
  maxInFlight?: number;
}

/** The renewals of the groups the reconciler schedules (see {@link Renewals}). */
export interface RenewalScheduler {
  schedule(key: string, renewal: ScheduledRenewal): void;
  cancel(key: string): void;
}

const DEFAULT_MAX_IN_FLIGHT = 8;

/**
 * Renews held Managed Leases on one schedule, without reconciling their
 * groups: a min-heap of due times under one timer (not a timer per group).
 * At its time a renewal reads the cached Lease and holder, asks the core
 * ({@link nextRenewal}) and writes one merge patch at the version podium
 * left; anything else (the Lease changed, a 409, the holder changed, an
 * error) hands the group to a full reconcile, which schedules the next
 * renewal itself. A group whose reconcile is queued or running is skipped
 * for the same reason, and a reconcile waits for the group's renewal in
 * flight ({@link settled}), so the two never write the Lease at once.
 */
export class Renewals implements RenewalScheduler {
  readonly #deps: RenewalDeps;
  readonly #maxInFlight: number;
  readonly #scheduled = new Map<string, ScheduledRenewal>();
  /** A min-heap over `#scheduled`; stale entries (not matching the map) are skipped. */
  readonly #heap: { key: string; at: number }[] = [];
  readonly #inFlight = new Map<string, Promise<void>>();
  #timer: { handle: Timer; at: number } | undefined;
  #signal: AbortSignal | undefined;

  constructor(deps: RenewalDeps) {
    this.#deps = deps;
    this.#maxInFlight = deps.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
  }

  /** Starts firing renewals, each write tied to `signal`; until then they are only kept. */
  start(signal: AbortSignal): void {
    this.#signal = signal;
    signal.addEventListener(
      "abort",
      () => {
        this.stop();
      },
      { once: true },
    );
    this.#pump();
  }

  /** Stops firing and forgets every scheduled renewal (the next leader reconciles every group). */
  stop(): void {
    this.#signal = undefined;
    if (this.#timer) this.#deps.clock.clearTimeout(this.#timer.handle);
    this.#timer = undefined;
    this.#scheduled.clear();
    this.#heap.length = 0;
  }

  /** Schedules (or moves) the group's next renewal. */
  schedule(key: string, renewal: ScheduledRenewal): void {
    this.#scheduled.set(key, renewal);
    heapPush(this.#heap, { key, at: renewal.at });
    this.#pump();
  }

  /** Forgets the group's scheduled renewal, if any. */
  cancel(key: string): void {
    this.#scheduled.delete(key);
  }

  /** The scheduled renewal of a group, if any. */
  scheduled(key: string): ScheduledRenewal | undefined {
    return this.#scheduled.get(key);
  }

  /** Resolves once the group's renewal in flight, if any, has ended. */
  settled(key: string): Promise<void> | undefined {
    return this.#inFlight.get(key);
  }

  /** Starts every due renewal the in-flight bound allows, and arms the timer for the next. */
  #pump(): void {
    if (this.#signal === undefined || this.#signal.aborted) return;
    const now = this.#deps.clock.now();
    while (this.#inFlight.size < this.#maxInFlight) {
      const head = this.#peek();
      if (head === undefined || head.at > now) break;
      heapPop(this.#heap);
      const renewal = this.#scheduled.get(head.key);
      this.#scheduled.delete(head.key);
      if (renewal === undefined || this.#inFlight.has(head.key)) continue;
      const run = this.#renew(head.key, renewal, this.#signal).finally(() => {
        this.#inFlight.delete(head.key);
        this.#pump();
      });
      this.#inFlight.set(head.key, run);
    }
    this.#arm();
  }

  #arm(): void {
    const head = this.#peek();
    const { clock } = this.#deps;
    if (head === undefined || this.#inFlight.size >= this.#maxInFlight) {
      if (this.#timer) clock.clearTimeout(this.#timer.handle);
      this.#timer = undefined;
      return;
    }
    if (this.#timer && this.#timer.at <= head.at) return;
    if (this.#timer) clock.clearTimeout(this.#timer.handle);
    const handle = clock.setTimeout(
      () => {
        this.#timer = undefined;
        this.#pump();
      },
      Math.max(0, head.at - clock.now()),
    );
    this.#timer = { handle, at: head.at };
  }

  /** The earliest live heap entry, discarding stale ones. */
  #peek(): { key: string; at: number } | undefined {
    for (;;) {
      const head = this.#heap[0];
      if (head === undefined) return undefined;
      if (this.#scheduled.get(head.key)?.at === head.at) return head;
      heapPop(this.#heap);
    }
  }

  async #renew(key: string, renewal: ScheduledRenewal, signal: AbortSignal): Promise<void> {
    const { store, ownWrites, writer, clock, log } = this.#deps;
    // A reconcile on its way decides with everything, and schedules again.
    if (this.#deps.isBusy(key)) return;
    const { namespace, leaseName, spec, ticket } = renewal;
    const cached = ownWrites.lease(namespace, leaseName, store.lease(namespace, leaseName));
    const pod = store.pod(namespace, ticket.holder.name);
    const step = nextRenewal({
      spec,
      ticket,
      lease: cached,
      holder: pod && toPodView(pod, spec.leaderLabel),
      now: clock.now(),
    });
    if (step.kind === "wait") {
      this.schedule(key, { ...renewal, at: step.at });
      return;
    }
    if (step.kind === "reconcile") {
      log.debug({ group: key, why: step.why }, "renewal handed to a reconcile");
      this.#deps.reconcile(key);
      return;
    }
    const { record, resourceVersion } = step;
    ownWrites.leaseSent(namespace, leaseName, record);
    let result;
    try {
      result = await runUrgentWhile(
        () => this.#deps.hasDetection(key),
        () => writer.renewLease(namespace, leaseName, resourceVersion, record, signal),
      );
    } catch (err) {
      if (signal.aborted) return;
      log.info({ group: key, err }, "renewing the Lease failed; reconciling the group");
      this.#deps.reconcile(key);
      return;
    }
    if (result.outcome !== "ok" || result.resourceVersion === undefined) {
      this.#deps.reconcile(key);
      return;
    }
    const written = rememberLeaseWrite(
      this.#deps,
      renewal.groupUID,
      namespace,
      leaseName,
      cached,
      record,
      result.resourceVersion,
    );
    // A reconcile that began meanwhile schedules the next renewal itself.
    if (this.#scheduled.has(key) || signal.aborted) return;
    this.schedule(key, {
      ...renewal,
      ticket: { ...ticket, resourceVersion: result.resourceVersion },
      at: renewDueAt(written, spec),
    });
  }
}
