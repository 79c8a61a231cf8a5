import { PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import type { V1Pod } from "@kubernetes/client-node";
import { ChaosMachines } from "./chaos-machines.ts";
import { restartApiServer } from "./cluster-control.ts";
import type { FaultProxy, FaultRule } from "./fault-proxy.ts";
import type { InvariantChecker, PodState } from "./invariant-checker.ts";
import { setPodReady } from "./kube.ts";
import type { Clients } from "./kube.ts";
import type { Background, Disruptions, OperatorReplicas } from "./operator-replicas.ts";
import { patchGroupSpec } from "./groups.ts";
import { createBarePod, deletePod, patchPodMetadata } from "./pods.ts";

// The steps of the randomized chaos run (test/integration/chaos.test.ts):
// what kubelets, controllers, people, the network and the control plane do
// to the groups' pods and to the operator. Adding a step kind is one entry in
// WEIGHTS and one case in `apply`.

/** How often each kind of step is drawn, relative to the others. */
export const WEIGHTS = {
  podNotReady: 12,
  podReady: 18,
  leaderNotReady: 10,
  deletePod: 5,
  deleteLeader: 6,
  recreateBarePod: 5,
  scale: 5,
  rollout: 5,
  hijack: 7,
  preferredHolder: 4,
  operatorKill: 3,
  operatorPause: 3,
  operatorMidTransition: 3,
  proxyFault: 4,
  apiserverRestart: 0.4,
  // A machine dies (heartbeat stops, pods stay Ready), or its Node is deleted.
  machineKill: 2,
  nodeDelete: 1.5,
} as const;
export type StepKind = keyof typeof WEIGHTS;
const KINDS = Object.keys(WEIGHTS) as StepKind[];
/**
 * Faults of the operator's own machinery. While one is recovering, check (b)
 * does not count the time (fail-static), so the run alternates calm phases
 * without these and storm phases with every kind.
 */
const INFRA_KINDS: readonly StepKind[] = [
  "operatorKill",
  "operatorPause",
  "operatorMidTransition",
  "proxyFault",
  "apiserverRestart",
];

/** One app of the run: a Deployment, or `bare` pods named <name>-0, <name>-1, ... */
export interface GroupDef {
  name: string;
  bare: boolean;
}

export interface ChaosWorld {
  /** The admin kubeconfig (to restart the API server of its cluster). */
  kubeconfig: string;
  clients: Clients;
  namespace: string;
  groups: readonly GroupDef[];
  /** Pods per bare group. */
  barePods: number;
  /** Draws the step sequence: a seeded source replays a run's choices. */
  random: () => number;
  checker: () => InvariantChecker | undefined;
  proxy: () => FaultProxy | undefined;
  replicas: OperatorReplicas;
  disruptions: Disruptions;
  background: Background;
  /** The machines the bare groups' pods run on (chaos-machines.ts). */
  machines: ChaosMachines;
  maxApiserverRestarts: number;
  maxBlackholes: number;
  /** The operator's --kube-api-timeout: a blackholed request hangs this long. */
  requestTimeoutMs: number;
  /** The operator's --watch-inactivity-timeout: a silent watch is noticed this late. */
  watchInactivityMs: number;
}

/** Draws and performs the chaos run's steps, and counts the faults it injected. */
export class ChaosSteps {
  apiserverRestarts = 0;
  blackholes = 0;
  /** A proxy fault is on: no second one until it is cleared. */
  proxyBusy = false;
  /** How long each API server restart took. */
  readonly restartMs: number[] = [];
  readonly #w: ChaosWorld;

  constructor(world: ChaosWorld) {
    this.#w = world;
  }

  /** An item of `items` drawn from the step sequence; undefined when there is none. */
  pick<T>(items: readonly T[]): T | undefined {
    return items[Math.floor(this.#w.random() * items.length)];
  }

  /** An integer in [lo, hi] drawn from the step sequence. */
  between(lo: number, hi: number): number {
    return lo + Math.floor(this.#w.random() * (hi - lo + 1));
  }

  /** The pods of `g` the checker has seen, terminating ones left out. */
  podsOf(g: GroupDef): PodState[] {
    return (this.#w.checker()?.pods() ?? []).filter(
      (p) => p.labels.app === g.name && !p.terminating,
    );
  }

  /** The pod of `g` that carries the leader label, if any. */
  leaderOf(g: GroupDef): PodState | undefined {
    return this.podsOf(g).find((p) => p.labels.role === "leader");
  }

  /** A kind of step by WEIGHTS; the infrastructure faults only in a `storm`. */
  pickKind(storm: boolean): StepKind {
    const kinds = storm ? KINDS : KINDS.filter((k) => !INFRA_KINDS.includes(k));
    const total = kinds.reduce((sum, k) => sum + WEIGHTS[k], 0);
    let r = this.#w.random() * total;
    for (const k of kinds) {
      r -= WEIGHTS[k];
      if (r < 0) return k;
    }
    return "podReady";
  }

  /** Performs one step; false when it had nothing to act on. */
  async apply(kind: StepKind, step: number): Promise<boolean> {
    const { clients, namespace, groups, replicas } = this.#w;
    const g = this.pick(groups);
    if (!g) return false;
    const pods = this.podsOf(g);
    switch (kind) {
      case "podNotReady": {
        const p = this.pick(pods.filter((x) => x.ready));
        if (!p) return false;
        await setPodReady(clients, namespace, p.name, false);
        return true;
      }
      case "podReady": {
        // Only a Running pod: Ready=True on a Pending one stops kwok's
        // pod-ready stage from ever matching it, and the pod stays Pending.
        const running = pods.filter((x) => x.phase === "Running");
        const notReady = running.filter((x) => !x.ready);
        const p = this.pick(notReady.length > 0 ? notReady : running);
        if (!p) return false;
        await setPodReady(clients, namespace, p.name, true);
        return true;
      }
      case "leaderNotReady": {
        const p = this.leaderOf(g);
        if (!p) return false;
        await setPodReady(clients, namespace, p.name, false);
        return true;
      }
      case "deletePod":
      case "deleteLeader": {
        const p = kind === "deleteLeader" ? this.leaderOf(g) : this.pick(pods);
        if (!p) return false;
        await deletePod(clients, namespace, p.name, this.#w.random() < 0.3 ? 0 : undefined);
        return true;
      }
      case "recreateBarePod": {
        if (!g.bare) return false;
        const present = new Set((this.#w.checker()?.pods() ?? []).map((p) => p.name));
        const missing = Array.from(
          { length: this.#w.barePods },
          (_, i) => `${g.name}-${String(i)}`,
        ).filter((n) => !present.has(n));
        const name = this.pick(missing);
        if (name === undefined) return false;
        const nodeName = this.#w.machines.nodeOfBarePod(name);
        await createBarePod(clients, namespace, name, {
          labels: { app: g.name },
          ...(nodeName === undefined ? {} : { nodeName }),
        });
        return true;
      }
      case "scale":
      case "rollout": {
        if (g.bare) return false;
        const spec =
          kind === "scale"
            ? { replicas: this.between(1, 4) }
            : { template: { metadata: { annotations: { "chaos.podium.dev/rev": String(step) } } } };
        await clients.apps.patchNamespacedDeployment(
          { name: g.name, namespace, body: { spec } },
          setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
        );
        return true;
      }
      case "hijack": {
        const p = this.pick(pods.filter((x) => x.labels.role !== "leader"));
        if (!p) return false;
        const patched: V1Pod = await patchPodMetadata(clients, namespace, p.name, {
          labels: { role: "leader" },
        });
        this.#w.checker()?.noteForeignLabel(p.name, patched.metadata?.resourceVersion ?? "");
        return true;
      }
      case "preferredHolder": {
        const p = this.#w.random() < 0.4 ? undefined : this.pick(pods);
        await patchGroupSpec(clients, namespace, g.name, { preferredHolder: p?.name ?? null });
        return true;
      }
      case "operatorKill": {
        const slot = this.pick(replicas.slots.filter((s) => s.proc !== undefined));
        if (!slot) return false;
        return replicas.kill(slot, slot.paused || this.#w.random() < 0.5 ? "SIGKILL" : "SIGTERM");
      }
      case "operatorPause": {
        const slot = this.pick(replicas.slots.filter((s) => s.proc !== undefined && !s.paused));
        if (!slot) return false;
        return replicas.pause(slot, this.between(1_000, 6_000));
      }
      case "operatorMidTransition": {
        // DESIGN §2.8: the active replica stops (or dies) while it is moving a
        // leader; the standby takes over after the operator's Lease expires,
        // and the resumed replica must not write on the strength of what it
        // decided before.
        const active = await replicas.active(clients);
        const led = this.pick(groups.filter((x) => this.leaderOf(x) !== undefined));
        const p = led ? this.leaderOf(led) : undefined;
        if (!active || active.paused || !p) return false;
        await setPodReady(clients, namespace, p.name, false);
        // 0-30 ms in, so that the reconcile it triggers is between its writes.
        if (this.between(0, 2) > 0) {
          await new Promise((resolve) => setTimeout(resolve, this.between(0, 30)));
        }
        return this.#w.random() < 0.7
          ? replicas.pause(active, this.between(3_500, 7_000))
          : replicas.kill(active, "SIGKILL");
      }
      case "machineKill":
      case "nodeDelete": {
        const del = kind === "nodeDelete";
        const i = this.between(0, this.#w.machines.count - 1);
        return this.#w.machines.fail(i, del, ChaosMachines.downMs(del, this.#w.random));
      }
      case "proxyFault":
        return this.#proxyFault();
      case "apiserverRestart": {
        if (this.apiserverRestarts >= this.#w.maxApiserverRestarts) return false;
        this.apiserverRestarts += 1;
        const d = this.#w.disruptions.begin("kube-apiserver restart", 10_000);
        try {
          const { ms } = await restartApiServer(this.#w.kubeconfig, {
            signal: this.#w.random() < 0.5 ? "KILL" : "TERM",
          });
          this.restartMs.push(ms);
        } finally {
          this.#w.disruptions.over(d);
        }
        return true;
      }
    }
  }

  /** Latency, connection resets, failed requests or a blackhole between the operator and the API server. */
  #proxyFault(): boolean {
    const px = this.#w.proxy();
    if (!px || this.proxyBusy) return false;
    const fault = this.pick(["latency", "reset", "fail", "blackhole"] as const);
    if (fault === undefined) return false;
    if (fault === "blackhole" && this.blackholes >= this.#w.maxBlackholes) return false;
    this.proxyBusy = true;
    let ms = 0;
    /** How long after the fault requests sent into it may still hang. */
    let hangMs = 0;
    switch (fault) {
      case "latency":
        ms = this.between(1_000, 4_000);
        px.setLatency(this.between(50, 400));
        break;
      case "reset":
        px.resetConnections();
        break;
      case "fail": {
        ms = 3_000;
        const status = this.pick([429, 500, 503]) ?? 503;
        const rule: FaultRule = { status, count: this.between(1, 5) };
        // Mostly writes; a failed list or watch costs the operator a
        // backoff that grows with each failure, so those fail once.
        const verb =
          this.#w.random() < 0.8
            ? this.pick(["patch", "update", "create"])
            : this.pick(["list", "watch"]);
        if (verb === "list" || verb === "watch") rule.count = 1;
        const resource =
          this.#w.random() < 0.7 ? this.pick(["pods", "leases", "electiongroups"]) : undefined;
        if (verb !== undefined) rule.verb = verb;
        if (resource !== undefined) rule.resource = resource;
        if (status === 429) rule.retryAfterSeconds = 1;
        px.failRequests(rule);
        break;
      }
      case "blackhole":
        this.blackholes += 1;
        ms = this.between(500, 2_000);
        // Requests sent into it hang until the request timeout, a watch
        // started in it until the inactivity deadline.
        hangMs = Math.max(this.#w.requestTimeoutMs, this.#w.watchInactivityMs) + 1_000;
        px.blackhole(ms);
        break;
    }
    const d = this.#w.disruptions.begin(`proxy ${fault}`);
    this.#w.background.later(ms, () => {
      px.clear();
      this.proxyBusy = false;
    });
    this.#w.background.later(ms + hangMs, () => {
      this.#w.disruptions.over(d);
    });
    return true;
  }
}
