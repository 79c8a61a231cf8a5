import { describe, expect, it } from "vitest";
import type { ElectionGroupSpec } from "../../../src/api/types.ts";
import type { Blocker } from "../../../src/election/gate.ts";
import type { LeaseRecord } from "../../../src/election/lease-record.ts";
import { plan, planManaged, planObserved } from "../../../src/election/plan.ts";
import type { Plan, PlanInput } from "../../../src/election/plan.ts";
import type { LeaseView, PodView } from "../../../src/election/types.ts";
import { lease, leader, pod, spec, T0 } from "./fixtures.ts";

const CR_UUID = "0b4ea3ac-5c1e-4c27-9a2f-3f1d3c1f2e4a";
const UNMAPPED_ELSEWHERE =
  "Lease web-lease names no pod of this group: holder elsewhere: no pod named elsewhere, spec.identity not set, no pod with hostname elsewhere, not <hostname>_<uuid>";

/** 1 s after the Lease fixtures were written: renewal due at T0 + 10 s, expiry at T0 + 15 s. */
const NOW = T0 + 1000;

interface Scenario {
  spec?: Partial<ElectionGroupSpec>;
  pods: PodView[];
  lease: LeaseView | undefined;
  /**
   * The pod the Lease names when it is not one of `pods` (it left the
   * selector); otherwise it is looked up in `pods`, as the shell does.
   */
  outside?: PodView;
  previousHolder?: string;
  blockers?: Blocker[];
  outranked?: string[];
  now?: number;
}

function inputOf(s: Scenario): PlanInput {
  const holder = s.lease?.holder ?? "";
  return {
    spec: spec(s.spec),
    pods: s.pods,
    lease: s.lease,
    leaseHolderPod:
      holder === "" ? undefined : (s.outside ?? s.pods.find((p) => p.name === holder)),
    leaseName: "web-lease",
    previousHolder: s.previousHolder ?? "",
    blockers: s.blockers ?? [],
    outranked: s.outranked ?? [],
    now: s.now ?? NOW,
  };
}

/** The writes of a plan as a user sees them: labels removed (and the stray Event), the Lease, the label added. */
function writesOf(p: Plan) {
  const t = p.transition;
  return {
    remove: p.removeLabel.map((r) =>
      r.strayMessage === undefined ? r.name : `${r.name}: ${r.strayMessage}`,
    ),
    lease: p.lease === undefined ? "none" : { create: p.lease.create, ...p.lease.record },
    add: p.addLabel ? `${p.addLabel.name}@${String(p.addLabel.epoch)}` : "",
    transition: t ? `${t.from}->${t.to} ${t.reason} @${String(t.epoch)}` : "",
    requeue: p.requeueAfterMs,
  };
}
type Writes = ReturnType<typeof writesOf>;

/** A Lease record written at NOW with the default 15 s duration. */
function record(holder: string, transitions: number, o: Partial<LeaseRecord> = {}): LeaseRecord {
  return {
    holder,
    holderUID: holder === "" ? undefined : `uid-${holder}`,
    durationSeconds: 15,
    transitions,
    acquireTime: NOW,
    renewTime: NOW,
    ...o,
  };
}

const nothing: Omit<Writes, "requeue"> = { remove: [], lease: "none", add: "", transition: "" };

describe("planManaged: the writes", () => {
  const cases: Record<string, Scenario & { want: Writes }> = {
    "first election: creates the Lease at transitions 1 and labels the holder at epoch 1": {
      pods: [pod("web-a"), pod("web-b", { readySince: T0 + 1 })],
      lease: undefined,
      want: {
        remove: [],
        lease: { create: true, ...record("web-a", 1) },
        add: "web-a@1",
        transition: "->web-a Elected @1",
        requeue: 10_000,
      },
    },
    "fail-over: the old holder is unlabelled, the Lease acquired at transitions + 1, the new holder labelled":
      {
        pods: [leader("web-a", 3, { ready: false }), pod("web-b")],
        lease: lease("web-a", 3),
        want: {
          remove: ["web-a"],
          lease: { create: false, ...record("web-b", 4) },
          add: "web-b@4",
          transition: "web-a->web-b HolderNotReady @4",
          requeue: 10_000,
        },
      },
    "fail-over while a stray carries the label too: both unlabelled, no stray Event": {
      pods: [leader("web-a", 3, { ready: false }), pod("web-b"), leader("web-c", 2)],
      lease: lease("web-a", 3),
      want: {
        remove: ["web-a", "web-c"],
        lease: { create: false, ...record("web-b", 4) },
        add: "web-b@4",
        transition: "web-a->web-b HolderNotReady @4",
        requeue: 10_000,
      },
    },
    "the holder left the selector still carrying the label: it is unlabelled, once": {
      pods: [pod("web-b")],
      lease: lease("web-a", 3),
      outside: leader("web-a", 3),
      want: {
        remove: ["web-a"],
        lease: { create: false, ...record("web-b", 4) },
        add: "web-b@4",
        transition: "web-a->web-b HolderDeleted @4",
        requeue: 10_000,
      },
    },
    "the holder left the selector and no candidate is left: unlabelled, the Lease released": {
      pods: [pod("web-b", { ready: false })],
      lease: lease("web-a", 3),
      outside: leader("web-a", 3),
      want: {
        remove: ["web-a"],
        lease: { create: false, ...record("", 3, { durationSeconds: 1 }) },
        add: "",
        transition: "web-a-> HolderDeleted @3",
        requeue: undefined,
      },
    },
    "on a transition the former holder is unlabelled even though the cache does not show its label yet":
      {
        pods: [pod("web-a", { ready: false }), pod("web-b")],
        lease: lease("web-a", 3),
        want: {
          remove: ["web-a"],
          lease: { create: false, ...record("web-b", 4) },
          add: "web-b@4",
          transition: "web-a->web-b HolderNotReady @4",
          requeue: 10_000,
        },
      },
    "a recreated pod of the holder's name (another uid) outside the selector is not unlabelled": {
      pods: [pod("web-b")],
      lease: lease("web-a", 3),
      outside: leader("web-a", 3, { uid: "uid-web-a-recreated" }),
      want: {
        remove: [],
        lease: { create: false, ...record("web-b", 4) },
        add: "web-b@4",
        transition: "web-a->web-b HolderDeleted @4",
        requeue: 10_000,
      },
    },
    "a holder that stays keeps its label: nothing written before the renewal": {
      pods: [leader("web-a", 3), pod("web-b")],
      lease: lease("web-a", 3),
      want: { ...nothing, requeue: 9000 },
    },
    "strays while the holder stays: unlabelled with a stray Event": {
      pods: [leader("web-a", 3), leader("web-b", 3), pod("web-c")],
      lease: lease("web-a", 3),
      want: {
        ...nothing,
        remove: ["web-b: removed role=leader from pod web-b, which does not lead"],
        requeue: 9000,
      },
    },
    "renewal: the record keeps acquireTime and transitions, renewTime moves": {
      pods: [leader("web-a", 3)],
      lease: lease("web-a", 3, { acquireTime: T0 - 60_000 }),
      now: T0 + 10_000,
      want: {
        ...nothing,
        lease: {
          create: false,
          ...record("web-a", 3, { acquireTime: T0 - 60_000, renewTime: T0 + 10_000 }),
        },
        requeue: 10_000,
      },
    },
    "the record's duration follows the spec": {
      spec: { lease: { durationSeconds: 30, renewDeadlineSeconds: 20, retryPeriodSeconds: 2 } },
      pods: [pod("web-a")],
      lease: undefined,
      want: {
        remove: [],
        lease: { create: true, ...record("web-a", 1, { durationSeconds: 30 }) },
        add: "web-a@1",
        transition: "->web-a Elected @1",
        requeue: 20_000,
      },
    },
    "no candidate left: the holder unlabelled and the Lease released (holder '', 1 s)": {
      pods: [leader("web-a", 3, { ready: false })],
      lease: lease("web-a", 3),
      want: {
        remove: ["web-a"],
        lease: { create: false, ...record("", 3, { durationSeconds: 1 }) },
        add: "",
        transition: "web-a-> HolderNotReady @3",
        requeue: undefined,
      },
    },
    "no Lease and no candidate: the Lease is created empty, at transitions 0": {
      pods: [pod("web-a", { ready: false })],
      lease: undefined,
      want: {
        ...nothing,
        lease: { create: true, ...record("", 0) },
        requeue: undefined,
      },
    },
  };
  it.each(Object.entries(cases))("%s", (_, { want, ...s }) => {
    expect(writesOf(planManaged(inputOf(s)))).toEqual(want);
  });
});

describe("planManaged: report-only", () => {
  // A holder that went NotReady: acting would fail over to web-b.
  const failing = {
    pods: [leader("web-a", 3, { ready: false }), pod("web-b")],
    lease: lease("web-a", 3),
  };
  const leaseConflict: Blocker = {
    kind: "leaseConflict",
    lease: "web-lease",
    holder: "web-a",
    foreignOwner: true,
  };

  const cases: Record<
    string,
    Scenario & { want: { holder: string; epoch: number; ready: string } }
  > = {
    "paused: no write, status names the Lease's holder, Ready=False Paused": {
      ...failing,
      spec: { paused: true },
      blockers: [{ kind: "paused" }],
      want: {
        holder: "web-a",
        epoch: 3,
        ready: "False Paused: spec.paused is true: podium reports but changes nothing",
      },
    },
    "a foreign Lease: no write, Ready=False LeaseConflict naming the Lease": {
      ...failing,
      blockers: [leaseConflict],
      want: {
        holder: "web-a",
        epoch: 3,
        ready:
          "False LeaseConflict: Lease web-lease (held by web-a) belongs to another object; podium writes only a Lease it created and touches nothing: set spec.mode: Observed to follow the election of whoever uses it, or spec.lease.name to a Lease of this group's own",
      },
    },
    "a foreign Lease naming no pod of the group: no holder reported": {
      pods: [pod("web-a"), pod("web-b")],
      lease: lease("some-other-pod", 7, { holderUID: undefined }),
      blockers: [leaseConflict],
      want: {
        holder: "",
        epoch: 7,
        ready:
          "False LeaseConflict: Lease web-lease (held by web-a) belongs to another object; podium writes only a Lease it created and touches nothing: set spec.mode: Observed to follow the election of whoever uses it, or spec.lease.name to a Lease of this group's own",
      },
    },
    "a foreign Lease naming a pod of the group by name but with another uid: no holder reported": {
      pods: [pod("web-a"), pod("web-b")],
      lease: lease("web-a", 7, { holderUID: "uid-elsewhere" }),
      blockers: [leaseConflict],
      want: {
        holder: "",
        epoch: 7,
        ready:
          "False LeaseConflict: Lease web-lease (held by web-a) belongs to another object; podium writes only a Lease it created and touches nothing: set spec.mode: Observed to follow the election of whoever uses it, or spec.lease.name to a Lease of this group's own",
      },
    },
    "paused with strays: they keep their label": {
      pods: [leader("web-a", 3), leader("web-b", 3)],
      lease: lease("web-a", 3),
      spec: { paused: true },
      blockers: [{ kind: "paused" }],
      want: {
        holder: "web-a",
        epoch: 3,
        ready: "False Paused: spec.paused is true: podium reports but changes nothing",
      },
    },
  };
  it.each(Object.entries(cases))("%s", (_, { want, ...s }) => {
    const p = planManaged(inputOf(s));
    expect(writesOf(p)).toMatchObject(nothing);
    expect(p.transition).toBeUndefined();
    expect(p.summary.transition).toBeUndefined();
    const { ready } = p.summary;
    expect({
      holder: p.summary.holder?.name ?? "",
      epoch: p.summary.epoch,
      ready: `${ready.status} ${ready.reason}: ${ready.message}`,
    }).toEqual(want);
  });
});

describe("planObserved", () => {
  const observed = { mode: "Observed" } as const;
  const cases: Record<string, Scenario & { want: Writes & { holder: string } }> = {
    "the Lease moved: the previous holder is unlabelled even though the cache does not show its label":
      {
        spec: observed,
        pods: [pod("a"), pod("b")],
        lease: lease("b", 5),
        previousHolder: "a",
        want: {
          holder: "b",
          remove: ["a"],
          lease: "none",
          add: "b@5",
          transition: "a->b LeaseHolderChanged @5",
          requeue: 14_001,
        },
      },
    "strays are unlabelled with an Event naming the Lease": {
      spec: observed,
      pods: [leader("a", 5), leader("c", 5)],
      lease: lease("a", 5),
      previousHolder: "a",
      want: {
        holder: "a",
        remove: ["c: removed role=leader from pod c, which does not hold Lease web-lease"],
        lease: "none",
        add: "",
        transition: "",
        requeue: 14_001,
      },
    },
    "requeued one millisecond after the expiry, judged from when the record was observed": {
      spec: observed,
      pods: [leader("a", 5)],
      lease: lease("a", 5, { observedAt: T0 + 3000, renewTime: T0 - 60_000 }),
      previousHolder: "a",
      now: T0 + 10_000,
      want: { holder: "a", ...nothing, requeue: 8001 },
    },
    "expired: the holder is unlabelled, no Event for it, nothing to wait for": {
      spec: observed,
      pods: [leader("a", 5)],
      lease: lease("a", 5),
      previousHolder: "a",
      now: T0 + 15_000,
      want: {
        holder: "",
        remove: ["a"],
        lease: "none",
        add: "",
        transition: "a-> LeaseExpired @5",
        requeue: undefined,
      },
    },
    "paused: no write and no holder, even for a valid Lease": {
      spec: { ...observed, paused: true },
      blockers: [{ kind: "paused" }],
      pods: [pod("a"), leader("b", 4)],
      lease: lease("a", 5),
      previousHolder: "b",
      want: { holder: "", ...nothing, requeue: 14_001 },
    },
  };
  it.each(Object.entries(cases))("%s", (_, { want, ...s }) => {
    const p = planObserved(inputOf(s));
    expect({ holder: p.summary.holder?.name ?? "", ...writesOf(p) }).toEqual(want);
  });

  it("asks for a warning about a valid holder that stands for no pod, with what was tried", () => {
    const p = planObserved(
      inputOf({ spec: observed, pods: [pod("a")], lease: lease("elsewhere", 5) }),
    );
    expect(p.unmappedHolder).toEqual({ holder: "elsewhere", message: UNMAPPED_ELSEWHERE });
    expect(p.summary.ready.message).toBe(UNMAPPED_ELSEWHERE);
  });

  it("asks for no warning about an expired holder, nor when paused", () => {
    const expired = {
      spec: observed,
      pods: [pod("a")],
      lease: lease("elsewhere", 5),
      now: T0 + 15_000,
    };
    expect(planObserved(inputOf(expired)).unmappedHolder).toBeUndefined();
    const paused = {
      spec: { ...observed, paused: true },
      blockers: [{ kind: "paused" as const }],
      pods: [pod("a")],
      lease: lease("elsewhere", 5),
    };
    expect(planObserved(inputOf(paused)).unmappedHolder).toBeUndefined();
  });

  it("labels the pod that spec.identity names", () => {
    const p = planObserved(
      inputOf({
        spec: {
          ...observed,
          identity: { template: "{hostname}-external-cert-manager-controller" },
        },
        pods: [pod("cm-1"), pod("cm-2")],
        lease: lease("cm-2-external-cert-manager-controller", 3),
      }),
    );
    expect(p.addLabel).toEqual({ name: "cm-2", uid: "uid-cm-2", epoch: 3 });
    expect(p.unmappedHolder).toBeUndefined();
  });
});

describe("plan", () => {
  it("plans by the spec's mode: Observed never writes the Lease, Managed does", () => {
    const s: Scenario = { pods: [pod("a")], lease: undefined };
    expect(plan(inputOf(s)).lease?.record.holder).toBe("a");
    const observed = plan(inputOf({ ...s, spec: { mode: "Observed" } }));
    expect(observed.lease).toBeUndefined();
    expect(observed.summary.leaderElected.reason).toBe("NoLease");
  });
});

describe("the status summary", () => {
  interface Want {
    holder: string;
    epoch: number;
    counts: string;
    /** Left out where the current text is questionable (see the case). */
    leaderElected?: string;
    ready: string;
    outranked?: string;
    transition?: string;
  }
  const cases: Record<string, Scenario & { want: Want }> = {
    "Managed, first election: the new holder leads in epoch 1": {
      pods: [pod("web-a"), pod("web-b", { ready: false })],
      lease: undefined,
      outranked: ["web-canary", "web-old-copy"],
      want: {
        holder: "web-a",
        epoch: 1,
        counts: "1/2",
        leaderElected: "True LeaderElected: pod web-a leads in epoch 1",
        ready: "True LeaderElected: pod web-a holds the Lease and alone carries role=leader",
        outranked: "web-canary, web-old-copy",
        transition: "->web-a Elected @1",
      },
    },
    "Managed, a holder that stays: the Lease's epoch": {
      pods: [leader("web-a", 3), pod("web-b")],
      lease: lease("web-a", 3),
      want: {
        holder: "web-a",
        epoch: 3,
        counts: "2/2",
        leaderElected: "True LeaderElected: pod web-a leads in epoch 3",
        ready: "True LeaderElected: pod web-a holds the Lease and alone carries role=leader",
      },
    },
    "Managed, fail-over: the new holder and the new epoch": {
      pods: [leader("web-a", 3, { ready: false }), pod("web-b")],
      lease: lease("web-a", 3),
      want: {
        holder: "web-b",
        epoch: 4,
        counts: "1/2",
        leaderElected: "True LeaderElected: pod web-b leads in epoch 4",
        ready: "True LeaderElected: pod web-b holds the Lease and alone carries role=leader",
        transition: "web-a->web-b HolderNotReady @4",
      },
    },
    "Managed, no candidate: no holder, the epoch kept, NoReadyCandidates": {
      pods: [leader("web-a", 3, { ready: false }), pod("web-b", { ready: false })],
      lease: lease("web-a", 3),
      want: {
        holder: "",
        epoch: 3,
        counts: "0/2",
        leaderElected: "False NoReadyCandidates: none of the 2 pods matching the selector is ready",
        ready: "False NoReadyCandidates: none of the 2 pods matching the selector is ready",
        transition: "web-a-> HolderNotReady @3",
      },
    },
    "Managed, a Lease created empty: epoch 0": {
      pods: [],
      lease: undefined,
      want: {
        holder: "",
        epoch: 0,
        counts: "0/0",
        leaderElected: "False NoReadyCandidates: none of the 0 pods matching the selector is ready",
        ready: "False NoReadyCandidates: none of the 0 pods matching the selector is ready",
      },
    },
    "Observed, a valid holder: it holds the Lease in the Lease's epoch": {
      spec: { mode: "Observed" },
      pods: [leader("a", 5), pod("b")],
      lease: lease("a", 5),
      previousHolder: "a",
      want: {
        holder: "a",
        epoch: 5,
        counts: "2/2",
        leaderElected: "True LeaderElected: pod a holds Lease web-lease in epoch 5",
        ready: "True LeaderElected: pod a holds Lease web-lease and alone carries role=leader",
      },
    },
    "Observed, no Lease yet: NoLease names it": {
      spec: { mode: "Observed" },
      pods: [pod("a")],
      lease: undefined,
      want: {
        holder: "",
        epoch: 0,
        counts: "1/1",
        leaderElected: "False NoLease: Lease web-lease does not exist yet",
        ready: "False NoLease: Lease web-lease does not exist yet",
      },
    },
    "Observed, released: Released": {
      spec: { mode: "Observed" },
      pods: [pod("a")],
      lease: lease("", 5),
      want: {
        holder: "",
        epoch: 5,
        counts: "1/1",
        leaderElected: "False Released: Lease web-lease was released",
        ready: "False Released: Lease web-lease was released",
      },
    },
    "Observed, expired: Expired": {
      spec: { mode: "Observed" },
      pods: [pod("a")],
      lease: lease("a", 5),
      now: T0 + 15_000,
      want: {
        holder: "",
        epoch: 5,
        counts: "1/1",
        leaderElected: "False Expired: Lease web-lease expired: its holder stopped renewing",
        ready: "False Expired: Lease web-lease expired: its holder stopped renewing",
      },
    },
    "Observed, held by a pod outside the group: HolderNotInGroup names it": {
      spec: { mode: "Observed" },
      pods: [pod("a")],
      lease: lease("elsewhere", 5),
      want: {
        holder: "",
        epoch: 5,
        counts: "1/1",
        leaderElected: `False HolderNotInGroup: ${UNMAPPED_ELSEWHERE}`,
        ready: `False HolderNotInGroup: ${UNMAPPED_ELSEWHERE}`,
      },
    },
    "Observed, a controller-runtime holder: the pod of its hostname, and how it was mapped": {
      spec: { mode: "Observed" },
      pods: [leader("a", 5), pod("b")],
      lease: lease(`a_${CR_UUID}`, 5),
      previousHolder: "a",
      want: {
        holder: "a",
        epoch: 5,
        counts: "2/2",
        leaderElected: `True LeaderElected: pod a holds Lease web-lease as a_${CR_UUID} (<hostname>_<uuid> with its hostname) in epoch 5`,
        ready: `True LeaderElected: pod a holds Lease web-lease as a_${CR_UUID} (<hostname>_<uuid> with its hostname) and alone carries role=leader`,
      },
    },
    "Observed, paused: Ready=False Paused": {
      spec: { mode: "Observed", paused: true },
      blockers: [{ kind: "paused" }],
      pods: [leader("a", 5)],
      lease: lease("a", 5),
      previousHolder: "a",
      want: {
        holder: "",
        epoch: 5,
        counts: "1/1",
        // LeaderElected is not pinned: it says "no leader" while the Lease has a valid holder.
        ready: "False Paused: spec.paused is true: podium reports but changes nothing",
      },
    },
  };
  it.each(Object.entries(cases))("%s", (_, { want, ...s }) => {
    const { summary } = plan(inputOf(s));
    const condition = (c: { status: string; reason: string; message: string }): string =>
      `${c.status} ${c.reason}: ${c.message}`;
    const t = summary.transition;
    const got: Want = {
      holder: summary.holder?.name ?? "",
      epoch: summary.epoch,
      counts: `${String(summary.readyCandidates)}/${String(summary.candidates)}`,
      ready: condition(summary.ready),
      outranked: summary.outranked,
      transition: t ? `${t.from}->${t.to} ${t.reason} @${String(t.epoch)}` : "",
    };
    if (want.leaderElected !== undefined) got.leaderElected = condition(summary.leaderElected);
    expect(got).toEqual({ outranked: "", transition: "", ...want });
    expect(summary.leaseName).toBe("web-lease");
  });
});
