/**
 * The pure part of the invariant checker (test/support/invariant-checker.ts):
 * given everything three independent watch streams (pods, Leases,
 * ElectionGroups of one namespace) delivered, it replays the history and
 * reports where the invariants of DESIGN §2 were broken. No I/O, no clock:
 * unit tests feed it synthetic event sequences.
 *
 * Ordering. The three streams are merged by resourceVersion. On one
 * API server backed by one etcd every resourceVersion is an etcd revision,
 * a single counter shared by all kinds, so the merge is the order in which
 * the writes happened (arrival times across streams are not). If any
 * resourceVersion is not an integer the merge falls back to arrival order.
 * This is an assumption about the test cluster, not something clients may
 * rely on in general.
 *
 * What is checked (each a `Violation.check`):
 * - `single-leader` (a): after each event, at most one pod of a group
 *   carries the group's leader label. Labels that the test itself put on as
 *   a "hijack" (declared with their resourceVersion, see `foreignLabels`) do
 *   not count here; check (b) bounds how long they may stay.
 * - `labelled-not-leader` (b): a labelled pod must be, in Managed mode, a
 *   candidate (Running, Ready=True, no deletionTimestamp) that the group's
 *   Lease names (name, and uid when the Lease records one); in Observed mode
 *   the holder of a valid Lease (renewed less than leaseDurationSeconds ago,
 *   judged by when the change was observed). A pod may be in the wrong state
 *   only for `transitionWindowMs` (plus the group's notReadyToleranceSeconds
 *   when the reason is NotReady), measured from the event that made it wrong
 *   to the event that ended it (label removed, pod gone, or right again),
 *   minus the parts of that span that fall in `excused` intervals (the test
 *   declares when the operator could not act: killed, paused, cut off).
 *   A hijacked label is wrong from the start and must go within the window.
 * - `label-without-lease` (b, write order): in Managed mode a pod gains the
 *   label (not a declared hijack) only while the Lease already names it:
 *   DESIGN §2.3 writes the Lease (b) before the label (c).
 * - `epoch-decrease` / `epoch-ahead-of-lease` (c): per group, the Lease's
 *   leaseTransitions, status.epoch and the podium.dev/epoch annotation of
 *   each newly labelled pod never decrease; a labelled pod's epoch is never
 *   greater than the Lease's leaseTransitions at that point.
 * - `transition-without-cause` (d): in Managed mode, when the Lease's holder
 *   changes from pod X to anything else (another pod, or released), some
 *   event after X became the holder must have made X not preferred. What
 *   counts as a cause, evaluated after every event of the merged history:
 *     - no pod named X exists, or the one that does has another uid than
 *       the Lease recorded (deleted, recreated);
 *     - X no longer matches the group's selector;
 *     - X is not a candidate (terminating, not Running, not Ready), even
 *       briefly (a flap the operator saw counts);
 *     - spec.preferredHolder names another pod that is a candidate;
 *     - hand-over during a rollout (spec.handover not Disabled): X has a
 *       revision label (pod-template-hash, controller-revision-hash) and
 *       another candidate of the group has a different one;
 *     - the group's selector, leader label, mode or Lease name changed;
 *     - the test declared that it failed X's node (`nodeFailures`) before the
 *       change, and the node had not come back before X became the holder;
 *     - a stream had to re-list (its history between the two lists is
 *       unknown, so a cause may have been missed): recorded as a cause
 *       "history gap" so that an API server restart cannot produce a false
 *       alarm; the formatter shows it.
 *   Nothing else is a cause: not an operator restart or fail-over, not a
 *   priority annotation, not a new or newer pod, not the Lease's age.
 *   A leaderless group electing a pod needs no cause.
 */

/** A label selector, as in the ElectionGroup spec. */
export interface Selector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

export interface PodState {
  name: string;
  uid: string;
  rv: string;
  labels: Record<string, string>;
  /** The podium.dev/epoch annotation, as written. */
  epoch?: string;
  phase: string;
  ready: boolean;
  terminating: boolean;
}

export interface LeaseState {
  name: string;
  uid: string;
  rv: string;
  holder: string;
  /** The podium.dev/holder-uid annotation. */
  holderUID?: string;
  transitions: number;
  durationSeconds?: number;
}

export interface GroupState {
  name: string;
  uid: string;
  rv: string;
  generation: number;
  selector: Selector;
  mode: "Managed" | "Observed";
  leaderLabel: { key: string; value: string };
  leaseName: string;
  preferredHolder?: string;
  /** spec.handover.mode, when written (podium's default hands over). */
  handover?: string;
  notReadyToleranceSeconds: number;
  /** status.epoch, when the operator has written one. */
  statusEpoch?: number;
  deleting: boolean;
}

export type Stream = "pod" | "lease" | "group";
interface StateOf {
  pod: PodState;
  lease: LeaseState;
  group: GroupState;
}

/** One change a stream delivered; for `deleted`, `object` is the last state and `rv` the deletion's. */
export type ChangeEvent = {
  [S in Stream]: {
    seq: number;
    at: number;
    stream: S;
    type: "added" | "modified" | "deleted";
    rv: string;
    object: StateOf[S];
  };
}[Stream];

/** A (re-)list: the stream's whole state at `rv`, replacing what it had. */
export type RelistEvent = {
  [S in Stream]: {
    seq: number;
    at: number;
    stream: S;
    type: "relist";
    rv: string;
    /** The first list of the stream: no history was missed. */
    initial: boolean;
    objects: StateOf[S][];
  };
}[Stream];

export type RecordedEvent = ChangeEvent | RelistEvent;

export interface Interval {
  from: number;
  to: number;
  reason: string;
}

/** A node failure the test caused; see {@link CheckOptions.nodeFailures}. */
export interface NodeFailure {
  pods: readonly string[];
  at: number;
  /**
   * When the node came back (a dead machine started again), if it did: a
   * holder elected after that needs another cause. Until then, podium may
   * take the grace to see the failure, and the old holder's label lingers.
   */
  until?: number;
  what: string;
}

export interface CheckOptions {
  /** How long a labelled pod may be in the wrong state (check b). Default 2000 ms. */
  transitionWindowMs?: number;
  /** Spans during which the operator could not act; they do not count towards check (b). */
  excused?: readonly Interval[];
  /** Labels the test put on itself: the pod and the resourceVersion its patch returned. */
  foreignLabels?: readonly { pod: string; rv: string }[];
  /**
   * Node failures the test caused (a node deleted, its heartbeat stopped, its
   * Ready condition or an out-of-service taint set), which no pod event
   * shows: the pods it hosted and when (local time). A transition away from
   * one of those pods after that time has this cause (d).
   */
  nodeFailures?: readonly NodeFailure[];
  /** When the recording ended: wrong states still open are measured up to here. */
  endAt?: number;
  /**
   * Observed mode: the name of the pod a Lease's holderIdentity stands for
   * (e.g. `<pod>_<uuid>` for controller-runtime); the holder itself by default.
   */
  holderPod?: (holder: string) => string;
}

export type CheckName =
  | "single-leader"
  | "labelled-not-leader"
  | "label-without-lease"
  | "epoch-decrease"
  | "epoch-ahead-of-lease"
  | "transition-without-cause";

export interface Violation {
  check: CheckName;
  group: string;
  message: string;
  /** Index into the merged history (`mergeEvents`) where it happened or began. */
  index: number;
  at: number;
  /** Names of the objects the violation concerns (group, Lease, member pods), for the context. */
  related: string[];
}

export interface CheckResult {
  violations: Violation[];
  /** The merged history the indexes refer to. */
  events: RecordedEvent[];
  /** Holder changes seen per group, with the cause found for each (d). */
  transitions: { group: string; from: string; to: string; epoch: number; cause: string }[];
  /** How long each wrong labelled state lasted (b), excused time taken out. */
  wrongLabelDurationsMs: number[];
}

/** Orders the streams' events by resourceVersion (arrival order when one is not an integer). */
export function mergeEvents(events: readonly RecordedEvent[]): RecordedEvent[] {
  const numeric = events.every((e) => /^\d+$/.test(e.rv));
  return [...events].sort((a, b) => {
    if (numeric) {
      const d = Number(a.rv) - Number(b.rv);
      if (d !== 0) return d;
    }
    return a.seq - b.seq;
  });
}

/** Kubernetes label-selector semantics; an empty selector selects nothing (as podium reads it). */
export function selects(selector: Selector, labels: Record<string, string>): boolean {
  const pairs = Object.entries(selector.matchLabels ?? {});
  const exprs = selector.matchExpressions ?? [];
  if (pairs.length === 0 && exprs.length === 0) return false;
  if (!pairs.every(([k, v]) => labels[k] === v)) return false;
  return exprs.every((e) => {
    const has = Object.hasOwn(labels, e.key);
    const value = labels[e.key];
    const values = e.values ?? [];
    switch (e.operator) {
      case "In":
        return has && value !== undefined && values.includes(value);
      case "NotIn":
        return !has || value === undefined || !values.includes(value);
      case "Exists":
        return has;
      case "DoesNotExist":
        return !has;
      default:
        return false;
    }
  });
}

export function isCandidate(pod: PodState): boolean {
  return !pod.terminating && pod.phase === "Running" && pod.ready;
}

/**
 * The one judge of "at most one pod carries the leader label" (check a), for
 * every suite, benchmark and soak that watches labels: given the pods that
 * carry it at one instant, returns those that count when more than one does,
 * and [] when the instant is correct. A pod for which `foreign` holds was
 * labelled by someone else (a declared hijack): it does not count here, and
 * check (b) bounds how long it may keep the label.
 */
export function extraLeaders<Pod>(
  labelled: readonly Pod[],
  foreign: (pod: Pod) => boolean = () => false,
): Pod[] {
  const counted = labelled.filter((pod) => !foreign(pod));
  return counted.length > 1 ? counted : [];
}

/** Milliseconds of [from, to] not covered by `excused`. */
export function unexcusedMs(from: number, to: number, excused: readonly Interval[]): number {
  if (to <= from) return 0;
  const parts = excused
    .map((i) => [Math.max(from, i.from), Math.min(to, i.to)] as const)
    .filter(([a, b]) => b > a)
    .sort((x, y) => x[0] - y[0]);
  let covered = 0;
  let end = from;
  for (const [a, b] of parts) {
    const start = Math.max(a, end);
    if (b > start) covered += b - start;
    end = Math.max(end, b);
  }
  return to - from - covered;
}

interface Wrong {
  since: number;
  index: number;
  why: string;
  toleranceMs: number;
}

interface GroupTrack {
  /** Open single-leader episode. */
  multi: { index: number; at: number; pods: string[] } | undefined;
  /** Wrong labelled pods by `name/uid`. */
  wrong: Map<string, Wrong>;
  maxLabelEpoch: number;
  statusEpoch: number;
  /** Labelled pods (name/uid) after the previous event, to see a label appear. */
  labelled: Set<string>;
}

interface LeaseTrack {
  uid: string;
  transitions: number;
  holder: string;
  holderUID: string | undefined;
  /** First cause seen since the holder took over (d). */
  cause: string | undefined;
  /** The group's spec fields that matter, when the holder took over. */
  specKey: string;
  /** When the Lease's record last changed (for Observed validity), ms. */
  observedAt: number;
  /** The resourceVersion at which the holder took over, and when that was seen (ms). */
  sinceRv: string;
  sinceAt: number;
}

const podKey = (p: PodState): string => `${p.name}/${p.uid}`;

function specKey(g: GroupState): string {
  return JSON.stringify([g.selector, g.leaderLabel, g.mode, g.leaseName]);
}

function describeCause(
  group: GroupState,
  lease: LeaseTrack,
  pods: ReadonlyMap<string, PodState>,
): string | undefined {
  const pod = pods.get(lease.holder);
  if (pod === undefined) return `holder ${lease.holder} gone`;
  if (lease.holderUID !== undefined && pod.uid !== lease.holderUID) {
    return `holder ${lease.holder} recreated (uid ${pod.uid} != ${lease.holderUID})`;
  }
  if (!selects(group.selector, pod.labels)) return `holder ${pod.name} left the selector`;
  if (pod.terminating) return `holder ${pod.name} terminating`;
  if (pod.phase !== "Running") return `holder ${pod.name} in phase ${pod.phase}`;
  if (!pod.ready) return `holder ${pod.name} NotReady`;
  const preferred = group.preferredHolder;
  if (preferred !== undefined && preferred !== "" && preferred !== pod.name) {
    const p = pods.get(preferred);
    if (p && isCandidate(p) && selects(group.selector, p.labels)) {
      return `preferredHolder ${preferred} is a candidate`;
    }
  }
  if (group.handover !== "Disabled") {
    const revision = revisionOf(pod);
    const newer = [...pods.values()].find(
      (p) =>
        revision !== undefined &&
        isCandidate(p) &&
        selects(group.selector, p.labels) &&
        revisionOf(p) !== undefined &&
        revisionOf(p) !== revision,
    );
    if (newer !== undefined) {
      return `hand-over: ${newer.name} of revision ${revisionOf(newer) ?? ""} is a candidate`;
    }
  }
  if (specKey(group) !== lease.specKey) return "selector, leader label, mode or Lease name changed";
  return undefined;
}

/** A pod's revision label (Deployment, then StatefulSet/DaemonSet), when it has one. */
function revisionOf(pod: PodState): string | undefined {
  return pod.labels["pod-template-hash"] ?? pod.labels["controller-revision-hash"];
}

/**
 * Replays `events` (from all three streams, in any order) and returns every
 * invariant violation, with the merged history the violations index into.
 */
export function checkInvariants(
  events: readonly RecordedEvent[],
  options: CheckOptions = {},
): CheckResult {
  const windowMs = options.transitionWindowMs ?? 2000;
  const nodeFailures = options.nodeFailures ?? [];
  const excused = options.excused ?? [];
  const foreign = new Set((options.foreignLabels ?? []).map((f) => `${f.pod}@${f.rv}`));
  const merged = mergeEvents(events);
  const holderPodOf = (group: GroupState, holder: string): string =>
    group.mode === "Observed" && options.holderPod ? options.holderPod(holder) : holder;
  const numeric = merged.every((e) => /^\d+$/.test(e.rv));
  // History a stream missed: from the last resourceVersion it delivered
  // before a re-list to the re-list's resourceVersion.
  const gaps: { from: number; to: number }[] = [];
  const lastRv = new Map<Stream, number>();
  for (const e of [...events].sort((a, b) => a.seq - b.seq)) {
    if (e.type === "relist" && !e.initial) {
      gaps.push({ from: lastRv.get(e.stream) ?? 0, to: numeric ? Number(e.rv) : Infinity });
    }
    if (numeric) lastRv.set(e.stream, Math.max(lastRv.get(e.stream) ?? 0, Number(e.rv)));
  }
  /** Whether some stream's unseen history overlaps (fromRv, toRv]. */
  const gapWithin = (fromRv: string, toRv: string): boolean => {
    if (!numeric) return gaps.length > 0;
    const from = Number(fromRv);
    const to = Number(toRv);
    return gaps.some((g) => g.from < to && g.to > from);
  };
  const violations: Violation[] = [];
  const transitions: CheckResult["transitions"] = [];
  const durations: number[] = [];

  const pods = new Map<string, PodState>();
  const leases = new Map<string, LeaseState>();
  const groups = new Map<string, GroupState>();
  const groupTracks = new Map<string, GroupTrack>();
  const leaseTracks = new Map<string, LeaseTrack>();
  /** Pods (name/uid) whose current leader label the test put on; cleared when it goes. */
  const hijacked = new Set<string>();

  const trackOf = (g: string): GroupTrack => {
    let t = groupTracks.get(g);
    if (!t) {
      t = {
        multi: undefined,
        wrong: new Map(),
        maxLabelEpoch: 0,
        statusEpoch: 0,
        labelled: new Set(),
      };
      groupTracks.set(g, t);
    }
    return t;
  };
  const violate = (v: Omit<Violation, "related">): void => {
    const group = groups.get(v.group);
    const related = group
      ? [
          group.name,
          group.leaseName,
          ...[...pods.values()].filter((p) => selects(group.selector, p.labels)).map((p) => p.name),
        ]
      : [v.group];
    violations.push({ ...v, related });
  };
  const groupOfLease = (leaseName: string): GroupState | undefined =>
    [...groups.values()].find((g) => g.leaseName === leaseName && !g.deleting);

  /** A leaderless group elected the Lease's holder: a transition that needs no cause (d). */
  const electedFromNobody = (group: GroupState, lease: LeaseState): void => {
    transitions.push({
      group: group.name,
      from: "",
      to: lease.holder,
      epoch: lease.transitions,
      cause: "leaderless",
    });
  };

  /** Lease bookkeeping for one Lease state (from a change or a relist): epochs (c) and causes (d). */
  const onLease = (
    lease: LeaseState | undefined,
    name: string,
    index: number,
    at: number,
    fromList: boolean,
  ): void => {
    const prev = leaseTracks.get(name);
    const group = groupOfLease(name);
    if (lease === undefined) {
      leaseTracks.delete(name);
      return;
    }
    if (prev?.uid !== lease.uid) {
      leaseTracks.set(name, {
        uid: lease.uid,
        transitions: lease.transitions,
        holder: lease.holder,
        holderUID: lease.holderUID,
        cause: undefined,
        specKey: group ? specKey(group) : "",
        observedAt: at,
        sinceRv: lease.rv,
        sinceAt: at,
      });
      if (!fromList && group !== undefined && lease.holder !== "") {
        electedFromNobody(group, lease);
      }
      return;
    }
    prev.observedAt = at;
    if (lease.transitions < prev.transitions) {
      violate({
        check: "epoch-decrease",
        group: group?.name ?? name,
        message: `Lease ${name} leaseTransitions went from ${prev.transitions} to ${lease.transitions}`,
        index,
        at,
      });
    }
    prev.transitions = Math.max(prev.transitions, lease.transitions);
    const changed =
      prev.holder !== lease.holder ||
      (prev.holderUID !== undefined &&
        lease.holderUID !== undefined &&
        prev.holderUID !== lease.holderUID);
    if (!changed) {
      prev.holderUID ??= lease.holderUID;
      return;
    }
    if (prev.holder !== "" && group !== undefined) {
      const cause =
        prev.cause ??
        describeCause(group, prev, pods) ??
        nodeFailures.find(
          (f) =>
            f.at <= at && (f.until ?? Infinity) >= prev.sinceAt && f.pods.includes(prev.holder),
        )?.what ??
        (gapWithin(prev.sinceRv, lease.rv) ? "history gap (a stream re-listed)" : undefined);
      transitions.push({
        group: group.name,
        from: prev.holder,
        to: lease.holder,
        epoch: lease.transitions,
        cause: cause ?? "none",
      });
      if (group.mode === "Managed" && cause === undefined) {
        violate({
          check: "transition-without-cause",
          group: group.name,
          message: `Lease ${name} moved from ${prev.holder} to ${lease.holder === "" ? '"" (released)' : lease.holder} (leaseTransitions ${lease.transitions}) although ${prev.holder} stayed a ready candidate of the group, no preferredHolder named another candidate and the spec did not change since it took over`,
          index,
          at,
        });
      }
    } else if (group !== undefined && lease.holder !== "") {
      electedFromNobody(group, lease);
    }
    prev.holder = lease.holder;
    prev.holderUID = lease.holderUID;
    prev.sinceRv = lease.rv;
    prev.sinceAt = at;
    prev.cause = undefined;
    prev.specKey = group ? specKey(group) : "";
  };

  const onGroup = (
    group: GroupState | undefined,
    name: string,
    index: number,
    at: number,
  ): void => {
    if (group === undefined) return;
    const t = trackOf(name);
    if (group.statusEpoch !== undefined) {
      if (group.statusEpoch < t.statusEpoch) {
        violate({
          check: "epoch-decrease",
          group: name,
          message: `status.epoch went from ${t.statusEpoch} to ${group.statusEpoch}`,
          index,
          at,
        });
      }
      t.statusEpoch = Math.max(t.statusEpoch, group.statusEpoch);
    }
  };

  /** Is `pod` the holder the group's Lease names (and, in Observed mode, is the Lease valid at `at`)? */
  const holds = (group: GroupState, pod: PodState, at: number): string | undefined => {
    const lease = leases.get(group.leaseName);
    const track = leaseTracks.get(group.leaseName);
    if (lease === undefined || holderPodOf(group, lease.holder) !== pod.name) {
      return "not the Lease holder";
    }
    if (group.mode === "Managed") {
      if (lease.holderUID !== undefined && lease.holderUID !== pod.uid) {
        return "not the Lease holder (uid)";
      }
      return undefined;
    }
    const durationMs = (lease.durationSeconds ?? 0) * 1000;
    if (track && at > track.observedAt + durationMs) return "Lease expired";
    return undefined;
  };

  /** Evaluates checks (a), (b), (c: pod epochs) and the causes of (d) after event `index`. */
  const evaluate = (index: number, at: number, gap: boolean): void => {
    for (const group of groups.values()) {
      const t = trackOf(group.name);
      if (group.deleting) {
        t.wrong.clear();
        t.multi = undefined;
        continue;
      }
      const { key, value } = group.leaderLabel;
      const members = [...pods.values()].filter((p) => selects(group.selector, p.labels));
      const labelled = members.filter((p) => p.labels[key] === value);
      const lease = leases.get(group.leaseName);
      const leaseTrack = leaseTracks.get(group.leaseName);

      // Hijacks: a label that appeared at a declared rv is foreign until it
      // goes or its pod becomes the holder.
      for (const p of labelled) {
        const k = podKey(p);
        if (!t.labelled.has(k) && foreign.has(`${p.name}@${p.rv}`)) hijacked.add(k);
        if (hijacked.has(k) && holds(group, p, at) === undefined) hijacked.delete(k);
      }
      const now = new Set(labelled.map(podKey));
      for (const k of t.labelled) if (!now.has(k)) hijacked.delete(k);

      // (b) write order and (c) epochs of a label that appears or changes.
      for (const p of labelled) {
        const k = podKey(p);
        if (hijacked.has(k)) continue;
        const appeared = !t.labelled.has(k);
        if (appeared && group.mode === "Managed" && holds(group, p, at) !== undefined) {
          violate({
            check: "label-without-lease",
            group: group.name,
            message: `${p.name} gained ${key}=${value} while Lease ${group.leaseName} named ${lease ? `"${lease.holder}"${lease.holderUID ? ` (uid ${lease.holderUID})` : ""}` : "nothing (no Lease)"}`,
            index,
            at,
          });
        }
        if (p.epoch !== undefined && /^\d+$/.test(p.epoch)) {
          const epoch = Number(p.epoch);
          if (epoch < t.maxLabelEpoch) {
            violate({
              check: "epoch-decrease",
              group: group.name,
              message: `${p.name} carries the label with epoch ${epoch} after a leader of epoch ${t.maxLabelEpoch}`,
              index,
              at,
            });
          }
          if (lease && epoch > lease.transitions) {
            violate({
              check: "epoch-ahead-of-lease",
              group: group.name,
              message: `${p.name} carries epoch ${epoch} but Lease ${group.leaseName} has leaseTransitions ${lease.transitions}`,
              index,
              at,
            });
          }
          t.maxLabelEpoch = Math.max(t.maxLabelEpoch, epoch);
        }
      }

      // (a) at most one legitimate label.
      const leaders = extraLeaders(labelled, (p) => hijacked.has(podKey(p))).map((p) => p.name);
      if (leaders.length > 0) {
        if (!t.multi) t.multi = { index, at, pods: leaders };
        else t.multi.pods = [...new Set([...t.multi.pods, ...leaders])];
      } else if (t.multi) {
        violate({
          check: "single-leader",
          group: group.name,
          message: `${t.multi.pods.join(", ")} carried ${key}=${value} at once for ${at - t.multi.at} ms`,
          index: t.multi.index,
          at: t.multi.at,
        });
        t.multi = undefined;
      }

      // (b) wrong labelled pods, bounded.
      const wrongNow = new Map<string, { why: string; toleranceMs: number; since: number }>();
      for (const p of labelled) {
        const k = podKey(p);
        let why: string | undefined;
        let toleranceMs = 0;
        let since = at;
        if (hijacked.has(k)) why = "hijacked (labelled by someone else)";
        else if (group.mode === "Managed") {
          if (p.terminating) why = "terminating";
          else if (p.phase !== "Running") why = `phase ${p.phase}`;
          else if (!p.ready) {
            why = "NotReady";
            toleranceMs = group.notReadyToleranceSeconds * 1000;
          } else why = holds(group, p, at);
        } else {
          why = holds(group, p, at);
          if (why === "Lease expired" && lease && leaseTrack) {
            since = leaseTrack.observedAt + (lease.durationSeconds ?? 0) * 1000;
          }
        }
        if (why !== undefined) wrongNow.set(k, { why, toleranceMs, since });
      }
      for (const [k, w] of t.wrong) {
        if (wrongNow.has(k)) continue;
        closeWrong(group.name, k, w, at);
        t.wrong.delete(k);
      }
      for (const [k, w] of wrongNow) {
        if (!t.wrong.has(k)) t.wrong.set(k, { ...w, since: Math.min(w.since, at), index });
      }
      t.labelled = now;

      // (d) causes for the current holder.
      if (leaseTrack && leaseTrack.holder !== "" && leaseTrack.cause === undefined) {
        leaseTrack.cause = gap
          ? "history gap (a stream re-listed)"
          : describeCause(group, leaseTrack, pods);
      }
    }
  };

  const closeWrong = (group: string, k: string, w: Wrong, at: number): void => {
    const ms = unexcusedMs(w.since, at, excused);
    durations.push(ms);
    const allowed = windowMs + (w.why === "NotReady" ? w.toleranceMs : 0);
    if (ms > allowed) {
      violate({
        check: "labelled-not-leader",
        group,
        message: `${k.split("/")[0] ?? k} carried the leader label while ${w.why} for ${ms} ms (not excused) > ${allowed} ms`,
        index: w.index,
        at: w.since,
      });
    }
  };

  /**
   * Time passes between events: an Observed Lease that expired meanwhile made
   * its labelled holder wrong at the expiry instant, not at the next event.
   */
  const advance = (index: number, at: number): void => {
    for (const group of groups.values()) {
      if (group.deleting || group.mode !== "Observed") continue;
      const lease = leases.get(group.leaseName);
      const track = leaseTracks.get(group.leaseName);
      if (!lease || !track) continue;
      const expiresAt = track.observedAt + (lease.durationSeconds ?? 0) * 1000;
      if (expiresAt >= at) continue;
      const t = trackOf(group.name);
      for (const k of t.labelled) {
        if (k.split("/")[0] !== holderPodOf(group, lease.holder) || t.wrong.has(k)) continue;
        t.wrong.set(k, { since: expiresAt, index, why: "Lease expired", toleranceMs: 0 });
      }
    }
  };

  merged.forEach((e, index) => {
    advance(index, e.at);
    let gap = false;
    if (e.type === "relist") {
      gap = !e.initial;
      switch (e.stream) {
        case "pod":
          pods.clear();
          for (const p of e.objects) pods.set(p.name, p);
          break;
        case "lease": {
          const seen = new Set(e.objects.map((l) => l.name));
          for (const name of leases.keys())
            if (!seen.has(name)) onLease(undefined, name, index, e.at, true);
          leases.clear();
          for (const l of e.objects) {
            onLease(l, l.name, index, e.at, true);
            leases.set(l.name, l);
          }
          break;
        }
        case "group":
          groups.clear();
          for (const g of e.objects) {
            groups.set(g.name, g);
            onGroup(g, g.name, index, e.at);
          }
          break;
      }
    } else {
      const deleted = e.type === "deleted";
      switch (e.stream) {
        case "pod":
          if (deleted) pods.delete(e.object.name);
          else pods.set(e.object.name, e.object);
          break;
        case "lease":
          onLease(deleted ? undefined : e.object, e.object.name, index, e.at, false);
          if (deleted) leases.delete(e.object.name);
          else leases.set(e.object.name, e.object);
          break;
        case "group":
          if (deleted) groups.delete(e.object.name);
          else {
            groups.set(e.object.name, e.object);
            onGroup(e.object, e.object.name, index, e.at);
          }
          break;
      }
    }
    evaluate(index, e.at, gap);
  });

  // Wrong states and episodes still open at the end.
  const endAt = options.endAt ?? merged.at(-1)?.at ?? 0;
  advance(Math.max(0, merged.length - 1), endAt);
  for (const [name, t] of groupTracks) {
    for (const [k, w] of t.wrong) closeWrong(name, k, w, endAt);
    if (t.multi) {
      violate({
        check: "single-leader",
        group: name,
        message: `${t.multi.pods.join(", ")} still carried the leader label at once at the end (since ${endAt - t.multi.at} ms)`,
        index: t.multi.index,
        at: t.multi.at,
      });
    }
  }
  return { violations, events: merged, transitions, wrongLabelDurationsMs: durations };
}

/** One line per event: index, time since the first, stream, type, object, rv and the fields that matter. */
export function describeEvent(e: RecordedEvent, t0: number): string {
  const head = `+${String(e.at - t0).padStart(7)}ms ${e.stream.padEnd(5)} ${e.type.padEnd(8)} rv=${e.rv}`;
  if (e.type === "relist") {
    return `${head} ${e.initial ? "initial list" : "RE-LIST"} of ${e.objects.length} objects`;
  }
  switch (e.stream) {
    case "pod": {
      const p = e.object;
      const labels = Object.entries(p.labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(",");
      return `${head} pod ${p.name} uid=${p.uid.slice(0, 8)} ${p.phase} ready=${p.ready}${p.terminating ? " TERMINATING" : ""} epoch=${p.epoch ?? "-"} labels{${labels}}`;
    }
    case "lease": {
      const l = e.object;
      return `${head} lease ${l.name} holder="${l.holder}" uid=${(l.holderUID ?? "-").slice(0, 8)} transitions=${l.transitions}`;
    }
    case "group": {
      const g = e.object;
      return `${head} group ${g.name} gen=${g.generation} preferred=${g.preferredHolder ?? "-"} status.epoch=${g.statusEpoch ?? "-"}${g.deleting ? " DELETING" : ""}`;
    }
  }
}

/**
 * Prints each violation with the `context` events either side of where it
 * happened, among the events about the objects it concerns (and re-lists).
 */
export function formatViolations(result: CheckResult, context = 5): string {
  const { events, violations } = result;
  const t0 = events[0]?.at ?? 0;
  const out: string[] = [];
  for (const v of violations) {
    out.push(`VIOLATION ${v.check} in group ${v.group} at event #${v.index}: ${v.message}`);
    const related = new Set(v.related);
    const concerns = (e: RecordedEvent): boolean =>
      e.type === "relist" ? !e.initial : related.has(e.object.name);
    const before: number[] = [];
    for (let i = v.index - 1; i >= 0 && before.length < context; i--) {
      const e = events[i];
      if (e && concerns(e)) before.unshift(i);
    }
    const after: number[] = [];
    for (let i = v.index + 1; i < events.length && after.length < context; i++) {
      const e = events[i];
      if (e && concerns(e)) after.push(i);
    }
    for (const i of [...before, v.index, ...after]) {
      const e = events[i];
      if (e) out.push(`  ${i === v.index ? ">>" : "  "} #${i} ${describeEvent(e, t0)}`);
    }
  }
  return out.join("\n");
}
