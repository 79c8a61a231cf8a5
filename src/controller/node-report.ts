import { EventReason } from "../api/constants.ts";
import type { ElectionGroup } from "../api/types.ts";
import { disruptionChange } from "../election/index.ts";
import type { NodeDisruption } from "../election/index.ts";
import type { EventRecorder } from "../observability/events.ts";
import type { Logger } from "../observability/logger.ts";
import type { OperatorMetrics } from "../observability/metrics.ts";
import { nodeDisruptionGauge } from "./node-metrics.ts";
import { subjectOf } from "./report.ts";

/**
 * Says that a group's disruption guard began or ended, so it never happens
 * silently: a Warning Event (NodeDisruption) and a warn log line when it
 * begins, a Normal Event (NodeDisruptionEnded) and an info line when it ends,
 * and the group's `podium_electiongroup_node_disruption` gauge either way.
 * The NodeDisruption condition is written with the group's status.
 */
export function reportNodeDisruption(
  sinks: { recorder: EventRecorder; metrics: OperatorMetrics },
  group: ElectionGroup,
  disruption: NodeDisruption,
  log: Logger,
): void {
  const { namespace, name } = group.metadata;
  const gauge = nodeDisruptionGauge(sinks.metrics.registry);
  for (const reason of ["MostHeartbeatsStale", "WatchesStalled"] as const) {
    if (reason !== disruption.reason) gauge.remove({ namespace, name, reason });
  }
  if (disruption.active) gauge.set({ namespace, name, reason: disruption.reason }, 1);

  const change = disruptionChange(group.status, disruption);
  const fields = {
    reason: disruption.reason,
    silentNodes: disruption.silentNodes,
    nodes: disruption.nodes,
  };
  if (change === "began") {
    sinks.recorder.record(
      subjectOf(group),
      "Warning",
      EventReason.NodeDisruption,
      "Guard",
      disruption.message,
    );
    log.warn(fields, "node heartbeats distrusted: demoting nobody on them");
  } else if (change === "ended") {
    sinks.recorder.record(
      subjectOf(group),
      "Normal",
      EventReason.NodeDisruptionEnded,
      "Guard",
      "node heartbeats are trusted again",
    );
    log.info(fields, "node heartbeats trusted again");
  }
}

/** Removes a deleted group's disruption series. */
export function forgetNodeDisruption(metrics: OperatorMetrics, namespace: string, name: string) {
  const gauge = nodeDisruptionGauge(metrics.registry);
  for (const reason of ["MostHeartbeatsStale", "WatchesStalled"]) {
    gauge.remove({ namespace, name, reason });
  }
}
