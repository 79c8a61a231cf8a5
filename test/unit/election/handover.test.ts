import { describe, expect, it } from "vitest";
import type { HandoverSettings } from "../../../src/api/types.ts";
import { decideHandover, rolloutRevision } from "../../../src/election/handover.ts";
import { decideManaged } from "../../../src/election/managed.ts";
import type { PodView } from "../../../src/election/types.ts";
import { lease, leader, pod, spec, T0 } from "./fixtures.ts";

const NOW = T0 + 60_000;
const ON: HandoverSettings = { mode: "OnRollout", settleSeconds: 2 };

/** A pod of revision `revision` created `createdS` seconds after T0, Ready as podium saw it `readyS` s after T0. */
function rev(name: string, revision: string, createdS: number, readyS = createdS): PodView {
  return pod(name, {
    revision,
    createdAt: T0 + createdS * 1000,
    readySince: T0 + Math.floor(readyS) * 1000,
    readySeenAt: T0 + readyS * 1000,
  });
}

/** `p`, first seen by podium `ms` milliseconds after T0. */
function seen(p: PodView, ms: number): PodView {
  return { ...p, firstSeenAt: T0 + ms };
}

describe("rolloutRevision", () => {
  const cases: [string, PodView[], string | undefined][] = [
    ["no pods", [], undefined],
    ["bare pods (no revision label)", [pod("x"), pod("y", { createdAt: T0 + 5 })], undefined],
    ["one revision", [rev("a1", "A", 0), rev("a2", "A", 1)], "A"],
    ["a rollout under way", [rev("a1", "A", 0), rev("a2", "A", 1), rev("b1", "B", 30)], "B"],
    [
      "the outgoing ReplicaSet replaced a crashed pod: its pod is the newest, its revision is not",
      [rev("a1", "A", 0), rev("b1", "B", 30), rev("a9", "A", 40)],
      undefined,
    ],
    [
      "a rollback during a rollout: A's new pods are newest, its old ones oldest",
      [rev("a1", "A", 0), rev("b1", "B", 30), rev("a4", "A", 40)],
      undefined,
    ],
    [
      "a rollback once the rollout finished is just another newest revision",
      [rev("b1", "B", 30), rev("b2", "B", 31), rev("a4", "A", 40)],
      "A",
    ],
    [
      "a rollout begun in the second its first pods were created: podium's first sight orders them",
      [seen(rev("a1", "A", 0), 100), seen(rev("a2", "A", 0), 120), seen(rev("b1", "B", 0), 700)],
      "B",
    ],
    [
      "pods of one second that podium first saw together (a restart's list) stay ambiguous",
      [seen(rev("a1", "A", 0), 500), seen(rev("b1", "B", 0), 500)],
      undefined,
    ],
    [
      "pods of one second without a first sight stay ambiguous",
      [rev("a1", "A", 0), rev("b1", "B", 0)],
      undefined,
    ],
    [
      "a bare pod beside a Deployment takes no part",
      [rev("a1", "A", 0), rev("b1", "B", 30), pod("debug", { createdAt: T0 + 50_000 })],
      "B",
    ],
  ];
  it.each(cases)("%s", (_, pods, want) => {
    expect(rolloutRevision(pods)).toBe(want);
  });
});

describe("decideHandover", () => {
  const a1 = rev("a1", "A", 0);
  const a2 = rev("a2", "A", 1);
  /** b1 became Ready (as podium saw it) `ago` seconds before NOW. */
  const b = (name: string, ago: number, o: Partial<PodView> = {}): PodView => ({
    ...rev(name, "B", 50, (NOW - T0) / 1000 - ago),
    ...o,
  });
  const cases: {
    name: string;
    handover?: HandoverSettings;
    preferredHolder?: string;
    holder?: PodView;
    pods: PodView[];
    want: string;
  }[] = [
    {
      name: "off: Disabled",
      handover: { mode: "Disabled", settleSeconds: 2 },
      pods: [a1, a2, b("b1", 10)],
      want: "none",
    },
    { name: "a settled new-revision pod", pods: [a1, a2, b("b1", 10)], want: "handover b1" },
    { name: "settled exactly now", pods: [a1, a2, b("b1", 2)], want: "handover b1" },
    {
      name: "not settled yet: look again when it is",
      pods: [a1, a2, b("b1", 0.5)],
      want: "wait 1500",
    },
    {
      name: "settle 0: at once",
      handover: { mode: "OnRollout", settleSeconds: 0 },
      pods: [a1, b("b1", 0)],
      want: "handover b1",
    },
    {
      name: "a new pod that turned NotReady again (flaps) is not chosen",
      pods: [a1, a2, b("b1", 10, { ready: false })],
      want: "none",
    },
    {
      name: "a terminating new pod is not chosen",
      pods: [a1, a2, b("b1", 10, { terminating: true })],
      want: "none",
    },
    {
      name: "the first settled pod in the next-holder order (priority, then Ready longest)",
      pods: [a1, b("b1", 3), b("b2", 9), b("b3", 5, { priorityAnnotation: "5" }), b("b4", 1)],
      want: "handover b3",
    },
    {
      name: "only settled pods count, even of higher priority",
      pods: [a1, b("b1", 3), b("b2", 1, { priorityAnnotation: "5" })],
      want: "handover b1",
    },
    {
      name: "the holder is of the newest revision already",
      holder: b("b1", 10),
      pods: [a1, b("b1", 10), b("b2", 10)],
      want: "none",
    },
    {
      name: "a holder without a revision (a bare pod)",
      holder: pod("x"),
      pods: [pod("x"), b("b1", 10)],
      want: "none",
    },
    {
      name: "never to a pod of an outgoing revision (the old ReplicaSet replaced a pod)",
      holder: b("b1", 10),
      pods: [a1, b("b1", 10), rev("a9", "A", 55)],
      want: "none",
    },
    {
      name: "not while a rollback during a rollout leaves the revision in doubt",
      pods: [a1, b("b1", 10), rev("a4", "A", 55)],
      want: "none",
    },
    {
      name: "an older holder of a third revision hands over to the newest only",
      holder: rev("z1", "Z", -50),
      pods: [rev("z1", "Z", -50), a1, b("b1", 10)],
      want: "handover b1",
    },
  ];
  it.each(cases)("$name", ({ handover = ON, preferredHolder, holder = a1, pods, want }) => {
    const s = spec({ handover, ...(preferredHolder === undefined ? {} : { preferredHolder }) });
    const v = decideHandover(s, pods, holder, NOW);
    const got =
      v.kind === "none"
        ? "none"
        : v.kind === "wait"
          ? `wait ${String(v.afterMs)}`
          : `handover ${v.to.name}`;
    expect(got).toBe(want);
  });

  it("a kubelet clock ahead of podium's never stretches the wait beyond the settle time", () => {
    const ahead = rev("b1", "B", 50, (NOW - T0) / 1000 + 3600);
    const v = decideHandover(spec({ handover: ON }), [a1, ahead], a1, NOW);
    expect(v).toEqual({ kind: "wait", afterMs: 2000 });
  });
});

describe("decideManaged with hand-over", () => {
  const holder = leader("a1", 1, { revision: "A", createdAt: T0 });
  const b1 = rev("b1", "B", 50, 50);

  it("moves leadership to the settled new pod with reason Handover, old label first", () => {
    const d = decideManaged({
      spec: spec({ handover: ON }),
      pods: [holder, b1],
      lease: lease("a1", 1),
      now: NOW,
    });
    expect(d.transition).toEqual({ from: "a1", to: "b1", reason: "Handover", epoch: 2 });
    expect(d.removeLabel.map((p) => p.name)).toEqual(["a1"]);
    expect(d.lease).toMatchObject({ kind: "acquire", holder: { name: "b1" }, transitions: 2 });
    expect(d.addLabel).toEqual({ name: "b1", uid: "uid-b1", epoch: 2 });
  });

  it("keeps the holder and asks to be looked at again when the new pod settles", () => {
    const fresh = rev("b1", "B", 59, 59.5);
    const d = decideManaged({
      spec: spec({ handover: ON }),
      pods: [holder, fresh],
      lease: lease("a1", 1, { renewTime: NOW, observedAt: NOW }),
      now: NOW,
    });
    expect(d.transition).toBeUndefined();
    expect(d.holder?.name).toBe("a1");
    expect(d.requeueAfterMs).toBe(1500);
  });

  it("never hands over the preferredHolder", () => {
    const d = decideManaged({
      spec: spec({ handover: ON, preferredHolder: "a1" }),
      pods: [holder, b1],
      lease: lease("a1", 1),
      now: NOW,
    });
    expect(d.transition).toBeUndefined();
  });

  it("hands over from a holder waiting out its NotReady tolerance", () => {
    const notReady = { ...holder, ready: false, readySince: NOW - 1000 };
    const d = decideManaged({
      spec: spec({ handover: ON, notReadyToleranceSeconds: 30 }),
      pods: [notReady, b1],
      lease: lease("a1", 1),
      now: NOW,
    });
    expect(d.transition).toMatchObject({ to: "b1", reason: "Handover" });
  });
});
