import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/**
 * The operator's Prometheus metrics on one registry: Node's process metrics,
 * podium's own election metrics, and (registered by their modules on the same
 * registry) controller-runtime-compatible reconcile, workqueue, client and
 * leader-election metrics, so existing dashboards work unchanged.
 */
export interface OperatorMetrics {
  registry: Registry;
  transitions: Counter<"namespace" | "name" | "reason">;
  leader: Gauge<"namespace" | "name" | "pod">;
  failoverSeconds: Histogram<"namespace" | "name">;
  /** Each step of a cutover, from the detection of its cause (see TransitionPhases). */
  failoverPhaseSeconds: Histogram<"phase">;
  groups: Gauge<"namespace" | "name" | "mode">;
  readyCandidates: Gauge<"namespace" | "name">;
}

export function createMetrics(registry = new Registry()): OperatorMetrics {
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    transitions: new Counter({
      name: "podium_electiongroup_transitions_total",
      help: "Leadership transitions of an ElectionGroup, by reason.",
      labelNames: ["namespace", "name", "reason"],
      registers: [registry],
    }),
    leader: new Gauge({
      name: "podium_electiongroup_leader",
      help: "1 for the pod that currently leads an ElectionGroup.",
      labelNames: ["namespace", "name", "pod"],
      registers: [registry],
    }),
    failoverSeconds: new Histogram({
      name: "podium_failover_seconds",
      help: "Time from detecting that leadership must move to the new leader carrying the label.",
      labelNames: ["namespace", "name"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    failoverPhaseSeconds: new Histogram({
      name: "podium_failover_phase_seconds",
      help: "Time from detecting that leadership must move to each step of the cutover: labelRemoved, leaseWritten, labelWritten, oldEndpointGone, newEndpointReady.",
      labelNames: ["phase"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    groups: new Gauge({
      name: "podium_electiongroup_info",
      help: "1 for each ElectionGroup podium manages, labelled with its mode.",
      labelNames: ["namespace", "name", "mode"],
      registers: [registry],
    }),
    readyCandidates: new Gauge({
      name: "podium_electiongroup_ready_candidates",
      help: "Ready candidates of an ElectionGroup; 0 means it is leaderless.",
      labelNames: ["namespace", "name"],
      registers: [registry],
    }),
  };
}
