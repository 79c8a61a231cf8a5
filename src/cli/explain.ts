/**
 * The plugin's picture of one group: which pods may lead and why not, their
 * rank as next holder and the rule that ranks them, what blocks podium, and
 * what podium would do now. Pure: API objects and a time in, a report out.
 * Every rule comes from src/election (isCandidate, rankNextHolders,
 * decideManaged, ...); this module only says which of them applied.
 */
import {
  DEFAULT_LEADER_LABEL_KEY,
  DEFAULT_LEADER_LABEL_VALUE,
  leaseName,
} from "../api/defaults.ts";
import { validateSpec } from "../api/validate.ts";
import type { ElectionGroup, LabelSelector, LeaderLabel } from "../api/types.ts";
import {
  decideManaged,
  decideObserved,
  describeMapping,
  gate,
  getCondition,
  judgeNode,
  nodeHeartbeatGraceMs,
  withNodeJudgement,
  identityOf,
  isCandidate,
  judgePodProbes,
  probeRecordsFromStatus,
  mapHolder,
  matchesSelector,
  newestRevision,
  parsePriority,
  rankNextHolders,
  selectorToString,
} from "../election/index.ts";
import { decidingRule as coreDecidingRule } from "../election/index.ts";
import type {
  Blocker,
  GroupIdentity,
  LeaseView,
  NodeDisruption,
  NodeView,
  PodView,
  RankContext,
} from "../election/index.ts";
import type {
  Eligibility,
  GroupInput,
  GroupReport,
  LeaseReport,
  PodReport,
  RankRule,
  SpecReading,
} from "./report.ts";
import { leaseFacts, nodeFacts, podFacts } from "./views.ts";
import type { PodFacts } from "./views.ts";

const DEFAULT_LEADER_LABEL: LeaderLabel = {
  key: DEFAULT_LEADER_LABEL_KEY,
  value: DEFAULT_LEADER_LABEL_VALUE,
};

/** Validates a group's spec as the operator does (src/api/validate.ts). */
export function readSpec(group: ElectionGroup): SpecReading {
  const result = validateSpec(group.spec);
  if (result.ok) {
    return {
      spec: result.spec,
      errors: [],
      selector: result.spec.selector,
      leaderLabel: result.spec.leaderLabel,
    };
  }
  const raw = (group.spec as unknown as Record<string, unknown> | undefined) ?? {};
  const selector = isObject(raw.selector) ? (raw.selector as LabelSelector) : undefined;
  const label = isObject(raw.leaderLabel) ? raw.leaderLabel : {};
  const leaderLabel =
    typeof label.key === "string" && typeof label.value === "string"
      ? { key: label.key, value: label.value }
      : DEFAULT_LEADER_LABEL;
  return selector === undefined
    ? { errors: result.errors, leaderLabel }
    : { errors: result.errors, selector, leaderLabel };
}

/** Builds the report of one group; see {@link GroupReport}. */
export function buildReport(input: GroupInput): GroupReport {
  const { group, now } = input;
  const reading = readSpec(group);
  const { spec, leaderLabel } = reading;
  const raw = (group.spec as unknown as Record<string, unknown> | undefined) ?? {};
  const mode = spec?.mode ?? (typeof raw.mode === "string" ? raw.mode : "Managed");
  const status = group.status ?? {};
  const lease = spec
    ? leaseName({ metadata: group.metadata, spec })
    : (status.leaseName ?? group.metadata.name);

  const facts = input.pods
    .map((p) => podFacts(p, leaderLabel))
    .filter((f): f is PodFacts => f !== undefined)
    .filter((f) => reading.selector && matchesSelector(f.cached.labels, reading.selector));
  const nodeJudged = judgeNodes(
    facts.map((f) => f.view),
    input,
    spec,
  );
  // Only the operator sees probe results: the pods it reports failing in status.
  const probe = spec?.failureDetection?.probe;
  const views = probe
    ? judgePodProbes(nodeJudged, probe, (uid) =>
        probeRecordsFromStatus(group.status, probe.failureThreshold).get(uid),
      )
    : nodeJudged;

  const leaseRead = input.lease === undefined ? undefined : leaseFacts(input.lease, now);
  let leaseView: LeaseView | undefined = leaseRead?.view;
  if (leaseView && mode === "Observed") {
    leaseView = { ...leaseView, observedAt: leaseView.renewTime ?? leaseView.acquireTime ?? now };
  }

  const owners = leaseRead?.cached.ownerUIDs ?? [];
  const ownedByGroup = owners.includes(group.metadata.uid);
  const others = spec && input.siblings ? siblingIdentities(group, input.siblings) : undefined;
  // The operator's own gate, over what the plugin read.
  const blockers: Blocker[] = gate({
    group,
    validation: spec ? { ok: true, spec } : { ok: false, errors: reading.errors },
    pods: facts.map((f) => ({ name: f.cached.name, labels: f.cached.labels })),
    others,
    lease: leaseRead && { ownerUIDs: leaseRead.cached.ownerUIDs, holder: leaseRead.cached.holder },
  }).blockers;
  // Without the right to list groups, the conflict is known only from status.
  const conflictInStatus = status.conditions?.some(
    (c) => c.type === "Conflict" && c.status === "True",
  );
  if (spec && others === undefined && conflictInStatus === true) {
    const at = blockers[0]?.kind === "paused" ? 1 : 0;
    blockers.splice(at, 0, { kind: "conflict", olderGroups: [], labelKey: leaderLabel.key });
  }

  const holder = status.holder ?? "";
  const ranked = spec && mode === "Managed" ? rankNextHolders(views, spec) : [];
  const ctx: RankContext = {
    preferredHolder: spec?.preferredHolder,
    newestRevision: newestRevision(views),
  };
  const pods = views.map((v): PodReport => {
    const report: PodReport = {
      name: v.name,
      uid: v.uid,
      phase: v.phase,
      ready: v.ready,
      terminating: v.terminating,
      priority: parsePriority(v.priorityAnnotation),
      labelled: v.leaderLabelValue === leaderLabel.value,
      holder: v.name === holder,
      eligibility: eligibility(v, leaderLabel.key),
    };
    if (v.readySince !== undefined) report.readySince = v.readySince;
    if (v.revision !== undefined) report.revision = v.revision;
    if (v.nodeName !== undefined) report.node = v.nodeName;
    const i = ranked.findIndex((r) => r.uid === v.uid);
    const self = ranked[i];
    if (self !== undefined) {
      report.rank = i + 1;
      const ahead = ranked[i - 1];
      const behind = ranked[i + 1];
      if (ahead !== undefined) {
        report.after = ahead.name;
        report.rule = decidingRule(ahead, self, ctx).rule;
      } else {
        report.rule =
          behind === undefined ? { kind: "only" } : decidingRule(self, behind, ctx).rule;
      }
    }
    return report;
  });
  pods.sort(
    (a, b) =>
      (a.rank ?? Infinity) - (b.rank ?? Infinity) ||
      (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );

  const report: GroupReport = {
    namespace: group.metadata.namespace,
    name: group.metadata.name,
    mode,
    generation: group.metadata.generation,
    selector: reading.selector ? selectorToString(reading.selector) : "<invalid>",
    leaderLabel,
    paused: spec?.paused ?? raw.paused === true,
    notReadyToleranceSeconds: spec?.notReadyToleranceSeconds ?? 0,
    leaseName: lease,
    holder,
    epoch: status.epoch ?? 0,
    candidates: views.length,
    readyCandidates: views.filter(isCandidate).length,
    conditions: status.conditions ?? [],
    history: status.history ?? [],
    pods,
    blockers,
  };
  if (status.observedGeneration !== undefined) {
    report.observedGeneration = status.observedGeneration;
  }
  const preferred =
    spec?.preferredHolder ??
    (typeof raw.preferredHolder === "string" ? raw.preferredHolder : undefined);
  if (preferred !== undefined) report.preferredHolder = preferred;
  if (leaseRead) {
    const c = leaseRead.cached;
    const l: LeaseReport = {
      name: c.name,
      holder: c.holder,
      transitions: c.transitions,
      ownedByGroup,
    };
    if (c.holderUID !== undefined) l.holderUID = c.holderUID;
    if (c.renewTime !== undefined) l.renewTime = c.renewTime;
    if (c.acquireTime !== undefined) l.acquireTime = c.acquireTime;
    if (c.durationSeconds !== undefined) l.durationSeconds = c.durationSeconds;
    if (mode === "Observed" && c.holder !== "") {
      // The operator's own mapping, over the pods the plugin read.
      const mapping = mapHolder(c.holder, views, spec?.identity);
      if (mapping.kind === "pod") l.holderPod = mapping.pod.name;
      l.mapping = describeMapping(mapping);
    }
    report.lease = l;
  }
  const next = ranked.find((p) => p.name !== holder);
  if (next !== undefined) report.next = next.name;

  if (spec && blockers.length === 0) {
    const decision =
      mode === "Observed"
        ? decideObserved({ spec, pods: views, lease: leaseView, previousHolder: holder, now })
        : decideManaged({ spec, pods: views, lease: leaseView, now });
    report.expectedHolder = decision.holder?.name ?? "";
    if (decision.transition) {
      const { from, to, reason } = decision.transition;
      report.pending = { from, to, reason };
    }
  }
  return report;
}

/**
 * Why `pod` is not a candidate, in the terms of DESIGN §2; eligible when it
 * is one. `key` is the leader label's key, for a pod whose value for it is
 * someone else's.
 */
export function eligibility(pod: PodView, key = DEFAULT_LEADER_LABEL.key): Eligibility {
  if (isCandidate(pod)) return { kind: "eligible" };
  if (pod.terminating) return { kind: "terminating" };
  if (pod.phase !== "Running") return { kind: "notRunning", phase: pod.phase };
  if (!pod.ready) {
    return pod.readySince === undefined
      ? { kind: "notReady" }
      : { kind: "notReady", since: pod.readySince };
  }
  if (pod.nodeProblem !== undefined) return { kind: "nodeProblem", problem: pod.nodeProblem };
  if (pod.probeProblem !== undefined) return { kind: "probeFailed", problem: pod.probeProblem };
  if (pod.foreignLabelValue !== undefined) {
    return { kind: "labelConflict", key, value: pod.foreignLabelValue };
  }
  return { kind: "notCandidate" };
}

/**
 * Names the first rule of the next-holder order on which `a` and `b` differ
 * (the election core's {@link coreDecidingRule}), with the values that made
 * the difference, and whether it puts `a` first.
 */
export function decidingRule(
  a: PodView,
  b: PodView,
  ctx: RankContext,
): { rule: RankRule; aFirst: boolean } {
  const { rule, aFirst } = coreDecidingRule(a, b, ctx);
  const [winner, loser] = aFirst ? [a, b] : [b, a];
  switch (rule) {
    case "priority":
      return {
        rule: {
          kind: "priority",
          winner: parsePriority(winner.priorityAnnotation),
          loser: parsePriority(loser.priorityAnnotation),
        },
        aFirst,
      };
    case "newestRevision":
      return { rule: { kind: "newestRevision", revision: ctx.newestRevision ?? "" }, aFirst };
    case "readyLongest":
      return {
        rule: {
          kind: "readyLongest",
          winnerSince: winner.readySince,
          loserSince: loser.readySince,
        },
        aFirst,
      };
    case "preferredHolder":
    case "name":
      return { rule: { kind: rule }, aFirst };
  }
}

/**
 * `pods` with their nodes judged by the election core, as the operator
 * judges them, when the plugin could read the nodes. The disruption guard is
 * the operator's, from the group's NodeDisruption condition: only it saw
 * every heartbeat arrive.
 */
function judgeNodes(
  pods: PodView[],
  input: GroupInput,
  spec: Parameters<typeof nodeHeartbeatGraceMs>[0] | undefined,
): PodView[] {
  const raw = input.nodes;
  if (raw === undefined) return pods;
  const nodes = new Map<string, NodeView>();
  for (const [name, r] of raw) {
    const view = nodeFacts(r);
    if (view !== undefined) nodes.set(name, view);
  }
  const condition = getCondition(input.group.status?.conditions, "NodeDisruption");
  const disruption: NodeDisruption = {
    active: condition?.status === "True",
    reason: condition?.reason === "WatchesStalled" ? "WatchesStalled" : "MostHeartbeatsStale",
    silentNodes: 0,
    nodes: nodes.size,
    message: condition?.message ?? "",
  };
  const judgement = {
    nodes: [...nodes.values()],
    node: (name: string) => nodes.get(name),
    graceMs: nodeHeartbeatGraceMs(spec ?? {}),
    now: input.now,
    stalledWatches: [],
  };
  return pods.map((p) => withNodeJudgement(p, judgeNode(p.nodeName, judgement, disruption)));
}

/** The other live groups with a valid spec, as conflict detection sees them. */
function siblingIdentities(
  group: ElectionGroup,
  siblings: readonly ElectionGroup[],
): GroupIdentity[] {
  return siblings.flatMap((g) => {
    if (g.metadata.uid === group.metadata.uid || g.metadata.deletionTimestamp !== undefined) {
      return [];
    }
    const r = readSpec(g);
    return r.spec ? [identityOf(g, r.spec)] : [];
  });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
