/** `kubectl podium why GROUP POD`: whether a pod leads and, if not, the reason. */
import type { LabelSelector, LabelSelectorRequirement } from "../api/types.ts";
import { matchesSelector, selectorToString } from "../election/index.ts";
import type { PodiumApi } from "./client.ts";
import { blockerText, eligibilityText, podWhyCell, ruleReason } from "./describe.ts";
import { readSpec } from "./explain.ts";
import type { GroupReport } from "./report.ts";
import { CliError } from "./errors.ts";
import { listing, timeAndAge } from "./format.ts";
import { loadReport } from "./status.ts";

/** A pod that exists but does not match the group's selector. */
export interface Outsider {
  name: string;
  labels: Readonly<Record<string, string>>;
}

export interface Why {
  leads: boolean;
  /** The explanation, first line the verdict. */
  lines: string[];
}

/**
 * Explains whether `pod` leads the group of `report`. `outsider` describes the
 * pod when it is not among the group's pods (it does not match `selector`).
 */
export function explainWhy(
  report: GroupReport,
  pod: string,
  selector: LabelSelector | undefined,
  outsider: Outsider | undefined,
  now: number,
): Why {
  const group = `ElectionGroup ${report.namespace}/${report.name}`;
  const label = `${report.leaderLabel.key}=${report.leaderLabel.value}`;
  const leader = report.holder === "" ? "no pod leads" : `${report.holder} leads`;
  const p = report.pods.find((x) => x.name === pod);
  const blockers = report.blockers.map((b) => blockerText(b, report));

  if (p === undefined) {
    const lines = [
      `${pod} does not lead ${group}: it does not match the selector ${report.selector}.`,
    ];
    if (outsider && selector) {
      const failing = failingRequirements(outsider.labels, selector);
      if (failing.length > 0) lines.push(`Unmet: ${listing(failing)}.`);
      if (outsider.labels[report.leaderLabel.key] === report.leaderLabel.value) {
        lines.push(
          `It carries ${label}, but no pod outside the selector is ever the group's leader; podium removes the label from a former holder that left the selector.`,
        );
      }
    }
    lines.push(`(${leader}.)`);
    return { leads: false, lines };
  }

  if (p.holder && p.labelled) {
    const lines = [
      `${pod} leads ${group} in epoch ${report.epoch}: the group's status names it as holder and it carries ${label}.`,
    ];
    if (report.lease && report.lease.holder !== pod) {
      lines.push(
        `But Lease ${report.lease.name} names ${report.lease.holder === "" ? "no holder" : report.lease.holder}: a transition is in flight.`,
      );
    }
    if (p.eligibility.kind !== "eligible") {
      lines.push(
        p.eligibility.kind === "notReady" && report.notReadyToleranceSeconds > 0
          ? `It is ${eligibilityText(p.eligibility, now)}, and keeps leadership for notReadyToleranceSeconds (${report.notReadyToleranceSeconds}s) from then.`
          : `It is ${eligibilityText(p.eligibility, now)}, so it is about to lose leadership.`,
      );
    }
    if (report.pending?.from === pod) {
      lines.push(
        `podium's rules move leadership to ${report.pending.to === "" ? "no pod" : report.pending.to} (${report.pending.reason}).`,
      );
    }
    if (report.mode === "Managed" && p.eligibility.kind === "eligible") {
      lines.push(
        `It keeps leadership while it stays a candidate (sticky); if it is lost, ${report.next ?? "no other pod"} takes over.`,
      );
    }
    lines.push(...blockers.map((b) => `Note: ${b}.`));
    return { leads: true, lines };
  }

  const lines: string[] = [];
  const verdict = (reason: string): void => {
    lines.push(`${pod} does not lead ${group}: ${reason}`);
  };
  if (blockers.length > 0) {
    verdict(`${blockers[0] ?? ""}.`);
    lines.push(...blockers.slice(1).map((b) => `Also: ${b}.`));
    lines.push(`The pod itself: ${podWhyCell(p, report, now)}.`);
  } else if (p.holder) {
    verdict(
      `the group's status names it as holder, but it does not carry ${label}: a transition in flight, or the label was removed by hand (podium puts it back).`,
    );
  } else if (report.mode === "Observed") {
    const l = report.lease;
    verdict(
      l === undefined
        ? `in Observed mode the pods elect themselves on Lease ${report.leaseName}, which does not exist yet.`
        : l.holderPod === pod
          ? `it holds Lease ${l.name}${l.holder === pod ? "" : ` as ${l.holder}`}, but the Lease has expired (renewed ${timeAndAge(l.renewTime, now)}, duration ${l.durationSeconds ?? "?"}s): podium labels the holder only while it renews.`
          : `in Observed mode the pods elect themselves on Lease ${l.name}; it is held by ${l.holder === "" ? "nobody" : (l.holderPod ?? l.holder)} (renewed ${timeAndAge(l.renewTime, now)}), and podium labels the holder while its Lease is valid.`,
    );
    if (l?.holderPod === undefined && l?.mapping !== undefined) {
      lines.push(`The holder stands for no pod of the group: ${l.mapping}.`);
    }
  } else if (p.eligibility.kind !== "eligible") {
    const rule =
      p.eligibility.kind === "terminating"
        ? "a terminating pod never leads (a rollout hands over before the pod goes)"
        : p.eligibility.kind === "probeFailed"
          ? "the operator probes the leader (spec.failureDetection.probe), and a Ready pod that fails the probe does not lead"
          : "podium only gives leadership to pods that are Running, Ready and not terminating";
    verdict(`it is ${eligibilityText(p.eligibility, now)}; ${rule}.`);
  } else if (report.holder === "") {
    verdict(
      `no pod leads yet, and it ranks ${p.rank ?? "?"} as next holder${report.pending?.to === pod ? "; podium's rules elect it now (in flight, or the operator is not running)" : ""}.`,
    );
  } else if (p.rank === 1 || p.after === undefined) {
    verdict(
      report.pending?.to === pod
        ? `podium's rules move leadership to it now (${report.pending.reason}): in flight, or the operator is not running.`
        : `${report.holder} leads, and leadership is sticky: the holder keeps it while it is a candidate. ${pod} ranks first as next holder${p.rule ? ` (${ruleReason(p.rule, pod, report.pods.find((x) => x.rank === 2)?.name ?? "")})` : ""}, so it takes over when ${report.holder} is lost.`,
    );
  } else {
    verdict(
      `it is outranked by ${p.after} because of ${p.rule ? ruleReason(p.rule, p.after, pod) : "the next-holder order"} (rank ${p.rank ?? "?"} of ${report.readyCandidates}).`,
    );
    if (p.after !== report.holder) {
      lines.push(
        `${report.holder} leads, and keeps leadership while it is a candidate (sticky); the ranking decides who takes over when it is lost.`,
      );
    }
  }
  if (p.labelled) {
    lines.push(`It carries ${label} without leading: podium removes such stray labels.`);
  }
  if (p.eligibility.kind === "eligible" && report.mode === "Managed" && blockers.length === 0) {
    lines.push(
      `\`kubectl podium switchover ${report.name} --to ${pod}${report.namespace === "" ? "" : ` -n ${report.namespace}`}\` moves leadership to it.`,
    );
  }
  lines.push(`(${leader}.)`);
  return { leads: false, lines };
}

/** The requirements of `selector` that `labels` do not meet, as text. */
export function failingRequirements(
  labels: Readonly<Record<string, string>>,
  selector: LabelSelector,
): string[] {
  const out: string[] = [];
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (!matchesSelector(labels, { matchLabels: { [key]: value } })) {
      const has = labels[key];
      out.push(
        `${key}=${value} (the pod has ${has === undefined ? `no ${key} label` : `${key}=${has}`})`,
      );
    }
  }
  for (const req of selector.matchExpressions ?? []) {
    if (!matchesSelector(labels, { matchExpressions: [req] })) {
      out.push(
        `${requirementText(req)} (the pod has ${labels[req.key] === undefined ? `no ${req.key} label` : `${req.key}=${labels[req.key] ?? ""}`})`,
      );
    }
  }
  return out;
}

function requirementText(req: LabelSelectorRequirement): string {
  return selectorToString({ matchExpressions: [req] });
}

/** Runs `why`; returns the text to print. */
export async function runWhy(
  api: PodiumApi,
  namespace: string,
  groupName: string,
  pod: string,
  now: () => number = Date.now,
): Promise<string> {
  const { report, group } = await loadReport(api, namespace, groupName, now);
  let outsider: Outsider | undefined;
  if (!report.pods.some((p) => p.name === pod)) {
    const raw = (await api.getPod(namespace, pod)) as
      { metadata?: { labels?: Record<string, string> } } | undefined;
    if (raw === undefined) {
      throw new CliError(
        `pod ${namespace}/${pod} not found (ElectionGroup ${namespace}/${groupName} selects ${report.selector})`,
      );
    }
    outsider = { name: pod, labels: raw.metadata?.labels ?? {} };
  }
  const why = explainWhy(report, pod, readSpec(group).selector, outsider, now());
  return why.lines.join("\n") + "\n";
}
