import type { ApiCostResult } from "./apicost.ts";
import { VERBS } from "./apicost.ts";
import type { Table } from "./report.ts";
import { ms } from "./report.ts";
import type { RolloutSize } from "./rollout.ts";
import { PHASES } from "./rollout.ts";

// The tables of the rolling-update and API-cost scenarios.

/** A count or rate with one decimal ("—" when not a number). */
function num(value: number, digits = 1): string {
  if (!Number.isFinite(value)) return "—";
  return value.toFixed(digits);
}

/** A size's hand-over setting as the tables show it ("—": a run before spec.handover existed). */
function handoverOf(s: RolloutSize): string {
  if (s.handover === undefined) return "—";
  return s.settleSeconds === undefined
    ? s.handover
    : `${s.handover} (${String(s.settleSeconds)} s)`;
}

export function rolloutTable(sizes: readonly RolloutSize[]): Table {
  const rollouts = Math.max(...sizes.map((s) => s.rollouts));
  return {
    title: `rolling update (maxSurge 1, maxUnavailable 0), ${String(rollouts)} rollouts per size`,
    header: [
      "cutover",
      "hand-over",
      "replicas",
      "rollouts",
      "transitions p50",
      "max",
      "of them Handover",
      "no ready endpoint p50",
      "p95",
      "max",
      "≠ 1 ready p50",
      "p95",
      "p99",
      "max",
      "rollouts with a 0-ready event",
      "with 2+ ready",
      "rollout p50",
      "load (1 min)",
    ],
    rows: sizes.map((s) => [
      s.cutover ?? "Immediate",
      handoverOf(s),
      String(s.replicas),
      `${String(s.trials.length)}${s.error === undefined ? "" : ` (of ${String(s.rollouts)}: failed)`}`,
      num(s.transitions.p50, 0),
      num(s.transitions.max, 0),
      s.handover === undefined
        ? "—"
        : `${String(s.trials.reduce((n, t) => n + (t.handovers ?? 0), 0))} of ${String(s.trials.reduce((n, t) => n + t.transitions, 0))}`,
      ms(s.noEndpoint.p50),
      ms(s.noEndpoint.p95),
      ms(s.noEndpoint.max),
      ms(s.notExactlyOne.p50),
      ms(s.notExactlyOne.p95),
      ms(s.notExactlyOne.p99),
      ms(s.notExactlyOne.max),
      String(s.trials.filter((t) => t.zeroReadyEvents > 0).length),
      String(s.trials.filter((t) => t.multiReadyEvents > 0).length),
      ms(s.rolloutTime.p50),
      s.load === undefined ? "—" : `${num(s.load.start)}–${num(s.load.end)}`,
    ]),
    notes: [
      "`transitions`: the group's `status.transitions` after the rollout minus before (the JSON " +
        "also has the `status.history` entries of each rollout and how many pods gained the " +
        "label in an independent pod watch). `no ready endpoint`: from an EndpointSlice watch " +
        "whose events are stamped on arrival, the longest stretch of a rollout from the event " +
        "in which the Service on `role=leader` listed no ready endpoint to the next event in " +
        "which it listed exactly one; 0 when it never listed none (the leader moved within one " +
        "EndpointSlice update, or never moved). `≠ 1 ready`: the same from the first event " +
        "with other than exactly one ready endpoint (none, or two at once) to the next with " +
        "exactly one. `rollout`: from the template patch to the Deployment fully rolled out. " +
        "`of them Handover`: transitions with reason Handover (leadership moved to a new pod " +
        "while the old holder still ran, `spec.handover: OnRollout`) of all the size's " +
        "transitions; the others were made when the holder was deleted. `load`: the machine's " +
        "1-minute load average when the size started and ended (2 cores).",
      "A stretch of about 1 s is kube-controller-manager's EndpointSlice controller, not " +
        "podium: when the new leader's label arrives before the controller's cache has seen its " +
        "own update for the old leader's removal, it logs \"EndpointSlice informer cache is out " +
        'of date" and retries after its 1 s backoff; during a rollout no later pod event ' +
        "cuts that wait short. `spec.cutover: Verified` waits for the EndpointSlices to drop the " +
        "old leader before labelling the new one, so that the controller works from a current cache.",
    ],
  };
}

/**
 * The phases of the rollouts' transitions, from their status.history entries;
 * undefined when no size has any (results of runs before phases existed).
 */
export function rolloutPhaseTable(sizes: readonly RolloutSize[]): Table | undefined {
  const withPhases = sizes.filter((s) => s.phases !== undefined);
  if (withPhases.length === 0) return undefined;
  const names: Record<(typeof PHASES)[number], string> = {
    labelRemovedMs: "label removed",
    leaseWrittenMs: "Lease written",
    labelWrittenMs: "label written",
    oldEndpointGoneMs: "old endpoint gone",
    newEndpointReadyMs: "new endpoint ready",
  };
  return {
    title: "rolling update: the phases of each transition, ms from detection (p50 / p95 / max)",
    header: ["cutover", "hand-over", "replicas", "transitions", ...PHASES.map((p) => names[p])],
    rows: withPhases.map((s) => [
      s.cutover ?? "Immediate",
      handoverOf(s),
      String(s.replicas),
      String(s.trials.reduce((n, t) => n + (t.phases?.length ?? 0), 0)),
      ...PHASES.map((p) => {
        const st = s.phases?.[p];
        return st === undefined || st.n === 0
          ? "—"
          : `${st.p50.toFixed(0)} / ${st.p95.toFixed(0)} / ${st.max.toFixed(0)}`;
      }),
    ]),
    notes: [
      "From `status.history[].phases` (podium's own clock, from the detection of the cause): the " +
        "old leader's label removed, the Lease written, the new leader labelled, the old leader " +
        "gone from the Service's ready endpoints and the new one listed alone, as podium's " +
        "EndpointSlice watch saw them. The new endpoint is absent from a transition when it was " +
        "not seen ready alone within 30 s (a rollout may move on first).",
    ],
  };
}

/** What the per-resource figures mean as a cadence per group. */
function cadence(r: ApiCostResult): string {
  const get = (key: string, side: "podium" | "clientGo"): number =>
    r.byResource.find((x) => x.key === key)?.[side] ?? 0;
  const every = (perMinute: number): string =>
    perMinute > 0.01 ? `every ${(60 / perMinute).toFixed(1)} s` : "never";
  const podiumWrites = get("PATCH leases", "podium") + get("PUT leases", "podium");
  const podiumReads = get("GET leases", "podium");
  return (
    `Per group, podium wrote the Lease ${every(podiumWrites)} and ` +
    (podiumReads > 0.01 ? `read it ${every(podiumReads)} ` : "did not read it ") +
    "(it reads from its watch caches); the three client-go candidates together updated it " +
    `${every(get("PUT leases", "clientGo"))} (the holder renews every retry period, 2 s) and ` +
    `read it ${every(get("GET leases", "clientGo"))} (each standby every 2-4.4 s: the 2 s ` +
    "retry period with client-go's jitter factor 1.2)."
  );
}

export function apiCostTables(r: ApiCostResult): Table[] {
  const verbs = VERBS.filter(
    (v) =>
      Math.abs(r.perGroupPerMinute.podium[v] ?? 0) >= 0.005 ||
      Math.abs(r.perGroupPerMinute.clientGo[v] ?? 0) >= 0.005 ||
      (r.podiumOwnPerGroupPerMinute[v] ?? 0) > 0,
  );
  // podium's client counts by HTTP method: a LIST is a GET there, an APPLY a PATCH.
  const ownTotal = r.totals.podiumOwn;
  const perVerb: Table = {
    title: `API requests per group per minute (${String(r.groups)} groups of ${String(r.podsPerGroup)} pods, net of the baseline)`,
    header: ["verb", "podium (Managed, 90/60/2)", "client-go (3 × 15/10/2)", "podium's own client"],
    rows: [
      ...verbs.map((v) => [
        v,
        num(r.perGroupPerMinute.podium[v] ?? 0, 2),
        num(r.perGroupPerMinute.clientGo[v] ?? 0, 2),
        num(r.podiumOwnPerGroupPerMinute[v] ?? 0, 2),
      ]),
      ["**all but WATCH**", num(r.totals.podium, 2), num(r.totals.clientGo, 2), num(ownTotal, 2)],
      [
        "**client-go / podium**",
        r.totals.podium > 0 ? `${num(r.fewerTimes, 1)}× fewer for podium` : "—",
        "",
        ownTotal > 0 ? `${num(r.totals.clientGo / ownTotal, 1)}× (own client)` : "—",
      ],
    ],
    notes: [
      "Target (DESIGN.md §5): podium at least 10× fewer requests per group than the client-go " +
        "replicas it replaces. `podium's own client` is the delta of podium's " +
        "`rest_client_requests_total` over its phase, by HTTP method (a LIST is a GET there), " +
        "divided the same way; it leaves out watches. podium's fixed costs (it has no leader " +
        "election of its own with default flags, but lists and re-watches) are spread over the " +
        `${String(r.groups)} groups, so they weigh more with fewer groups. Small negative ` +
        "values are noise of the baseline subtraction.",
      cadence(r),
    ],
  };
  const byResource: Table = {
    title: "the same by verb and resource (net per group per minute, |value| ≥ 0.05)",
    header: ["verb resource", "podium", "client-go"],
    rows: r.byResource.map((x) => [x.key, num(x.podium, 2), num(x.clientGo, 2)]),
  };
  const watches = (w: Record<string, number>): string =>
    Object.entries(w)
      .map(([k, v]) => `${k} ${v > 0 ? "+" : ""}${String(v)}`)
      .join(", ") || "none";
  const phases: Table = {
    title: "phases as measured (apiserver_request_total deltas, whole cluster)",
    header: [
      "phase",
      "seconds",
      "requests but WATCH",
      "per minute",
      "WATCH ended",
      "open WATCHes at the end vs baseline",
      "leadership changes during the phase",
    ],
    rows: r.phases.map((p) => {
      const all = Object.entries(p.requests);
      const nonWatch = all.filter(([k]) => !k.startsWith("WATCH")).reduce((a, [, n]) => a + n, 0);
      const watch = all.filter(([k]) => k.startsWith("WATCH")).reduce((a, [, n]) => a + n, 0);
      return [
        p.name,
        num(p.seconds, 0),
        String(nonWatch),
        num((nonWatch / p.seconds) * 60, 0),
        String(watch),
        p.name === "baseline"
          ? `${String(Object.values(p.openWatches).reduce((a, n) => a + n, 0))} open`
          : watches(p.name === "podium" ? r.extraWatches.podium : r.extraWatches.clientGo),
        String(p.transitionsDuring),
      ];
    }),
    notes: [
      `podium's watch connections: ${String(r.podiumOwn.watchStreams)} long-lived watch ` +
        "streams (one per cached resource: ElectionGroups, pods, Leases; cluster-wide), " +
        `restarted ${String(r.podiumOwn.watchRestarts)} times during its phase (a restart is ` +
        "one new WATCH request; the server ends each watch after 5-10 min). They are not " +
        "per-group costs. The client-go candidates open no watch: the WATCH requests that " +
        "ended during a phase are the informers of kube-controller-manager, the scheduler and " +
        "kwok (and this harness's own watches) reaching the server's watch timeout, whichever phase it falls in." +
        (r.otherGroupsDeleted.length > 0
          ? ` Before the podium phase the ${String(r.otherGroupsDeleted.length)} ElectionGroups ` +
            "left by earlier scenarios were deleted (their pods stayed, unchanged, through all " +
            "three phases), so podium managed only this scenario's groups."
          : ""),
    ],
  };
  return [perVerb, byResource, phases];
}
