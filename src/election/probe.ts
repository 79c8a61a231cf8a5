import { ConditionType } from "../api/constants.ts";
import { MAX_FAILED_PROBES } from "../api/defaults.ts";
import type { ElectionGroupStatus, FailedProbe, LeaderProbe, ProbePort } from "../api/types.ts";
import { setCondition } from "./status.ts";
import type { PodView } from "./types.ts";

/**
 * What the operator's prober recorded for one pod of a probed group: the run
 * of failures it is in (none after a success) and when each kind of result
 * came last. Times are the operator's local clock, epoch milliseconds.
 */
export interface ProbeRecord {
  /** Failed attempts since the last success (or since probing began). */
  consecutiveFailures: number;
  /** When the first failure of the current run came; unset while it passes. */
  failingSince?: number;
  /** When the last attempt succeeded; unset when none has. */
  lastSuccessAt?: number;
  /** What the last failed attempt said (refused, timed out, HTTP 500, ...). */
  lastError?: string;
}

/** Why the probe disqualifies a pod: `failures` in a row since `since`, the last saying `error`. */
export interface ProbeProblem {
  failures: number;
  since: number;
  error: string;
}

/**
 * Returns the problem of a pod whose `record` shows at least `threshold`
 * consecutive failures, or undefined: a pod never probed, or probed with
 * fewer failures in a row, or whose last attempt passed, is not held back
 * (one success makes it a candidate again, as the kubelet's successThreshold
 * of 1).
 */
export function judgeProbe(
  record: ProbeRecord | undefined,
  threshold: number,
): ProbeProblem | undefined {
  if (record === undefined || record.consecutiveFailures < Math.max(1, threshold)) return undefined;
  return {
    failures: record.consecutiveFailures,
    since: record.failingSince ?? 0,
    error: record.lastError ?? "failed",
  };
}

/**
 * Returns `pods` with their probe judgement (`probeProblem`) from `recordOf`
 * (the prober's record of each pod, by uid) for a group with `probe`.
 */
export function judgePodProbes(
  pods: readonly PodView[],
  probe: Pick<LeaderProbe, "failureThreshold">,
  recordOf: (uid: string) => ProbeRecord | undefined,
): PodView[] {
  return pods.map((pod) => {
    const problem = judgeProbe(recordOf(pod.uid), probe.failureThreshold);
    const out: PodView = { ...pod };
    delete out.probeProblem;
    if (problem !== undefined) out.probeProblem = problem;
    return out;
  });
}

/** One line on why the probe disqualifies a pod, for status, Events and the plugin. */
export function probeProblemText(problem: ProbeProblem, now: number): string {
  const secs = Math.max(0, Math.round((now - problem.since) / 1000));
  return `failed its probe ${String(problem.failures)} times in a row for ${String(secs)}s (last: ${problem.error})`;
}

/** A probe's handler, port resolved: what the prober dials. */
export type ProbeAction =
  | { kind: "tcp"; port: number }
  | { kind: "http"; port: number; path: string; scheme: "HTTP" | "HTTPS" };

/** What podium knows of a pod's network: its IP and its containers' named ports. */
export interface PodNetwork {
  ip?: string;
  /** Container port numbers by name (ports without a name are not here). */
  ports?: Readonly<Record<string, number>>;
}

/** The probe of one pod, ready to dial; or why it cannot be. */
export type ProbePlan =
  | { ok: true; ip: string; action: ProbeAction }
  | { ok: false; reason: "PortNotFound" | "NoPodIP"; message: string };

/** The number `port` names on a pod with `ports`, or undefined for a name the pod lacks. */
export function resolvePort(
  port: ProbePort,
  ports: Readonly<Record<string, number>> | undefined,
): number | undefined {
  if (typeof port === "number") return port;
  return ports !== undefined && Object.hasOwn(ports, port) ? ports[port] : undefined;
}

/**
 * Plans `probe` against pod `podName` with `network`: its IP and the port
 * number (a name looked up among its container ports, as the kubelet does).
 * A name the pod does not have, or a pod without an IP yet, cannot be probed:
 * the caller must say so (condition, Event, log), not skip it silently.
 */
export function planProbe(probe: LeaderProbe, podName: string, network: PodNetwork): ProbePlan {
  const handler = probe.httpGet ?? probe.tcpSocket;
  if (handler === undefined) {
    return { ok: false, reason: "PortNotFound", message: "the probe has no handler" };
  }
  const port = resolvePort(handler.port, network.ports);
  if (port === undefined) {
    const field = probe.httpGet ? "httpGet" : "tcpSocket";
    return {
      ok: false,
      reason: "PortNotFound",
      message: `pod ${podName} has no container port named ${String(handler.port)} (spec.failureDetection.probe.${field}.port): it is not probed`,
    };
  }
  if (network.ip === undefined || network.ip === "") {
    return {
      ok: false,
      reason: "NoPodIP",
      message: `pod ${podName} has no IP yet: it is not probed`,
    };
  }
  const action: ProbeAction = probe.httpGet
    ? { kind: "http", port, path: probe.httpGet.path, scheme: probe.httpGet.scheme }
    : { kind: "tcp", port };
  return { ok: true, ip: network.ip, action };
}

/** The ProbeConfigured condition's state; undefined when the group has no probe. */
export interface ProbeCondition {
  status: "True" | "False";
  reason: "Probing" | "PortNotFound" | "NoPodIP" | "NoHolder";
  message: string;
}

/** The ProbeConfigured condition for a holder whose probe plan is `plan` (none: no holder). */
export function probeCondition(
  podName: string | undefined,
  plan: ProbePlan | undefined,
): ProbeCondition {
  if (podName === undefined || plan === undefined) {
    return { status: "True", reason: "NoHolder", message: "no holder to probe" };
  }
  if (!plan.ok) return { status: "False", reason: plan.reason, message: plan.message };
  const { action } = plan;
  const what =
    action.kind === "tcp"
      ? `TCP port ${String(action.port)}`
      : `${action.scheme} GET port ${String(action.port)}${action.path}`;
  return { status: "True", reason: "Probing", message: `podium probes the holder's ${what}` };
}

/**
 * Writes the ProbeConfigured condition, or removes it when `state` is
 * undefined (the group has no probe).
 */
export function fillProbeCondition(
  status: ElectionGroupStatus,
  state: ProbeCondition | undefined,
  generation: number,
  nowIso: string,
): void {
  if (state === undefined) {
    const kept = status.conditions?.filter((c) => c.type !== ConditionType.ProbeConfigured);
    if (kept !== undefined && kept.length !== status.conditions?.length) status.conditions = kept;
    return;
  }
  status.conditions = setCondition(
    status.conditions,
    { type: ConditionType.ProbeConfigured, observedGeneration: generation, ...state },
    nowIso,
  );
}

/**
 * Writes `status.failedProbes`: the pods of `pods` the probe disqualifies
 * (removed when none is), so that the plugin and users see them.
 */
export function fillFailedProbes(status: ElectionGroupStatus, pods: readonly PodView[]): void {
  const failed: FailedProbe[] = pods.flatMap((p) =>
    p.probeProblem === undefined
      ? []
      : [
          {
            pod: p.name,
            uid: p.uid,
            since: new Date(p.probeProblem.since).toISOString(),
            error: p.probeProblem.error.slice(0, 1024),
          },
        ],
  );
  if (failed.length > 0) status.failedProbes = failed.slice(0, MAX_FAILED_PROBES);
  else delete status.failedProbes;
}

/**
 * The probe records a group's status reports (`failedProbes`), by pod uid:
 * what the plugin, which cannot see the operator's prober, judges pods by.
 */
export function probeRecordsFromStatus(
  status: Pick<ElectionGroupStatus, "failedProbes"> | undefined,
  threshold: number,
): Map<string, ProbeRecord> {
  const out = new Map<string, ProbeRecord>();
  for (const f of status?.failedProbes ?? []) {
    const since = Date.parse(f.since);
    out.set(f.uid, {
      consecutiveFailures: Math.max(1, threshold),
      ...(Number.isNaN(since) ? {} : { failingSince: since }),
      lastError: f.error,
    });
  }
  return out;
}
