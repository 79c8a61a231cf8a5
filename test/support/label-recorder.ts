import { ListWatch } from "../../src/kube/listwatch.ts";
import { extraLeaders } from "./invariant-core.ts";
import type { Clients } from "./kube.ts";

// The tests' own view of the leader label: a pod watch independent of the
// operator, recording after every event which pods carry role=leader.

/** One observation of the pod stream: which pods carried the leader label right after an event. */
export interface LabelObservation {
  resourceVersion: string;
  event: string;
  pod: string;
  labelled: string[];
  at: number;
}

/**
 * Watches a namespace's pods independently of the operator and records,
 * after every event of the stream, which pods carry role=leader. A run is
 * correct when no observation has more than one.
 */
export class LeaderLabelRecorder {
  readonly observations: LabelObservation[] = [];
  readonly #watch: ListWatch<{ name: string; rv: string; leader: boolean; deleting: boolean }>;
  readonly #labelled = new Set<string>();

  constructor(clients: Clients, namespace: string, selector: string) {
    this.#watch = new ListWatch({
      kc: clients.kc,
      name: "test-pods",
      path: `/api/v1/namespaces/${namespace}/pods`,
      labelSelector: selector,
      transform: (raw) => {
        const meta = raw.metadata as {
          name: string;
          resourceVersion: string;
          labels?: Record<string, string>;
          deletionTimestamp?: string;
        };
        return {
          name: meta.name,
          rv: meta.resourceVersion,
          leader: meta.labels?.role === "leader",
          deleting: meta.deletionTimestamp !== undefined,
        };
      },
      onEvent: (type, _key, pod) => {
        if (type !== "delete" && pod.leader) this.#labelled.add(pod.name);
        else this.#labelled.delete(pod.name);
        this.observations.push({
          resourceVersion: pod.rv,
          event: type,
          pod: pod.name,
          labelled: [...this.#labelled].sort(),
          at: Date.now(),
        });
      },
    });
  }

  async start(): Promise<void> {
    this.#watch.start();
    await this.#watch.waitForSync();
  }

  async stop(): Promise<void> {
    await this.#watch.stop();
  }

  /** Observations at which more than one pod carried the label (judged by extraLeaders). */
  violations(): LabelObservation[] {
    return this.observations.filter((o) => extraLeaders(o.labelled).length > 0);
  }

  /** The first time at or after `since` when `pod` alone carried the label. */
  firstLed(pod: string, since: number): number | undefined {
    return this.observations.find(
      (o) => o.at >= since && o.labelled.length === 1 && o.labelled[0] === pod,
    )?.at;
  }
}
