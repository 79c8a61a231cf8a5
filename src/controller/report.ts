import {
  API_VERSION,
  ConditionType,
  EventReason,
  KIND,
  TransitionReason,
} from "../api/constants.ts";
import type { ElectionGroup, ElectionGroupStatus } from "../api/types.ts";
import { getCondition, sameStatus } from "../election/index.ts";
import type { ConditionState, Transition } from "../election/index.ts";
import type { EventRecorder, EventSubject } from "../observability/events.ts";
import type { Logger } from "../observability/logger.ts";
import type { OperatorMetrics } from "../observability/metrics.ts";
import type { OwnWrites } from "./own-writes.ts";
import type { Writer } from "./writer.ts";

/** What the report phase writes to. */
export interface ReportSinks {
  writer: Writer;
  ownWrites: OwnWrites;
  recorder: EventRecorder;
  metrics: OperatorMetrics;
  now: () => number;
}

/** The object a group's Events are about. */
export function subjectOf(group: ElectionGroup): EventSubject {
  const { namespace, name, uid } = group.metadata;
  return { apiVersion: API_VERSION, kind: KIND, namespace, name, uid };
}

/**
 * Writes the group's status once: `update` fills a copy of the status the
 * reconcile read, and nothing is written when it says the same thing. A
 * successful write is remembered (read-own-writes); a conflict throws, so the
 * queue retries with backoff.
 */
export async function writeStatus(
  sinks: ReportSinks,
  group: ElectionGroup,
  signal: AbortSignal,
  update: (status: ElectionGroupStatus, nowIso: string) => void,
): Promise<void> {
  // A shallow copy is enough: the updates assign top-level fields and build
  // new condition and history arrays, never mutating the cached ones.
  const next: ElectionGroupStatus = { ...group.status };
  update(next, new Date(sinks.now()).toISOString());
  next.observedGeneration = group.metadata.generation;
  if (sameStatus(group.status, next)) return;
  const { outcome, resourceVersion } = await sinks.writer.patchStatus(group, next, signal);
  if (outcome === "conflict") throw new Error("status update conflicted");
  if (outcome === "ok") sinks.ownWrites.statusWritten(group, next, resourceVersion ?? "");
}

/**
 * Records a Warning Event for a state the group reports in its Ready
 * condition, once: not again while Ready already shows `reason` for this
 * generation. Returns whether it recorded one.
 */
export function recordOncePerGeneration(
  recorder: EventRecorder,
  group: ElectionGroup,
  reason: string,
  message: string,
): boolean {
  const ready = getCondition(group.status?.conditions, ConditionType.Ready);
  if (ready?.reason === reason && ready.observedGeneration === group.metadata.generation) {
    return false;
  }
  recorder.record(subjectOf(group), "Warning", reason, "Reconcile", message);
  return true;
}

/**
 * Records a Warning Event and a log line when pods newly carry the leader
 * label's key with another value (the LabelConflict condition turns True or
 * names other pods): podium leaves their label alone, so they cannot lead.
 */
export function reportLabelConflict(
  recorder: EventRecorder,
  group: ElectionGroup,
  next: ConditionState,
  log: Logger,
): void {
  if (next.status !== "True") return;
  const current = getCondition(group.status?.conditions, ConditionType.LabelConflict);
  if (current?.status === "True" && current.message === next.message) return;
  recorder.record(subjectOf(group), "Warning", EventReason.LabelConflict, "Elect", next.message);
  log.info({ reason: EventReason.LabelConflict }, next.message);
}

/**
 * Reports a transition: the transitions metric, the fail-over duration (from
 * detection to the new leader's label) when a leader replaced another, the
 * LeaderElected / LeaderLost / NoReadyCandidates Events (and LeadershipHandedOver
 * for a hand-over during a rollout) and a log line.
 */
export function reportTransition(
  sinks: Pick<ReportSinks, "recorder" | "metrics">,
  group: ElectionGroup,
  transition: Transition,
  durationMs: number,
  log: Logger,
): void {
  const { metrics, recorder } = sinks;
  const labels = { namespace: group.metadata.namespace, name: group.metadata.name };
  metrics.transitions.inc({ ...labels, reason: transition.reason });
  const subject = subjectOf(group);
  if (transition.to !== "") {
    if (transition.from !== "") metrics.failoverSeconds.observe(labels, durationMs / 1000);
    recorder.record(
      subject,
      "Normal",
      EventReason.LeaderElected,
      "Elect",
      `pod ${transition.to} leads in epoch ${transition.epoch}` +
        (transition.from === "" ? "" : ` (was ${transition.from}: ${transition.reason})`),
    );
  }
  if (transition.reason === TransitionReason.Handover) {
    recorder.record(
      subject,
      "Normal",
      EventReason.LeadershipHandedOver,
      "Elect",
      `handed leadership from pod ${transition.from} to pod ${transition.to} of the new revision before ${transition.from} was terminated (spec.handover)`,
    );
  }
  if (transition.from !== "") {
    recorder.record(
      subject,
      "Normal",
      EventReason.LeaderLost,
      "Elect",
      `pod ${transition.from} lost leadership: ${transition.reason}` +
        (transition.node === undefined ? "" : ` (node ${transition.node})`),
    );
  }
  if (transition.to === "" && group.spec.mode !== "Observed") {
    recorder.record(
      subject,
      "Warning",
      EventReason.NoReadyCandidates,
      "Elect",
      "no ready pod matches the selector; the group is leaderless and the Lease is released",
    );
  }
  const { from, to, epoch, reason, node } = transition;
  log.info({ from, to, epoch, reason, node, durationMs }, "leadership moved");
}
