import { describe, expect, it } from "vitest";
import type { ElectionGroupSpec } from "../../../src/api/types.ts";
import { decideManaged } from "../../../src/election/managed.ts";
import type {
  LeaseView,
  LeaseWrite,
  ManagedDecision,
  PodView,
} from "../../../src/election/types.ts";
import { lease, leader, pod, spec, T0 } from "./fixtures.ts";

/** Default clock: 1 s after the Lease fixtures were written; renewal is due at T0 + 10 s. */
const NOW = T0 + 1000;

function leaseText(write: LeaseWrite): string {
  switch (write.kind) {
    case "none":
      return "none";
    case "create":
      return `create:${write.holder?.name ?? ""}`;
    case "acquire":
      return `acquire:${write.holder.name}@${write.transitions}`;
    case "renew":
      return `renew:${write.holder.name}`;
    case "release":
      return `release@${write.transitions}`;
  }
}

/** The decision as a user sees it: who leads, which labels move, what the Lease gets. */
function summarize(d: ManagedDecision) {
  const t = d.transition;
  return {
    holder: d.holder?.name ?? "",
    remove: d.removeLabel.map((r) => r.name).sort(),
    lease: leaseText(d.lease),
    add: d.addLabel ? `${d.addLabel.name}@${d.addLabel.epoch}` : "",
    transition: t ? `${t.from}->${t.to} ${t.reason} @${t.epoch}` : "",
    requeue: d.requeueAfterMs,
  };
}
type Summary = ReturnType<typeof summarize>;

interface Case {
  pods: PodView[];
  lease: LeaseView | undefined;
  spec?: Partial<ElectionGroupSpec>;
  now?: number;
  want: Summary;
}

function decide(c: Omit<Case, "want">): ManagedDecision {
  return decideManaged({
    spec: spec(c.spec),
    pods: c.pods,
    lease: c.lease,
    now: c.now ?? NOW,
  });
}

/** web-b has been Ready longest, then web-c, then web-a. */
const three = [
  pod("web-a", { readySince: T0 + 2 }),
  pod("web-b"),
  pod("web-c", { readySince: T0 + 1 }),
];

const none = { remove: [], lease: "none", add: "", transition: "" };

const cases: Record<string, Case> = {
  // --- first election and the Lease's existence
  "no Lease, candidates: creates it for the longest-Ready pod at epoch 1": {
    pods: three,
    lease: undefined,
    want: {
      holder: "web-b",
      remove: [],
      lease: "create:web-b",
      add: "web-b@1",
      transition: "->web-b Elected @1",
      requeue: 10_000,
    },
  },
  "no Lease, no candidate: creates it empty, no transition": {
    pods: [pod("web-a", { ready: false })],
    lease: undefined,
    want: { ...none, holder: "", lease: "create:", requeue: undefined },
  },
  "released Lease, candidates: acquires at transitions + 1": {
    pods: three,
    lease: lease("", 4),
    want: {
      holder: "web-b",
      remove: [],
      lease: "acquire:web-b@5",
      add: "web-b@5",
      transition: "->web-b Elected @5",
      requeue: 10_000,
    },
  },
  "released Lease, no candidate: stray label removed, Lease left alone": {
    pods: [leader("web-a", 4, { ready: false })],
    lease: lease("", 4),
    want: { ...none, holder: "", remove: ["web-a"], requeue: undefined },
  },

  // --- a holder that stays: renewal timing and label repair
  "holder stays, renewal not due: nothing written, requeued for the renewal": {
    pods: [leader("web-a", 3), pod("web-b")],
    lease: lease("web-a", 3),
    want: { ...none, holder: "web-a", requeue: 9000 },
  },
  "renewal due exactly now: renews": {
    pods: [leader("web-a", 3), pod("web-b")],
    lease: lease("web-a", 3),
    now: T0 + 10_000,
    want: { ...none, holder: "web-a", lease: "renew:web-a", requeue: 10_000 },
  },
  "renewal due in 1 ms: waits": {
    pods: [leader("web-a", 3)],
    lease: lease("web-a", 3),
    now: T0 + 9999,
    want: { ...none, holder: "web-a", requeue: 1 },
  },
  "no renewTime: renewal counted from observedAt": {
    pods: [leader("web-a", 3)],
    lease: lease("web-a", 3, { renewTime: undefined, observedAt: T0 + 2000 }),
    now: T0 + 11_500,
    want: { ...none, holder: "web-a", requeue: 500 },
  },
  "Lease without the holder's uid: renewed at once to record it": {
    pods: [leader("web-a", 3)],
    lease: lease("web-a", 3, { holderUID: undefined }),
    want: { ...none, holder: "web-a", lease: "renew:web-a", requeue: 10_000 },
  },
  "Lease without uid names a pod podium never labelled (a hand edit): HolderGone, epoch + 1": {
    pods: [leader("web-a", 3), pod("web-b"), pod("web-c")],
    lease: lease("web-b", 3, { holderUID: undefined }),
    want: {
      holder: "web-a",
      remove: [],
      lease: "acquire:web-a@4",
      add: "web-a@4",
      transition: "web-b->web-a HolderGone @4",
      requeue: 10_000,
    },
  },
  "Lease without uid names a labelled pod of another epoch: HolderGone, epoch + 1": {
    pods: [leader("web-a", 2), pod("web-b")],
    lease: lease("web-a", 3, { holderUID: undefined }),
    want: {
      holder: "web-a",
      remove: [],
      lease: "acquire:web-a@4",
      add: "web-a@4",
      transition: "web-a->web-a HolderGone @4",
      requeue: 10_000,
    },
  },
  "operator back after 10 minutes, holder still ready: kept and renewed, no transition": {
    pods: [leader("web-a", 3), pod("web-b", { priorityAnnotation: "9" })],
    lease: lease("web-a", 3, { observedAt: T0 + 600_000 }),
    now: T0 + 600_000,
    want: { ...none, holder: "web-a", lease: "renew:web-a", requeue: 10_000 },
  },
  "holder without the label: labelled with the current epoch": {
    pods: [pod("web-a")],
    lease: lease("web-a", 3),
    want: { ...none, holder: "web-a", add: "web-a@3", requeue: 9000 },
  },
  "holder with a stale epoch annotation: re-annotated": {
    pods: [leader("web-a", 2)],
    lease: lease("web-a", 3),
    want: { ...none, holder: "web-a", add: "web-a@3", requeue: 9000 },
  },
  "holder whose label key has another value: labelled": {
    pods: [pod("web-a", { leaderLabelValue: "follower", epochAnnotation: "3" })],
    lease: lease("web-a", 3),
    want: { ...none, holder: "web-a", add: "web-a@3", requeue: 9000 },
  },
  "strays carrying the leader label lose it; the holder stays": {
    pods: [leader("web-a", 3), leader("web-b", 3), leader("web-c", 2, { ready: false })],
    lease: lease("web-a", 3),
    want: { ...none, holder: "web-a", remove: ["web-b", "web-c"], requeue: 9000 },
  },
  "a pod with the label key but another value is not a stray": {
    pods: [leader("web-a", 3), pod("web-b", { leaderLabelValue: "follower" })],
    lease: lease("web-a", 3),
    want: { ...none, holder: "web-a", requeue: 9000 },
  },

  // --- loss causes
  "holder deleted: HolderDeleted, the longest-Ready candidate takes over": {
    pods: [pod("web-b"), pod("web-c", { readySince: T0 + 1 })],
    lease: lease("web-a", 3),
    want: {
      holder: "web-b",
      remove: [],
      lease: "acquire:web-b@4",
      add: "web-b@4",
      transition: "web-a->web-b HolderDeleted @4",
      requeue: 10_000,
    },
  },
  "Lease names no group pod and records no uid: HolderGone": {
    pods: three,
    lease: lease("someone-else", 3, { holderUID: undefined }),
    want: {
      holder: "web-b",
      remove: [],
      lease: "acquire:web-b@4",
      add: "web-b@4",
      transition: "someone-else->web-b HolderGone @4",
      requeue: 10_000,
    },
  },
  "pod recreated under the holder's name: HolderGone, its stale label removed": {
    pods: [
      leader("web-0", 3, { uid: "uid-web-0-new", createdAt: T0 + 500, readySince: T0 + 900 }),
      pod("web-1", { readySince: T0 + 100 }),
    ],
    lease: lease("web-0", 3),
    want: {
      holder: "web-1",
      remove: ["web-0"],
      lease: "acquire:web-1@4",
      add: "web-1@4",
      transition: "web-0->web-1 HolderGone @4",
      requeue: 10_000,
    },
  },
  "holder terminating: HolderTerminating, its label removed": {
    pods: [leader("web-a", 3, { terminating: true }), pod("web-b")],
    lease: lease("web-a", 3),
    want: {
      holder: "web-b",
      remove: ["web-a"],
      lease: "acquire:web-b@4",
      add: "web-b@4",
      transition: "web-a->web-b HolderTerminating @4",
      requeue: 10_000,
    },
  },
  "holder NotReady with no tolerance: moves at once": {
    pods: [leader("web-a", 3, { ready: false, readySince: NOW - 1 }), pod("web-b")],
    lease: lease("web-a", 3),
    want: {
      holder: "web-b",
      remove: ["web-a"],
      lease: "acquire:web-b@4",
      add: "web-b@4",
      transition: "web-a->web-b HolderNotReady @4",
      requeue: 10_000,
    },
  },

  // --- no candidate left
  "holder terminating, no other candidate: label removed, Lease released, epoch kept": {
    pods: [leader("web-a", 3, { terminating: true }), pod("web-b", { ready: false })],
    lease: lease("web-a", 3),
    want: {
      holder: "",
      remove: ["web-a"],
      lease: "release@3",
      add: "",
      transition: "web-a-> HolderTerminating @3",
      requeue: undefined,
    },
  },
  "holder deleted, no candidate: released with the cause as the reason": {
    pods: [pod("web-b", { phase: "Pending", ready: false })],
    lease: lease("web-a", 3),
    want: {
      holder: "",
      remove: [],
      lease: "release@3",
      add: "",
      transition: "web-a-> HolderDeleted @3",
      requeue: undefined,
    },
  },
  "already released, still no candidate: nothing to do": {
    pods: [pod("web-a", { ready: false })],
    lease: lease("", 3),
    want: { ...none, holder: "", requeue: undefined },
  },

  // --- NotReady tolerance
  "NotReady within tolerance: keeps holder and label, requeued at the tolerance's end": {
    pods: [leader("web-a", 3, { ready: false, readySince: T0 }), pod("web-b")],
    lease: lease("web-a", 3),
    spec: { notReadyToleranceSeconds: 5 },
    want: { ...none, holder: "web-a", requeue: 4000 },
  },
  "NotReady within a long tolerance: requeued for the earlier renewal": {
    pods: [leader("web-a", 3, { ready: false, readySince: T0 }), pod("web-b")],
    lease: lease("web-a", 3),
    spec: { notReadyToleranceSeconds: 30 },
    want: { ...none, holder: "web-a", requeue: 9000 },
  },
  "NotReady in tolerance and renewal due: renewed normally": {
    pods: [leader("web-a", 3, { ready: false, readySince: T0 + 9500 }), pod("web-b")],
    lease: lease("web-a", 3),
    spec: { notReadyToleranceSeconds: 5 },
    now: T0 + 10_500,
    want: { ...none, holder: "web-a", lease: "renew:web-a", requeue: 4000 },
  },
  "tolerance boundary: now = readySince + tolerance counts as elapsed": {
    pods: [leader("web-a", 3, { ready: false, readySince: T0 }), pod("web-b")],
    lease: lease("web-a", 3),
    spec: { notReadyToleranceSeconds: 5 },
    now: T0 + 5000,
    want: {
      holder: "web-b",
      remove: ["web-a"],
      lease: "acquire:web-b@4",
      add: "web-b@4",
      transition: "web-a->web-b HolderNotReady @4",
      requeue: 10_000,
    },
  },
  "tolerance 1 ms short of the boundary: kept": {
    pods: [leader("web-a", 3, { ready: false, readySince: T0 }), pod("web-b")],
    lease: lease("web-a", 3),
    spec: { notReadyToleranceSeconds: 5 },
    now: T0 + 4999,
    want: { ...none, holder: "web-a", requeue: 1 },
  },
  "NotReady with no Ready transition time: tolerance counts as elapsed": {
    pods: [leader("web-a", 3, { ready: false, readySince: undefined }), pod("web-b")],
    lease: lease("web-a", 3),
    spec: { notReadyToleranceSeconds: 60 },
    want: {
      holder: "web-b",
      remove: ["web-a"],
      lease: "acquire:web-b@4",
      add: "web-b@4",
      transition: "web-a->web-b HolderNotReady @4",
      requeue: 10_000,
    },
  },
  "holder Failed: lost at once despite the tolerance": {
    pods: [
      leader("web-a", 3, { phase: "Failed", ready: false, readySince: NOW - 1 }),
      pod("web-b"),
    ],
    lease: lease("web-a", 3),
    spec: { notReadyToleranceSeconds: 60 },
    want: {
      holder: "web-b",
      remove: ["web-a"],
      lease: "acquire:web-b@4",
      add: "web-b@4",
      transition: "web-a->web-b HolderNotReady @4",
      requeue: 10_000,
    },
  },
  "NotReady holder in tolerance without its label: not labelled again": {
    pods: [pod("web-a", { ready: false, readySince: T0 }), pod("web-b")],
    lease: lease("web-a", 3),
    spec: { notReadyToleranceSeconds: 60 },
    want: { ...none, holder: "web-a", requeue: 9000 },
  },
  "kubelet clock ahead of ours: the wait is capped at the tolerance": {
    pods: [leader("web-a", 3, { ready: false, readySince: T0 + 60_000 }), pod("web-b")],
    lease: lease("web-a", 3),
    spec: { notReadyToleranceSeconds: 5 },
    want: { ...none, holder: "web-a", requeue: 5000 },
  },

  // --- preferredHolder
  "preferredHolder, a candidate: takes over from a healthy holder": {
    pods: [leader("web-a", 3), pod("web-b")],
    lease: lease("web-a", 3),
    spec: { preferredHolder: "web-b" },
    want: {
      holder: "web-b",
      remove: ["web-a"],
      lease: "acquire:web-b@4",
      add: "web-b@4",
      transition: "web-a->web-b PreferredHolder @4",
      requeue: 10_000,
    },
  },
  "preferredHolder not ready: ignored, holder stays": {
    pods: [leader("web-a", 3), pod("web-b", { ready: false })],
    lease: lease("web-a", 3),
    spec: { preferredHolder: "web-b" },
    want: { ...none, holder: "web-a", requeue: 9000 },
  },
  "preferredHolder names no pod of the group: ignored": {
    pods: [leader("web-a", 3), pod("web-b")],
    lease: lease("web-a", 3),
    spec: { preferredHolder: "web-z" },
    want: { ...none, holder: "web-a", requeue: 9000 },
  },
  "preferredHolder already holds: nothing to do": {
    pods: [leader("web-a", 3), pod("web-b", { priorityAnnotation: "5" })],
    lease: lease("web-a", 3),
    spec: { preferredHolder: "web-a" },
    want: { ...none, holder: "web-a", requeue: 9000 },
  },
  "preferredHolder takes over from a holder waiting out its tolerance": {
    pods: [leader("web-a", 3, { ready: false, readySince: T0 }), pod("web-b")],
    lease: lease("web-a", 3),
    spec: { preferredHolder: "web-b", notReadyToleranceSeconds: 60 },
    want: {
      holder: "web-b",
      remove: ["web-a"],
      lease: "acquire:web-b@4",
      add: "web-b@4",
      transition: "web-a->web-b PreferredHolder @4",
      requeue: 10_000,
    },
  },
  "first election: preferredHolder wins over priority, reason Elected": {
    pods: [pod("web-a", { priorityAnnotation: "10" }), pod("web-c")],
    lease: undefined,
    spec: { preferredHolder: "web-c" },
    want: {
      holder: "web-c",
      remove: [],
      lease: "create:web-c",
      add: "web-c@1",
      transition: "->web-c Elected @1",
      requeue: 10_000,
    },
  },

  // --- who is next, and labels during a transition
  "holder lost: priority chooses the next holder": {
    pods: [pod("web-b"), pod("web-c", { readySince: T0 + 500, priorityAnnotation: "5" })],
    lease: lease("web-a", 3),
    want: {
      holder: "web-c",
      remove: [],
      lease: "acquire:web-c@4",
      add: "web-c@4",
      transition: "web-a->web-c HolderDeleted @4",
      requeue: 10_000,
    },
  },
  "new holder already labelled by mistake: keeps it, re-annotated; other strays removed": {
    pods: [leader("web-b", 1), leader("web-c", 1, { ready: false })],
    lease: lease("web-a", 3),
    want: {
      holder: "web-b",
      remove: ["web-c"],
      lease: "acquire:web-b@4",
      add: "web-b@4",
      transition: "web-a->web-b HolderDeleted @4",
      requeue: 10_000,
    },
  },
};

describe("decideManaged", () => {
  it.each(Object.entries(cases))("%s", (_, c) => {
    expect(summarize(decide(c))).toEqual(c.want);
  });

  it("counts every selected pod as a candidate and only Running+Ready ones as ready", () => {
    const d = decide({
      pods: [
        pod("ready"),
        pod("not-ready", { ready: false }),
        pod("pending", { phase: "Pending", ready: false }),
        pod("terminating", { terminating: true }),
      ],
      lease: undefined,
    });
    expect({ candidates: d.candidates, readyCandidates: d.readyCandidates }).toEqual({
      candidates: 4,
      readyCandidates: 1,
    });
  });

  it("ties every write to the uid it decided about, never the recreated pod's predecessor", () => {
    const recreated = pod("web-0", { uid: "uid-new", createdAt: T0 + 500 });
    const d = decide({ pods: [recreated], lease: lease("web-0", 3, { holderUID: "uid-old" }) });
    expect(d.holder).toEqual({ name: "web-0", uid: "uid-new" });
    expect(d.lease).toEqual({
      kind: "acquire",
      holder: { name: "web-0", uid: "uid-new" },
      transitions: 4,
    });
    expect(d.addLabel).toEqual({ name: "web-0", uid: "uid-new", epoch: 4 });
    expect(d.transition?.reason).toBe("HolderGone");
  });

  it("gives the same decision whatever the order of the pods", () => {
    const pods = [
      leader("web-a", 3, { terminating: true }),
      leader("web-b", 2),
      pod("web-c", { readySince: T0 + 5, revision: "B", createdAt: T0 + 10 }),
      pod("web-d", { revision: "A" }),
      pod("web-e", { readySince: undefined }),
    ];
    const want = decide({ pods, lease: lease("web-a", 3) });
    expect(want.holder?.name).toBe("web-c");
    for (const order of [[...pods].reverse(), [pods[3], pods[0], pods[4], pods[2], pods[1]]]) {
      const d = decide({ pods: order as PodView[], lease: lease("web-a", 3) });
      expect({
        ...d,
        removeLabel: [...d.removeLabel].sort((a, b) => (a.name < b.name ? -1 : 1)),
      }).toEqual({
        ...want,
        removeLabel: [...want.removeLabel].sort((a, b) => (a.name < b.name ? -1 : 1)),
      });
    }
  });
});

/**
 * A tiny world that carries out decisions the way the controller does, so that
 * a sequence of pod changes can be replayed and its transitions counted.
 */
class World {
  readonly overrides: Partial<ElectionGroupSpec>;
  constructor(overrides: Partial<ElectionGroupSpec> = {}) {
    this.overrides = overrides;
  }
  pods: PodView[] = [];
  lease: LeaseView | undefined = undefined;
  now = T0;
  transitions: string[] = [];

  add(p: PodView): void {
    this.pods.push(p);
  }
  set(name: string, o: Partial<PodView>): void {
    this.pods = this.pods.map((p) => (p.name === name ? { ...p, ...o } : p));
  }
  delete(name: string): void {
    this.pods = this.pods.filter((p) => p.name !== name);
  }

  /** Reconciles until a decision writes nothing, as requeues would. */
  settle(): void {
    for (let i = 0; i < 10; i++) {
      this.now += 1000;
      const d = decideManaged({
        spec: spec(this.overrides),
        pods: this.pods,
        lease: this.lease,
        now: this.now,
      });
      if (d.transition) {
        const t = d.transition;
        this.transitions.push(`${t.from}->${t.to} ${t.reason} @${t.epoch}`);
      }
      const removed = new Set(d.removeLabel.map((r) => r.uid));
      this.pods = this.pods.map((p) => {
        if (!removed.has(p.uid)) return p;
        const unlabelled = { ...p };
        delete unlabelled.leaderLabelValue;
        delete unlabelled.epochAnnotation;
        return unlabelled;
      });
      this.applyLease(d.lease);
      const added = d.addLabel;
      if (added) {
        this.set(added.name, { leaderLabelValue: "leader", epochAnnotation: String(added.epoch) });
      }
      const labelled = this.pods.filter((p) => p.leaderLabelValue === "leader");
      expect(labelled.length).toBeLessThanOrEqual(1);
      if (d.removeLabel.length === 0 && d.lease.kind === "none" && !added) return;
    }
    throw new Error("decisions did not settle");
  }

  private applyLease(w: LeaseWrite): void {
    const at = { renewTime: this.now, observedAt: this.now };
    switch (w.kind) {
      case "none":
        return;
      case "create":
      case "acquire":
        this.lease = {
          holder: w.holder?.name ?? "",
          ...(w.holder ? { holderUID: w.holder.uid } : {}),
          transitions: w.kind === "acquire" ? w.transitions : w.holder ? 1 : 0,
          durationSeconds: 15,
          ...at,
        };
        return;
      case "renew":
        if (this.lease) this.lease = { ...this.lease, ...at };
        return;
      case "release":
        this.lease = { holder: "", transitions: w.transitions, durationSeconds: 15, ...at };
        return;
    }
  }

  leaderName(): string | undefined {
    return this.pods.find((p) => p.leaderLabelValue === "leader")?.name;
  }
}

describe("rolling update of a 3-replica Deployment (maxSurge 1, maxUnavailable 0)", () => {
  const disabled: Partial<ElectionGroupSpec> = { handover: { mode: "Disabled", settleSeconds: 1 } };
  function start(overrides: Partial<ElectionGroupSpec> = disabled): World {
    const w = new World(overrides);
    for (const [i, name] of ["a1", "a2", "a3"].entries()) {
      w.add(pod(name, { revision: "A", createdAt: T0 + i, readySince: T0 + 10 + i }));
    }
    w.settle();
    expect(w.leaderName()).toBe("a1");
    return w;
  }
  function surge(w: World, name: string): void {
    w.add(pod(name, { revision: "B", createdAt: w.now, ready: false, readySince: w.now }));
    w.settle();
    w.set(name, { ready: true, readySince: w.now });
    w.settle();
  }
  function retire(w: World, name: string): void {
    w.set(name, { terminating: true, ready: false, readySince: w.now });
    w.settle();
    w.delete(name);
    w.settle();
  }

  const orders: Record<string, string[]> = {
    "the leader is retired first": ["a1", "a2", "a3"],
    "the leader is retired last": ["a3", "a2", "a1"],
  };

  it.each(Object.entries(orders))("moves leadership once when %s", (_, retireOrder) => {
    const w = start();
    for (const [i, old] of retireOrder.entries()) {
      surge(w, `b${i + 1}`);
      retire(w, old);
    }
    expect(w.transitions).toEqual(["->a1 Elected @1", "a1->b1 HolderTerminating @2"]);
    expect(w.leaderName()).toBe("b1");
    expect(w.pods.find((p) => p.name === "b1")?.epochAnnotation).toBe("2");
  });

  it.each(Object.entries(orders))(
    "with hand-over on, moves leadership once, to the first settled new pod, before %s",
    (_, retireOrder) => {
      const w = start({ handover: { mode: "OnRollout", settleSeconds: 1 } });
      surge(w, "b1");
      // Handed over while a1 still runs, Ready.
      expect(w.transitions).toEqual(["->a1 Elected @1", "a1->b1 Handover @2"]);
      expect(w.pods.find((p) => p.name === "a1")).toMatchObject({ ready: true });
      retire(w, retireOrder[0] ?? "");
      for (const [i, old] of retireOrder.slice(1).entries()) {
        surge(w, `b${i + 2}`);
        retire(w, old);
      }
      expect(w.transitions).toEqual(["->a1 Elected @1", "a1->b1 Handover @2"]);
      expect(w.leaderName()).toBe("b1");
    },
  );

  it("with a settle time longer than the first step, the holder retired first goes as before", () => {
    const w = start({ handover: { mode: "OnRollout", settleSeconds: 30 } });
    surge(w, "b1");
    retire(w, "a1");
    expect(w.transitions).toEqual(["->a1 Elected @1", "a1->b1 HolderTerminating @2"]);
  });

  it("makes no transition when the operator restarts mid-way", () => {
    const w = start();
    surge(w, "b1");
    // A new replica sees the Lease for the first time, long after its last renewal.
    w.now += 300_000;
    if (w.lease) w.lease = { ...w.lease, observedAt: w.now };
    const restartedAt = w.now;
    w.settle();
    expect(w.transitions).toEqual(["->a1 Elected @1"]);
    expect(w.leaderName()).toBe("a1");
    // Renewed on the first reconcile after the restart.
    expect(w.lease?.renewTime).toBe(restartedAt + 1000);
  });
});

describe("a holder whose leader label key someone set to another value", () => {
  it("loses leadership (HolderLabelConflict) and keeps that value: podium does not fight over it", () => {
    const d = decideManaged({
      spec: spec(),
      pods: [
        leader("web-a", 1, { leaderLabelValue: "primary", foreignLabelValue: "primary" }),
        pod("web-b"),
      ],
      lease: lease("web-a", 1),
      now: T0 + 1000,
    });
    expect(d.transition).toMatchObject({
      from: "web-a",
      to: "web-b",
      reason: "HolderLabelConflict",
    });
    expect(d.removeLabel).toEqual([]);
  });
});
