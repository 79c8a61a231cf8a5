import type { KubeConfig } from "@kubernetes/client-node";
import { GROUP, PLURAL, VERSION } from "../../src/api/constants.ts";
import { ListWatch } from "../../src/kube/listwatch.ts";
import { BENCH_LABEL, now } from "./watch.ts";

// The scale scenario's own view of progress, from two watches independent of
// the operator: pods (Ready, labelled) and ElectionGroups (Ready).

interface PodState {
  app: string;
  ready: boolean;
  leader: boolean;
}

/** Counts, from its own watches, ready pods, groups with exactly one labelled pod and Ready groups. */
export class ScaleObserver {
  readyPods = 0;
  labelledGroups = 0;
  readyGroups = 0;
  allLabelledAt: number | undefined;
  allReadyAt: number | undefined;
  readonly #leadersByApp = new Map<string, number>();
  readonly #pods: ListWatch<PodState>;
  readonly #groups: ListWatch<boolean>;
  readonly #groupCount: number;

  constructor(kc: KubeConfig, groupCount: number) {
    this.#groupCount = groupCount;
    this.#pods = new ListWatch<PodState>({
      kc,
      name: "scale-pods",
      path: "/api/v1/pods",
      labelSelector: `${BENCH_LABEL}=1`,
      transform: (raw) => {
        const meta = raw.metadata as { labels?: Record<string, string> };
        const status = raw.status as
          { phase?: string; conditions?: { type: string; status: string }[] } | undefined;
        return {
          app: meta.labels?.app ?? "",
          leader: meta.labels?.role === "leader",
          ready:
            status?.phase === "Running" &&
            (status.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True"),
        };
      },
      onEvent: (type, _key, pod, old) => {
        const cur = type === "delete" ? undefined : pod;
        this.readyPods += (cur?.ready ? 1 : 0) - (old?.ready ? 1 : 0);
        if (old?.leader) this.#leader(old.app, -1);
        if (cur?.leader) this.#leader(cur.app, 1);
      },
    });
    this.#groups = new ListWatch<boolean>({
      kc,
      name: "scale-groups",
      path: `/apis/${GROUP}/${VERSION}/${PLURAL}`,
      transform: (raw) => {
        const status = raw.status as
          { conditions?: { type: string; status: string }[] } | undefined;
        return (status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");
      },
      onEvent: (type, _key, ready, old) => {
        this.readyGroups += (type !== "delete" && ready ? 1 : 0) - (old === true ? 1 : 0);
        if (this.readyGroups >= this.#groupCount && this.allReadyAt === undefined) {
          this.allReadyAt = now();
        }
      },
    });
  }

  #leader(app: string, delta: number): void {
    const before = this.#leadersByApp.get(app) ?? 0;
    const after = before + delta;
    this.#leadersByApp.set(app, after);
    this.labelledGroups += (after === 1 ? 1 : 0) - (before === 1 ? 1 : 0);
    if (this.labelledGroups >= this.#groupCount && this.allLabelledAt === undefined) {
      this.allLabelledAt = now();
    }
  }

  async start(): Promise<void> {
    this.#pods.start();
    this.#groups.start();
    await this.#pods.waitForSync();
    await this.#groups.waitForSync();
  }

  async stop(): Promise<void> {
    await this.#pods.stop();
    await this.#groups.stop();
  }
}
