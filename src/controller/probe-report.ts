import { ConditionType, EventReason, TransitionReason } from "../api/constants.ts";
import type { ElectionGroup, ElectionGroupSpec } from "../api/types.ts";
import { getCondition, planProbe, probeCondition, probeProblemText } from "../election/index.ts";
import type { PodRef, ProbeCondition, Transition } from "../election/index.ts";
import type { EventRecorder } from "../observability/events.ts";
import type { Logger } from "../observability/logger.ts";
import type { Loaded } from "./load.ts";
import type { Prober, ProbeTarget } from "./prober.ts";
import { subjectOf } from "./report.ts";

/**
 * Tells the prober what to probe for a group after its decision: the holder,
 * and the pods the probe holds back (so that they can pass again), each only
 * when its port and IP resolve. Returns the ProbeConfigured condition (undefined
 * without a probe) and reports, once per change, a probe that cannot be used
 * (Warning Event ProbeUnusable and a log line) and a holder failed by its probe
 * (Warning Event ProbeFailed).
 */
export function syncProbes(
  deps: { prober?: Prober; recorder: EventRecorder; now: () => number },
  loaded: Loaded,
  spec: ElectionGroupSpec,
  holder: PodRef | undefined,
  transition: Transition | undefined,
  log: Logger,
): ProbeCondition | undefined {
  const { group } = loaded;
  const key = `${group.metadata.namespace}/${group.metadata.name}`;
  // Observed groups are not probed: the pods' own election decides who leads.
  const probe = spec.mode === "Managed" ? spec.failureDetection?.probe : undefined;
  if (probe === undefined || deps.prober === undefined) {
    deps.prober?.forget(key);
    return undefined;
  }
  const timing = {
    periodMs: probe.periodSeconds * 1000,
    timeoutMs: probe.timeoutSeconds * 1000,
    failureThreshold: probe.failureThreshold,
  };
  const targets: ProbeTarget[] = [];
  let holderPlan: ReturnType<typeof planProbe> | undefined;
  for (const pod of loaded.pods) {
    const view = loaded.podViews.find((v) => v.uid === pod.uid);
    const isHolder = holder?.uid === pod.uid;
    if (!isHolder && view?.probeProblem === undefined) continue;
    const plan = planProbe(probe, pod.name, {
      ...(pod.podIP === undefined ? {} : { ip: pod.podIP }),
      ...(pod.namedPorts === undefined ? {} : { ports: pod.namedPorts }),
    });
    if (isHolder) holderPlan = plan;
    if (plan.ok)
      targets.push({ uid: pod.uid, pod: pod.name, ip: plan.ip, action: plan.action, ...timing });
  }
  deps.prober.set(key, targets);
  const condition = probeCondition(holder?.name, holderPlan);
  reportChanges(deps.recorder, group, condition, transition, loaded, deps.now(), log);
  return condition;
}

function reportChanges(
  recorder: EventRecorder,
  group: ElectionGroup,
  condition: ProbeCondition,
  transition: Transition | undefined,
  loaded: Loaded,
  now: number,
  log: Logger,
): void {
  const current = getCondition(group.status?.conditions, ConditionType.ProbeConfigured);
  if (condition.status === "False" && current?.message !== condition.message) {
    recorder.record(
      subjectOf(group),
      "Warning",
      EventReason.ProbeUnusable,
      "Probe",
      condition.message,
    );
    log.warn({ reason: condition.reason }, condition.message);
  }
  if (transition?.reason === TransitionReason.ProbeFailed && transition.from !== "") {
    const problem = loaded.podViews.find((p) => p.name === transition.from)?.probeProblem;
    const message = `pod ${transition.from} ${problem ? probeProblemText(problem, now) : "failed its probe"}: it is no candidate until it passes again`;
    recorder.record(subjectOf(group), "Warning", EventReason.ProbeFailed, "Probe", message);
    log.info({ pod: transition.from }, message);
  }
}
