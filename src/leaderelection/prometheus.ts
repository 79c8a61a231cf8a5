import { Counter, Gauge } from "prom-client";
import type { Registry } from "prom-client";
import { perRegistry, registeredMetric } from "../kube/metrics.ts";
import type { LeaderElectionMetrics } from "./elector.ts";

/**
 * Reports every elector given the result to `registry` as client-go exports
 * it: `leader_election_master_status{name}` (1 while leading) and
 * `leader_election_slowpath_total{name}`.
 *
 * The only module of the elector that imports prom-client, so that the
 * package needs it only when an app asks for metrics (an optional peer
 * dependency of `podium-elector`, imported as `podium-elector/prometheus`).
 */
export function prometheusMetrics(registry: Registry): LeaderElectionMetrics {
  const { status, slowpath } = leaderElectionMetrics(registry);
  return {
    leading: (name, leading) => {
      status.set({ name }, leading ? 1 : 0);
      // Zero-initialised with the gauge, so a rate() over it starts at 0
      // instead of at the first slow path.
      slowpath.inc({ name }, 0);
    },
    slowpath: (name) => {
      slowpath.inc({ name });
    },
  };
}

/**
 * The `leader_election_*` metrics, shared by every elector on a registry.
 * Either may already be there from code outside this module (an app that
 * bundles a second copy of this library, say): it is adopted, not registered
 * twice, which the registry would refuse.
 */
const leaderElectionMetrics = perRegistry((registry: Registry) => ({
  status:
    registeredMetric(registry, "leader_election_master_status", Gauge) ??
    new Gauge({
      name: "leader_election_master_status",
      help: "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master. 'name' is the string used to identify the lease. Please make sure to group by name.",
      labelNames: ["name"],
      registers: [registry],
    }),
  slowpath:
    registeredMetric(registry, "leader_election_slowpath_total", Counter) ??
    new Counter({
      name: "leader_election_slowpath_total",
      help: "Total number of slow path exercised in renewing leader leases. 'name' is the string used to identify the lease. Please make sure to group by name.",
      labelNames: ["name"],
      registers: [registry],
    }),
}));
