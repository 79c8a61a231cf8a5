import { ConditionType, EventReason } from "../api/constants.ts";
import type { ElectionGroup } from "../api/types.ts";
import { getCondition } from "../election/index.ts";
import type { EventRecorder } from "../observability/events.ts";
import type { Logger } from "../observability/logger.ts";
import { subjectOf } from "./report.ts";

/**
 * Warns that an Observed group's Lease holder stands for no pod: a
 * HolderNotInGroup Warning Event and a log line, once per holder rather than
 * per reconcile. The Ready condition the group already shows is the memory:
 * when it carries this very message, the warning was given (by this replica
 * or a predecessor) and is not repeated. A holder that changes, or a mapping
 * that fails differently (a pod added makes it ambiguous), is warned anew.
 */
export function warnUnmappedHolder(
  recorder: EventRecorder,
  group: ElectionGroup,
  notice: { holder: string; message: string },
  log: Logger,
): void {
  const ready = getCondition(group.status?.conditions, ConditionType.Ready);
  if (ready?.reason === EventReason.HolderNotInGroup && ready.message === notice.message) return;
  recorder.record(
    subjectOf(group),
    "Warning",
    EventReason.HolderNotInGroup,
    "Reconcile",
    notice.message,
  );
  log.warn({ holder: notice.holder }, notice.message);
}
