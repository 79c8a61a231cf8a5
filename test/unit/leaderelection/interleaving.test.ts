import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { LeaderElector } from "../../../src/leaderelection/elector.ts";
import { FakeLeaseLock, FakeLeaseStore } from "./fake-lease-lock.ts";
import type { Op } from "./fake-lease-lock.ts";
import { seededRandom } from "../../support/random.ts";

interface Replica {
  identity: string;
  elector: LeaderElector;
  controller: AbortController;
  ended: boolean;
  restartAt: number | undefined;
}

interface Term {
  identity: string;
  from: number;
  to: number | undefined;
}

/**
 * Replicas campaigning on one Lease under random latency (a write may commit
 * and still time out for its sender), random conflicts and failures,
 * outages, cancellations with and without release, and restarts under new
 * and reused identities. Each time a replica starts leading, it checks that
 * no other replica still leads.
 */
class Simulation {
  readonly store = new FakeLeaseStore();
  readonly terms: Term[] = [];
  readonly violations: string[] = [];
  readonly #random: () => number;
  readonly #replicas: Replica[] = [];
  readonly #generation: number[] = [];
  readonly #outageUntil: number[] = [];

  constructor(seed: number, replicas: number) {
    this.#random = seededRandom(seed);
    for (let slot = 0; slot < replicas; slot++) {
      this.#generation.push(0);
      this.#outageUntil.push(0);
      this.#replicas.push(this.#launch(slot, false));
    }
  }

  /** Runs for `durationMs` of fake time, perturbing the replicas once a second. */
  async run(durationMs: number): Promise<void> {
    const end = Date.now() + durationMs;
    while (Date.now() < end) {
      await vi.advanceTimersByTimeAsync(1_000);
      this.#perturb();
    }
    for (const replica of this.#replicas) replica.controller.abort();
    await vi.advanceTimersByTimeAsync(60_000);
  }

  #perturb(): void {
    const now = Date.now();
    this.#replicas.forEach((replica, slot) => {
      if (replica.ended) {
        replica.restartAt ??= now + this.#random() * 5_000;
        if (now >= replica.restartAt) {
          // A restarted process may come back under the same identity, as a
          // StatefulSet pod does; only once the old one has stopped, though.
          this.#replicas[slot] = this.#launch(slot, this.#random() < 0.3);
        }
        return;
      }
      const roll = this.#random();
      if (roll < 0.01)
        replica.controller.abort(); // SIGTERM
      else if (roll < 0.02) this.#outageUntil[slot] = now + this.#random() * 25_000; // partition
    });
  }

  #launch(slot: number, reuseIdentity: boolean): Replica {
    if (!reuseIdentity) this.#generation[slot] = (this.#generation[slot] ?? 0) + 1;
    const identity = `r${slot}-${this.#generation[slot] ?? 0}`;
    const random = this.#random;
    const lock = new FakeLeaseLock(this.store, identity, {
      latency: () => {
        const stall = random() < 0.05 ? 8_000 : 0;
        return { before: random() * 1_500 + stall, after: random() * 1_500 };
      },
      fail: (op: Op) => {
        if (Date.now() < (this.#outageUntil[slot] ?? 0)) return "other";
        if (op !== "get" && random() < 0.05) return "conflict";
        return random() < 0.1 ? "other" : undefined;
      },
    });
    const controller = new AbortController();
    const elector: LeaderElector = new LeaderElector({
      lock,
      identity,
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      releaseOnCancel: random() < 0.5,
      random,
      callbacks: {
        onStartedLeading: (signal) => {
          for (const other of this.#replicas) {
            if (other.elector !== elector && other.elector.isLeader()) {
              this.violations.push(
                `${identity} started leading at ${Date.now()} while ${other.identity} leads`,
              );
            }
          }
          const term: Term = { identity, from: Date.now(), to: undefined };
          this.terms.push(term);
          signal.addEventListener("abort", () => {
            term.to = Date.now();
          });
        },
        onStoppedLeading: () => undefined,
      },
    });
    const replica: Replica = { identity, elector, controller, ended: false, restartAt: undefined };
    void elector.run(controller.signal).then(() => {
      replica.ended = true;
    });
    return replica;
  }
}

describe("electors sharing one Lease", () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: Date.UTC(2026, 0, 1) });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it.each([1, 2, 3, 4, 5, 6, 7, 8])("never lead at the same time (seed %i)", async (seed) => {
    const sim = new Simulation(seed, 3);
    await sim.run(10 * 60_000);

    expect(sim.violations).toEqual([]);
    // Terms, sorted by start, never overlap: each ends before the next begins.
    const terms = [...sim.terms].sort((x, y) => x.from - y.from);
    for (let i = 1; i < terms.length; i++) {
      const previous = terms[i - 1];
      const term = terms[i];
      expect(previous?.to, `${previous?.identity} still leads`).toBeDefined();
      expect(previous?.to ?? Infinity).toBeLessThanOrEqual(term?.from ?? 0);
    }
    // The schedule is not vacuous: leadership changed hands several times,
    // and the Lease recorded each change of holder.
    expect(terms.length).toBeGreaterThan(3);
    expect(new Set(terms.map((t) => t.identity)).size).toBeGreaterThan(1);
    const holders = sim.store.writes.map((w) => w.record.holderIdentity);
    const changes = holders.filter((h, i) => i > 0 && h !== "" && h !== holders[i - 1]).length;
    expect(sim.store.read()?.record.leaseTransitions).toBe(changes);
  });
});
