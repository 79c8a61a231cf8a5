import { PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { ListWatch } from "../../src/kube/listwatch.ts";
import { setPodReady } from "../support/kube.ts";
import type { Clients } from "../support/kube.ts";
import { createBarePod, deletePod, patchPodMetadata } from "../support/pods.ts";
import type { LeaderLabelRecorder } from "../support/label-recorder.ts";
import type { LeaderJudge } from "./leaders.ts";

// The soak's churn (test/soak/run.ts): what it does to the groups' pods, one
// operation at a time, drawn from a seeded source so that a run's choices of
// operations and targets can be replayed, and the harness's own view of
// those pods that the operations are chosen from.

/** Pods of a group of bare pods, named <group>-0, <group>-1, ... */
export const BARE_PODS = 3;
/** Replicas of a group's Deployment, as set up and as the churn scales it back to. */
export const REPLICAS = 3;
/** A flapped leader is made Ready again this many ms later. */
const FLAP_MS: [number, number] = [2000, 6000];
/** An API operation of the churn that takes longer is abandoned (the loop goes on). */
export const OP_TIMEOUT_MS = 15_000;

export interface SoakGroup {
  name: string;
  namespace: string;
  bare: boolean;
  /** The Deployment's replicas as last set by the churn. */
  replicas: number;
  recorder: LeaderLabelRecorder;
  judge: LeaderJudge;
}

export interface PodView {
  namespace: string;
  name: string;
  app: string;
  ready: boolean;
  leader: boolean;
  terminating: boolean;
}

/** Every pod of the soak's namespaces, from one watch of the harness (not the operator's). */
export function podWatch(clients: Clients, namespaces: ReadonlySet<string>): ListWatch<PodView> {
  return new ListWatch<PodView>({
    kc: clients.kc,
    name: "soak-pods",
    path: "/api/v1/pods",
    transform: (raw) => {
      const meta = raw.metadata as {
        name: string;
        namespace?: string;
        labels?: Record<string, string>;
        deletionTimestamp?: string;
      };
      const namespace = meta.namespace ?? "";
      if (!namespaces.has(namespace)) return undefined;
      const status = raw.status as
        { phase?: string; conditions?: { type: string; status: string }[] } | undefined;
      return {
        namespace,
        name: meta.name,
        app: meta.labels?.app ?? "",
        leader: meta.labels?.role === "leader",
        terminating: meta.deletionTimestamp !== undefined,
        ready:
          status?.phase === "Running" &&
          (status.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True"),
      };
    },
    onEvent: () => undefined,
  });
}

export type OpKind = "leaderFlap" | "deletePod" | "scale" | "rollout" | "hijack";
const WEIGHTS: Record<OpKind, number> = {
  leaderFlap: 3,
  deletePod: 2,
  scale: 1,
  rollout: 1,
  hijack: 2,
};
const KINDS = Object.keys(WEIGHTS) as OpKind[];

export interface ChurnOptions {
  clients: Clients;
  groups: readonly SoakGroup[];
  pods: ListWatch<PodView>;
  /** Draws the churn's choices: a seeded source replays them. */
  random: () => number;
  /** Runs `fn` `ms` later unless the run is stopping by then. */
  later: (ms: number, fn: () => Promise<unknown>) => void;
  /** `p`, or a rejection after `ms`. */
  within: <T>(p: Promise<T>, ms: number, what: string) => Promise<T>;
  log: (message: string) => void;
}

/** The churn's operations and what became of them. */
export class Churn {
  /** Outcomes by operation kind. */
  readonly ops: Record<string, { ok: number; skipped: number; failed: number }> = {};
  /** Operations that acted. */
  done = 0;
  /** Pods the churn made NotReady and has not made Ready again yet. */
  readonly flapped = new Map<string, { namespace: string; name: string }>();
  readonly #o: ChurnOptions;

  constructor(options: ChurnOptions) {
    this.#o = options;
  }

  /** An item of `items` drawn from the churn's source; undefined when there is none. */
  pick<T>(items: readonly T[]): T | undefined {
    return items[Math.floor(this.#o.random() * items.length)];
  }

  /** An integer in [lo, hi] drawn from the churn's source. */
  between(lo: number, hi: number): number {
    return lo + Math.floor(this.#o.random() * (hi - lo + 1));
  }

  count(kind: string, outcome: "ok" | "skipped" | "failed"): void {
    const c = (this.ops[kind] ??= { ok: 0, skipped: 0, failed: 0 });
    c[outcome] += 1;
  }

  /** The pods of `g` as the harness's watch sees them, terminating ones included. */
  podsOf(g: SoakGroup): PodView[] {
    return this.#o.pods.list().filter((p) => p.namespace === g.namespace && p.app === g.name);
  }

  /** The labelled pod of `g` that is not terminating, if any. */
  leaderOf(g: SoakGroup): PodView | undefined {
    return this.podsOf(g).find((p) => p.leader && !p.terminating);
  }

  /** Makes a pod the churn flapped Ready again (a pod gone meanwhile is no error). */
  async makeReady(namespace: string, name: string): Promise<void> {
    this.flapped.delete(`${namespace}/${name}`);
    try {
      await this.#o.within(
        setPodReady(this.#o.clients, namespace, name, true),
        OP_TIMEOUT_MS,
        "ready",
      );
    } catch (err) {
      if ((err as { code?: number }).code !== 404)
        this.#o.log(`making ${name} Ready: ${String(err)}`);
    }
  }

  /** Merge-patches the spec of `g`'s Deployment. */
  patchDeployment(g: SoakGroup, spec: Record<string, unknown>): Promise<unknown> {
    return this.#o.clients.apps.patchNamespacedDeployment(
      { name: g.name, namespace: g.namespace, body: { spec } },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
  }

  /** Creates the bare pods the churn deleted, once their names are free. */
  async recreateBarePods(): Promise<void> {
    for (const g of this.#o.groups.filter((x) => x.bare)) {
      const present = new Set(this.podsOf(g).map((p) => p.name));
      for (let p = 0; p < BARE_PODS; p++) {
        const name = `${g.name}-${String(p)}`;
        if (present.has(name)) continue;
        try {
          await this.#o.within(
            createBarePod(this.#o.clients, g.namespace, name, { labels: { app: g.name } }),
            OP_TIMEOUT_MS,
            "create",
          );
          this.count("recreateBarePod", "ok");
        } catch (err) {
          // 409: the watch had not seen it yet, or it is still being deleted.
          this.count(
            "recreateBarePod",
            (err as { code?: number }).code === 409 ? "skipped" : "failed",
          );
        }
      }
    }
  }

  /** A kind of operation by WEIGHTS. */
  pickKind(): OpKind {
    const total = KINDS.reduce((s, k) => s + WEIGHTS[k], 0);
    let r = this.#o.random() * total;
    for (const k of KINDS) {
      r -= WEIGHTS[k];
      if (r < 0) return k;
    }
    return "leaderFlap";
  }

  /** One operation; false when there was nothing to act on. */
  async apply(kind: OpKind, step: number): Promise<boolean> {
    const { clients, groups } = this.#o;
    const eligible =
      kind === "scale" || kind === "rollout" ? groups.filter((g) => !g.bare) : groups;
    const g = this.pick(eligible);
    if (g === undefined) return false;
    const live = this.podsOf(g).filter((p) => !p.terminating);
    const leader = live.find((p) => p.leader);
    switch (kind) {
      case "leaderFlap": {
        if (!leader?.ready) return false;
        const wait = this.between(FLAP_MS[0], FLAP_MS[1]);
        await setPodReady(clients, g.namespace, leader.name, false);
        this.flapped.set(`${g.namespace}/${leader.name}`, {
          namespace: g.namespace,
          name: leader.name,
        });
        this.#o.later(wait, () => this.makeReady(g.namespace, leader.name));
        return true;
      }
      case "deletePod": {
        const target =
          this.#o.random() < 0.5
            ? leader
            : this.pick(live.filter((p) => !p.leader && p !== leader));
        if (target === undefined) return false;
        await deletePod(clients, g.namespace, target.name);
        return true;
      }
      case "scale": {
        g.replicas = g.replicas === REPLICAS ? REPLICAS + 1 : REPLICAS;
        await this.patchDeployment(g, { replicas: g.replicas });
        return true;
      }
      case "rollout": {
        await this.patchDeployment(g, {
          template: { metadata: { annotations: { "soak.podium.dev/rev": String(step) } } },
        });
        return true;
      }
      case "hijack": {
        const target = this.pick(live.filter((p) => !p.leader));
        if (leader === undefined || target === undefined) return false;
        g.judge.hijacking(target.name, Date.now());
        await patchPodMetadata(clients, g.namespace, target.name, { labels: { role: "leader" } });
        return true;
      }
    }
  }
}
