import { describe, expect, it } from "vitest";
import {
  checkInvariants,
  extraLeaders,
  formatViolations,
  groupState,
  leaseState,
  mergeEvents,
  podState,
  unexcusedMs,
} from "../../support/invariant-checker.ts";
import type {
  CheckOptions,
  GroupState,
  LeaseState,
  PodState,
  RecordedEvent,
} from "../../support/invariant-checker.ts";

/**
 * Builds a synthetic history: every write gets the next resourceVersion and
 * arrives `step` ms after the previous one unless a time is given.
 */
class History {
  readonly events: RecordedEvent[] = [];
  rv = 100;
  at = 1_000;
  seq = 0;
  readonly pods = new Map<string, PodState>();
  readonly leases = new Map<string, LeaseState>();

  #next(at?: number): { seq: number; at: number; rv: string } {
    this.at = at ?? this.at + 10;
    return { seq: this.seq++, at: this.at, rv: String(++this.rv) };
  }

  group(patch: Partial<GroupState> = {}, at?: number): this {
    const n = this.#next(at);
    const object: GroupState = {
      name: "g",
      uid: "g-uid",
      rv: n.rv,
      generation: 1,
      selector: { matchLabels: { app: "g" } },
      mode: "Managed",
      leaderLabel: { key: "role", value: "leader" },
      leaseName: "g",
      notReadyToleranceSeconds: 0,
      deleting: false,
      ...patch,
    };
    this.events.push({ ...n, stream: "group", type: "modified", object });
    return this;
  }

  pod(name: string, patch: Partial<PodState> = {}, at?: number): this {
    const n = this.#next(at);
    const prev = this.pods.get(name);
    const object: PodState = {
      name,
      uid: `${name}-uid`,
      labels: { app: "g" },
      phase: "Running",
      ready: true,
      terminating: false,
      ...prev,
      ...patch,
      rv: n.rv,
    };
    this.pods.set(name, object);
    this.events.push({ ...n, stream: "pod", type: prev ? "modified" : "added", object });
    return this;
  }

  label(name: string, epoch: number | undefined, at?: number): this {
    const prev = this.pods.get(name);
    const labels = { ...(prev?.labels ?? { app: "g" }), role: "leader" };
    return this.pod(name, epoch === undefined ? { labels } : { labels, epoch: String(epoch) }, at);
  }

  unlabel(name: string, at?: number): this {
    const labels = { ...(this.pods.get(name)?.labels ?? {}) };
    delete labels.role;
    return this.pod(name, { labels }, at);
  }

  deletePod(name: string, at?: number): this {
    const n = this.#next(at);
    const prev = this.pods.get(name);
    if (!prev) throw new Error(`no pod ${name}`);
    this.pods.delete(name);
    this.events.push({ ...n, stream: "pod", type: "deleted", object: prev });
    return this;
  }

  lease(holder: string, transitions: number, patch: Partial<LeaseState> = {}, at?: number): this {
    const n = this.#next(at);
    const prev = this.leases.get("g");
    const object: LeaseState = {
      name: "g",
      uid: "lease-uid",
      holder,
      ...(holder === "" ? {} : { holderUID: `${holder}-uid` }),
      transitions,
      durationSeconds: 15,
      ...patch,
      rv: n.rv,
    };
    this.leases.set("g", object);
    this.events.push({ ...n, stream: "lease", type: prev ? "modified" : "added", object });
    return this;
  }

  relistPods(at?: number): this {
    const n = this.#next(at);
    this.events.push({
      ...n,
      stream: "pod",
      type: "relist",
      initial: false,
      objects: [...this.pods.values()],
    });
    return this;
  }

  /** Returns the resourceVersion of the last event. */
  lastRv(): string {
    return String(this.rv);
  }

  check(options: CheckOptions = {}): ReturnType<typeof checkInvariants> {
    return checkInvariants(this.events, { endAt: this.at, ...options });
  }
}

/** A group with pods a, b and c ready, and a elected in epoch 1. */
function elected(): History {
  return new History().group().pod("a").pod("b").pod("c").lease("a", 1).label("a", 1);
}

/** The textbook Managed hand-over from a: a NotReady, label off, Lease to b, label on b. */
function handover(h: History): History {
  return h.pod("a", { ready: false }).unlabel("a").lease("b", 2).label("b", 2);
}

function must<T>(value: T | undefined): T {
  if (value === undefined) throw new Error("missing");
  return value;
}

const checks = (r: ReturnType<typeof checkInvariants>): string[] =>
  r.violations.map((v) => v.check);

describe("invariant checker: a correct history", () => {
  it("passes a Managed hand-over done in the safe order, and names its cause", () => {
    const r = handover(elected()).check();
    expect(r.violations).toEqual([]);
    expect(r.transitions).toEqual([
      { group: "g", from: "", to: "a", epoch: 1, cause: "leaderless" },
      { group: "g", from: "a", to: "b", epoch: 2, cause: "holder a NotReady" },
    ]);
  });

  it("passes a release when the last candidate goes and a re-election later", () => {
    const h = elected()
      .pod("b", { ready: false })
      .pod("c", { ready: false })
      .pod("a", { ready: false })
      .unlabel("a")
      .lease("", 1)
      .pod("c", { ready: true })
      .lease("c", 2)
      .label("c", 2);
    expect(h.check().violations).toEqual([]);
  });

  it("orders the streams by resourceVersion, not by arrival", () => {
    const h = elected().pod("a", { ready: false }).unlabel("a");
    // The Lease write (earlier rv) arrives after the label write (later rv).
    h.lease("b", 2);
    const leaseEvent = h.events.at(-1);
    h.label("b", 2);
    const labelEvent = h.events.at(-1);
    if (!leaseEvent || !labelEvent) throw new Error("unreachable");
    leaseEvent.at = labelEvent.at + 50;
    leaseEvent.seq = labelEvent.seq + 1;
    expect(mergeEvents(h.events).indexOf(leaseEvent)).toBeLessThan(
      mergeEvents(h.events).indexOf(labelEvent),
    );
    expect(h.check().violations).toEqual([]);
  });

  it("applies a re-list as one atomic change", () => {
    const h = elected();
    // While the pod stream was cut off: a's label went, b got it.
    h.pods.set("a", { ...must(h.pods.get("a")), ready: false, labels: { app: "g" } });
    h.lease("b", 2);
    h.pods.set("b", {
      ...must(h.pods.get("b")),
      labels: { app: "g", role: "leader" },
      epoch: "2",
    });
    h.relistPods();
    const r = h.check();
    expect(r.violations).toEqual([]);
    expect(r.transitions.at(-1)?.cause).toBe("history gap (a stream re-listed)");
  });
});

describe("invariant checker (a): at most one labelled pod", () => {
  it("judges one instant: the pods that count, when more than one carries the label", () => {
    expect(extraLeaders([])).toEqual([]);
    expect(extraLeaders(["a"])).toEqual([]);
    expect(extraLeaders(["a", "b"])).toEqual(["a", "b"]);
    expect(extraLeaders(["a", "b", "c"])).toEqual(["a", "b", "c"]);
  });

  it("judges one instant without the pods someone else labelled", () => {
    const foreign = (pod: string): boolean => pod === "c";
    expect(extraLeaders(["a", "c"], foreign)).toEqual([]);
    expect(extraLeaders(["c"], foreign)).toEqual([]);
    expect(extraLeaders(["a", "b", "c"], foreign)).toEqual(["a", "b"]);
  });

  it("fails when the new holder is labelled before the old one lost its label", () => {
    const h = elected().pod("a", { ready: false }).lease("b", 2).label("b", 2).unlabel("a");
    expect(checks(h.check())).toContain("single-leader");
    expect(h.check().violations.find((v) => v.check === "single-leader")?.message).toContain(
      "a, b",
    );
  });

  it("does not count a declared hijack, but requires it to be reverted within the window", () => {
    const h = elected().label("c", undefined);
    const foreignLabels = [{ pod: "c", rv: h.lastRv() }];
    h.unlabel("c", h.at + 300);
    expect(h.check({ foreignLabels }).violations).toEqual([]);

    const slow = elected().label("c", undefined);
    const slowForeign = [{ pod: "c", rv: slow.lastRv() }];
    slow.unlabel("c", slow.at + 5_000);
    expect(checks(slow.check({ foreignLabels: slowForeign }))).toEqual(["labelled-not-leader"]);
    // Undeclared, the same label is a second leader and a label without the Lease.
    expect(checks(slow.check())).toEqual(
      expect.arrayContaining(["single-leader", "label-without-lease"]),
    );
  });

  it("reports a hijack never reverted, measured to the end of the recording", () => {
    const h = elected().label("c", undefined);
    const foreignLabels = [{ pod: "c", rv: h.lastRv() }];
    h.pod("b", {}, h.at + 10_000);
    expect(checks(h.check({ foreignLabels }))).toEqual(["labelled-not-leader"]);
  });
});

describe("invariant checker (b): a labelled pod is a candidate and the holder", () => {
  it("fails when a NotReady leader keeps the label past the window", () => {
    const h = elected().pod("a", { ready: false }).unlabel("a", 5_000);
    const r = h.check({ transitionWindowMs: 2_000 });
    expect(checks(r)).toEqual(["labelled-not-leader"]);
    expect(r.violations[0]?.message).toMatch(
      /a carried the leader label while NotReady for \d+ ms/,
    );
  });

  it("passes the same history within the window, the tolerance, or an excused outage", () => {
    const quick = elected().pod("a", { ready: false }).unlabel("a", undefined);
    expect(quick.check().violations).toEqual([]);

    const tolerant = new History()
      .group({ notReadyToleranceSeconds: 5 })
      .pod("a")
      .lease("a", 1)
      .label("a", 1)
      .pod("a", { ready: false }, 2_000)
      .unlabel("a", 8_000);
    expect(tolerant.check().violations).toEqual([]);

    const outage = elected().pod("a", { ready: false }, 2_000).unlabel("a", 10_000);
    expect(checks(outage.check())).toEqual(["labelled-not-leader"]);
    const excused = [{ from: 1_500, to: 9_000, reason: "operator killed" }];
    expect(outage.check({ excused }).violations).toEqual([]);
  });

  it("fails when a terminating or deleted-and-recreated pod keeps the label", () => {
    const h = elected().pod("a", { terminating: true }).pod("b", {}, 9_000);
    expect(checks(h.check())).toEqual(["labelled-not-leader"]);
  });

  it("fails a label that appears before the Lease names the pod (write order)", () => {
    const h = elected().pod("a", { ready: false }).unlabel("a").label("b", 2).lease("b", 2);
    expect(checks(h.check())).toEqual(["label-without-lease", "epoch-ahead-of-lease"]);
  });

  it("Observed: the holder of a valid Lease may carry the label, an expired one may not", () => {
    const base = (): History =>
      new History()
        .group({ mode: "Observed" })
        .pod("a")
        .pod("b")
        .lease("a", 1, { durationSeconds: 2 }, 1_000)
        .label("a", 1, 1_100);
    const renewed = base().lease("a", 1, { durationSeconds: 2 }, 2_500).unlabel("a", 5_000);
    expect(renewed.check().violations).toEqual([]);
    // Not renewed after 1 s: expired at 3 s, label still there at 9 s.
    const expired = base().unlabel("a", 9_000);
    const r = expired.check();
    expect(checks(r)).toEqual(["labelled-not-leader"]);
    expect(r.violations[0]?.message).toContain("Lease expired");
  });
});

describe("invariant checker (c): epochs never decrease", () => {
  it("fails when the Lease's leaseTransitions go back", () => {
    const h = handover(elected()).lease("b", 1);
    expect(checks(h.check())).toContain("epoch-decrease");
  });

  it("fails when status.epoch goes back", () => {
    const h = elected().group({ statusEpoch: 3 }).group({ statusEpoch: 2 });
    expect(checks(h.check())).toEqual(["epoch-decrease"]);
    expect(
      elected().group({ statusEpoch: 2 }).group({ statusEpoch: 3 }).check().violations,
    ).toEqual([]);
  });

  it("fails a new leader labelled with an older epoch, or one the Lease has not reached", () => {
    const older = elected()
      .group()
      .pod("a", { ready: false })
      .unlabel("a")
      .lease("b", 5)
      .label("b", 5)
      .pod("b", { ready: false })
      .unlabel("b")
      .lease("c", 6)
      .label("c", 4);
    expect(checks(older.check())).toEqual(["epoch-decrease"]);
    const ahead = elected().pod("a", { ready: false }).unlabel("a").lease("b", 2).label("b", 3);
    expect(checks(ahead.check())).toEqual(["epoch-ahead-of-lease"]);
  });
});

describe("invariant checker (d): no transition without a cause", () => {
  it("fails when the Lease moves away from a holder that stayed a ready candidate", () => {
    const h = elected().unlabel("a").lease("b", 2).label("b", 2);
    const r = h.check();
    expect(checks(r)).toEqual(["transition-without-cause"]);
    expect(r.violations[0]?.message).toContain("moved from a to b");
  });

  it("fails a release while the holder was ready", () => {
    const h = elected().unlabel("a").lease("", 1);
    expect(checks(h.check())).toEqual(["transition-without-cause"]);
  });

  it("accepts a flap that is already over, a deletion, a recreation and a preferredHolder", () => {
    const flap = elected()
      .pod("a", { ready: false })
      .pod("a", { ready: true })
      .unlabel("a")
      .lease("b", 2)
      .label("b", 2);
    expect(flap.check().violations).toEqual([]);

    const deleted = elected().deletePod("a").lease("b", 2).label("b", 2);
    expect(deleted.check().violations).toEqual([]);

    const recreated = elected()
      .deletePod("a")
      .pod("a", { uid: "a-uid-2" })
      .lease("b", 2)
      .label("b", 2);
    expect(recreated.check().transitions.at(-1)?.cause).toBe("holder a gone");
    expect(recreated.check().violations).toEqual([]);

    const preferred = elected()
      .group({ preferredHolder: "c" })
      .unlabel("a")
      .lease("c", 2)
      .label("c", 2);
    expect(preferred.check().transitions.at(-1)?.cause).toBe("preferredHolder c is a candidate");
    expect(preferred.check().violations).toEqual([]);
  });

  it("accepts a hand-over to another revision's candidate unless spec.handover is Disabled", () => {
    const rollout = (h: History): History =>
      h
        .pod("a", { labels: { app: "g", role: "leader", "pod-template-hash": "A" } })
        .pod("n", { labels: { app: "g", "pod-template-hash": "B" } })
        .unlabel("a")
        .lease("n", 2)
        .label("n", 2);
    const on = rollout(elected());
    expect(on.check().transitions.at(-1)?.cause).toBe("hand-over: n of revision B is a candidate");
    expect(on.check().violations).toEqual([]);
    const off = rollout(elected().group({ handover: "Disabled" }));
    expect(checks(off.check())).toEqual(["transition-without-cause"]);
  });

  it("takes a node failure the test declared, for the pods it names and from its time on", () => {
    const h = elected();
    const at = h.at;
    h.unlabel("a").lease("b", 2).label("b", 2);
    const declared = h.check({ nodeFailures: [{ pods: ["a"], at, what: "node n1 deleted" }] });
    expect(declared.violations).toEqual([]);
    expect(declared.transitions.at(-1)?.cause).toBe("node n1 deleted");
    const otherPod = h.check({ nodeFailures: [{ pods: ["c"], at, what: "node n2 deleted" }] });
    expect(checks(otherPod)).toEqual(["transition-without-cause"]);
    const later = h.check({ nodeFailures: [{ pods: ["a"], at: h.at + 1_000, what: "late" }] });
    expect(checks(later)).toEqual(["transition-without-cause"]);
  });

  it("takes a node failure only until the node came back, before the holder took over", () => {
    const h = elected();
    const failed = h.at - 500;
    h.unlabel("a").lease("b", 2).label("b", 2);
    const during = h.check({
      nodeFailures: [{ pods: ["a"], at: failed, until: h.at, what: "machine m1 killed" }],
    });
    expect(during.violations).toEqual([]);
    // The machine came back before a was elected: its failure explains nothing.
    const before = h.check({
      nodeFailures: [{ pods: ["a"], at: failed - 100, until: failed, what: "machine m1 killed" }],
    });
    expect(checks(before)).toEqual(["transition-without-cause"]);
  });

  it("does not take a cause from before the holder took over", () => {
    // a was NotReady before it was elected; nothing happened to it afterwards.
    const h = new History()
      .group()
      .pod("a", { ready: false })
      .pod("b")
      .pod("a", { ready: true })
      .lease("a", 1)
      .label("a", 1)
      .unlabel("a")
      .lease("b", 2)
      .label("b", 2);
    expect(checks(h.check())).toEqual(["transition-without-cause"]);
  });

  it("accepts a priority or a preferredHolder that is not a candidate as no cause", () => {
    const h = elected()
      .pod("b", { ready: false })
      .group({ preferredHolder: "b" })
      .pod("c", { epoch: "99" })
      .unlabel("a")
      .lease("c", 2)
      .label("c", 2);
    expect(checks(h.check())).toEqual(["transition-without-cause"]);
  });
});

describe("invariant checker: plumbing helpers", () => {
  it("measures excused time once, however the intervals overlap", () => {
    expect(unexcusedMs(0, 10_000, [])).toBe(10_000);
    expect(
      unexcusedMs(0, 10_000, [
        { from: 1_000, to: 3_000, reason: "x" },
        { from: 2_000, to: 4_000, reason: "y" },
        { from: 9_000, to: 20_000, reason: "z" },
      ]),
    ).toBe(6_000);
  });

  it("prints each violation with the events of its group around it", () => {
    const h = elected().pod("a", { ready: false }).lease("b", 2).label("b", 2).unlabel("a");
    const text = formatViolations(h.check());
    expect(text).toContain("VIOLATION single-leader in group g");
    expect(text).toMatch(/>> #\d+ .*pod b .*role=leader/);
    expect(text.split("\n").length).toBeGreaterThan(5);
  });

  it("reads the fields it needs from raw objects, with the API's defaults", () => {
    expect(
      podState({
        metadata: {
          name: "p",
          uid: "u",
          resourceVersion: "7",
          labels: { role: "leader" },
          annotations: { "podium.dev/epoch": "3" },
          deletionTimestamp: "2024-01-01T00:00:00Z",
        },
        status: { phase: "Running", conditions: [{ type: "Ready", status: "True" }] },
      }),
    ).toEqual({
      name: "p",
      uid: "u",
      rv: "7",
      labels: { role: "leader" },
      epoch: "3",
      phase: "Running",
      ready: true,
      terminating: true,
    });
    expect(
      leaseState({
        metadata: {
          name: "l",
          uid: "lu",
          resourceVersion: "8",
          annotations: { "podium.dev/holder-uid": "u" },
        },
        spec: { holderIdentity: "p", leaseTransitions: 4, leaseDurationSeconds: 15 },
      }),
    ).toEqual({
      name: "l",
      uid: "lu",
      rv: "8",
      holder: "p",
      holderUID: "u",
      transitions: 4,
      durationSeconds: 15,
    });
    expect(
      groupState({
        metadata: { name: "g", uid: "gu", resourceVersion: "9", generation: 2 },
        spec: { selector: { matchLabels: { app: "g" } } },
        status: { epoch: 5 },
      }),
    ).toMatchObject({
      leaseName: "g",
      mode: "Managed",
      leaderLabel: { key: "role", value: "leader" },
      statusEpoch: 5,
      notReadyToleranceSeconds: 0,
    });
  });
});
