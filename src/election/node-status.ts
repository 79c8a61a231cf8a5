import { ConditionType } from "../api/constants.ts";
import type { ElectionGroupStatus } from "../api/types.ts";
import type { NodeDisruption } from "./nodes.ts";
import { getCondition, setCondition } from "./status.ts";

/** How the NodeDisruption condition changes from `status` to `disruption`. */
export type DisruptionChange = "began" | "ended" | "unchanged";

/**
 * Returns whether the guard begins or ends compared with the NodeDisruption
 * condition `status` holds (a group never judged counts as trusting heartbeats).
 */
export function disruptionChange(
  status: ElectionGroupStatus | undefined,
  disruption: NodeDisruption,
): DisruptionChange {
  const was = getCondition(status?.conditions, ConditionType.NodeDisruption)?.status === "True";
  return disruption.active === was ? "unchanged" : disruption.active ? "began" : "ended";
}

/**
 * Writes the NodeDisruption condition: True (reason MostHeartbeatsStale or
 * WatchesStalled) while podium demotes nobody on node heartbeats, False
 * (HeartbeatsTrusted) otherwise, with the count of silent nodes.
 */
export function fillNodeDisruption(
  status: ElectionGroupStatus,
  disruption: NodeDisruption,
  generation: number,
  nowIso: string,
): void {
  status.conditions = setCondition(
    status.conditions,
    {
      type: ConditionType.NodeDisruption,
      status: disruption.active ? "True" : "False",
      reason: disruption.reason,
      message: disruption.message,
      observedGeneration: generation,
    },
    nowIso,
  );
}
