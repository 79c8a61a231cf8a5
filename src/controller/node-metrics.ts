import { Gauge } from "prom-client";
import type { Registry } from "prom-client";
import { DEFAULT_NODE_HEARTBEAT_GRACE_SECONDS } from "../api/defaults.ts";
import { heartbeatStale } from "../election/index.ts";
import type { Clock } from "../kube/clock.ts";
import { perRegistry } from "../kube/metrics.ts";
import type { Store } from "../sources/store.ts";
import { nodeViews } from "../sources/views.ts";

/** The per-group disruption gauge, shared by every reconciler on a registry. */
export const nodeDisruptionGauge = perRegistry(
  (registry: Registry) =>
    new Gauge({
      name: "podium_electiongroup_node_disruption",
      help: "1 while a group distrusts node heartbeats (most look stale at once, or podium's watches stall) and demotes nobody on them.",
      labelNames: ["namespace", "name", "reason"],
      registers: [registry],
    }),
);

/**
 * Registers the cluster's node-staleness gauges, computed from the caches at
 * each scrape (no timer): how many nodes look silent by the default grace,
 * how many are watched, and the oldest heartbeat podium holds.
 */
export function registerNodeMetrics(registry: Registry, store: Store, clock: Clock): void {
  if (registry.getSingleMetric("podium_nodes_silent") !== undefined) return;
  const graceMs = DEFAULT_NODE_HEARTBEAT_GRACE_SECONDS * 1000;
  new Gauge({
    name: "podium_nodes_silent",
    help: `Nodes whose heartbeat Lease podium has not seen renewed for the default grace (${String(DEFAULT_NODE_HEARTBEAT_GRACE_SECONDS)} s), or whose Ready condition is Unknown.`,
    registers: [registry],
    collect() {
      const now = clock.now();
      this.set(
        nodeViews(store).filter((n) => n.ready === "Unknown" || heartbeatStale(n, graceMs, now))
          .length,
      );
    },
  });
  new Gauge({
    name: "podium_nodes",
    help: "Nodes podium watches.",
    registers: [registry],
    collect() {
      this.set(store.nodes().length);
    },
  });
  new Gauge({
    name: "podium_node_heartbeat_max_age_seconds",
    help: "Seconds since podium saw the least recently renewed node heartbeat change (0 without heartbeats).",
    registers: [registry],
    collect() {
      const now = clock.now();
      const oldest = Math.min(...nodeViews(store).map((n) => n.heartbeatObservedAt ?? Infinity));
      this.set(Number.isFinite(oldest) ? Math.max(0, now - oldest) / 1000 : 0);
    },
  });
}
