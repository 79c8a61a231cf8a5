import type { OperatorMetrics } from "../observability/metrics.ts";

/**
 * A group's gauges: its leader (one series per group, naming the pod), its
 * ready candidates and its mode. Remembers which pod each group's leader
 * series names, so the old series goes when leadership moves.
 */
export class GroupMetrics {
  readonly #metrics: OperatorMetrics;
  readonly #leaderSeries = new Map<string, string>();

  constructor(metrics: OperatorMetrics) {
    this.#metrics = metrics;
  }

  /** Sets a group's gauges after a reconcile. */
  set(namespace: string, name: string, mode: string, holder: string, ready: number): void {
    this.leader(namespace, name, holder);
    this.#metrics.readyCandidates.set({ namespace, name }, ready);
    this.#metrics.groups.set({ namespace, name, mode }, 1);
  }

  /** Points the group's leader series at `pod` ("" for none). */
  leader(namespace: string, name: string, pod: string): void {
    const key = `${namespace}/${name}`;
    const previous = this.#leaderSeries.get(key);
    if (previous === pod) return;
    if (previous !== undefined) this.#metrics.leader.remove({ namespace, name, pod: previous });
    if (pod === "") {
      this.#leaderSeries.delete(key);
      return;
    }
    this.#metrics.leader.set({ namespace, name, pod }, 1);
    this.#leaderSeries.set(key, pod);
  }

  /** Removes every series of a group that is gone. */
  forget(namespace: string, name: string): void {
    this.leader(namespace, name, "");
    this.#metrics.readyCandidates.remove({ namespace, name });
    this.#metrics.groups.remove({ namespace, name, mode: "Managed" });
    this.#metrics.groups.remove({ namespace, name, mode: "Observed" });
  }
}
