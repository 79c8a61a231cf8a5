/** Sentences and cells for the parts of a report; shared by status, why and switchover. */
import { nodeProblemText, probeProblemText } from "../election/index.ts";
import type { Blocker } from "../election/index.ts";
import type { Eligibility, GroupReport, PodReport, RankRule } from "./report.ts";
import { isoSeconds, listing, timeAndAge } from "./format.ts";

/** `NotReady since 2026-01-01T12:00:00Z (3m ago)`, `terminating`, `eligible`, ... */
export function eligibilityText(e: Eligibility, now: number): string {
  switch (e.kind) {
    case "eligible":
      return "eligible";
    case "terminating":
      return "terminating";
    case "notRunning":
      return `not Running (phase ${e.phase === "" ? "<none>" : e.phase})`;
    case "notReady":
      return e.since === undefined
        ? "NotReady (no Ready condition)"
        : `NotReady since ${timeAndAge(e.since, now)}`;
    case "labelConflict":
      return `not eligible: its label ${e.key}=${e.value} was not set by podium, which never overwrites it`;
    case "nodeProblem":
      return `on a failed node (${nodeProblemText(e.problem)})`;
    case "probeFailed":
      return `not eligible: it ${probeProblemText(e.problem, now)}, and is eligible again once it passes`;
    case "notCandidate":
      return "not a candidate";
  }
}

/** The rule as the status table names it: `priority 10`, `ready longest`, ... */
export function ruleText(rule: RankRule): string {
  switch (rule.kind) {
    case "only":
      return "only candidate";
    case "preferredHolder":
      return "preferredHolder";
    case "priority":
      return `priority ${rule.winner} > ${rule.loser}`;
    case "newestRevision":
      return `newest revision ${rule.revision === "" ? "<none>" : rule.revision}`;
    case "readyLongest":
      return "ready longest";
    case "name":
      return "name";
  }
}

/** Why the winner of `rule` is ahead, in a sentence fragment: `priority 10 > 0`, ... */
export function ruleReason(rule: RankRule, winner: string, loser: string): string {
  switch (rule.kind) {
    case "only":
      return `${winner} is the only candidate`;
    case "preferredHolder":
      return `${winner} is spec.preferredHolder`;
    case "priority":
      return `priority: ${winner} has podium.dev/priority ${rule.winner}, ${loser} ${rule.loser}`;
    case "newestRevision":
      return `newest revision: ${winner} is of revision ${rule.revision === "" ? "<none>" : rule.revision}, the newest, ${loser} is not`;
    case "readyLongest":
      return `ready longest: ${winner} has been Ready since ${rule.winnerSince === undefined ? "<unknown>" : isoSeconds(rule.winnerSince)}, ${loser} since ${rule.loserSince === undefined ? "<unknown>" : isoSeconds(rule.loserSince)}`;
    case "name":
      return `name: equal on every other rule, ${winner} sorts before ${loser}`;
  }
}

/** The WHY cell of a pod in the status table. */
export function podWhyCell(pod: PodReport, report: GroupReport, now: number): string {
  const parts: string[] = [];
  if (pod.holder) parts.push(pod.labelled ? "leads" : "holder, lacks the leader label");
  else if (pod.labelled) parts.push("carries the leader label but does not lead (stray)");
  parts.push(eligibilityText(pod.eligibility, now));
  if (pod.rank !== undefined && pod.rule !== undefined) {
    parts.push(
      pod.after === undefined
        ? `rank ${pod.rank} (${ruleText(pod.rule)})`
        : `rank ${pod.rank}, after ${pod.after} (${ruleText(pod.rule)})`,
    );
  } else if (report.mode === "Observed" && !pod.holder) {
    parts.push("may lead only by taking the Lease (Observed mode)");
  }
  return parts.join("; ");
}

/** A sentence for a blocker, naming the group. */
export function blockerText(b: Blocker, report: GroupReport): string {
  const group = `ElectionGroup ${report.namespace}/${report.name}`;
  switch (b.kind) {
    case "invalidSpec":
      return `${group} has an invalid spec, so podium touches nothing: ${b.errors.map((e) => `${e.field}: ${e.message}`).join("; ")}`;
    case "paused":
      return `${group} is paused (spec.paused: true): podium reports but moves no label and writes no Lease`;
    case "conflict":
      return b.olderGroups.length > 0
        ? `${group} conflicts with the older ${b.olderGroups.length === 1 ? "group" : "groups"} ${listing(b.olderGroups)}, which ${b.olderGroups.length === 1 ? "selects" : "select"} the same pods with the label key ${b.labelKey}: this group touches nothing`
        : `${group} reports Conflict=True: an older group selects the same pods with the label key ${b.labelKey}, and this group touches nothing`;
    case "leaseConflict":
      return `${group}'s Lease ${b.lease} (${b.holder === "" ? "no holder" : `held by ${b.holder}`}) ${b.foreignOwner ? "is owned by another object" : "was not created by podium"}: podium writes nothing until spec.lease.name names a Lease of this group's own, or spec.mode is Observed`;
  }
}

/** `Ready,LeaderElected` or `Ready=False(Paused),LeaderElected`: the conditions in one cell. */
export function conditionsCell(report: Pick<GroupReport, "conditions">): string {
  const cells = report.conditions
    .filter((c) => !((c.type === "Conflict" || c.type === "LabelConflict") && c.status === "False"))
    .map((c) => (c.status === "True" ? c.type : `${c.type}=${c.status}(${c.reason})`));
  return cells.length === 0 ? "<none>" : cells.join(",");
}
