import { describe, expect, it } from "vitest";
import { buildReport } from "../../../src/cli/explain.ts";
import type { GroupInput } from "../../../src/cli/report.ts";
import { renderGroupStatus } from "../../../src/cli/status.ts";
import { explainWhy, failingRequirements } from "../../../src/cli/why.ts";
import { T0, group, leaderPod, rawLease, rawPod } from "./fixtures.ts";

const NOW = T0 + 60_000;
const selector = { matchLabels: { app: "web" } };

function why(pod: string, input: Partial<GroupInput>, labels?: Record<string, string>) {
  const report = buildReport({
    group: group({}, "a"),
    pods: [
      leaderPod("a"),
      rawPod("b", { annotations: { "podium.dev/priority": "10" } }),
      rawPod("c"),
      rawPod("n", { ready: false, since: T0 + 30_000 }),
    ],
    lease: rawLease("a", 2),
    now: NOW,
    ...input,
  });
  const outsider = labels === undefined ? undefined : { name: pod, labels };
  return explainWhy(report, pod, selector, outsider, NOW);
}

describe("explainWhy", () => {
  it("confirms the leader, with who takes over if it is lost", () => {
    const w = why("a", {});
    expect(w.leads).toBe(true);
    expect(w.lines[0]).toMatch(/^a leads ElectionGroup shop\/web in epoch 1/);
    expect(w.lines.join("\n")).toMatch(/if it is lost, b takes over/);
  });

  it("says a pod whose leader label key holds someone else's value is not eligible, and why", () => {
    const report = buildReport({
      group: group({ leaderLabel: { key: "tier", value: "leader" } }),
      pods: [rawPod("f", { labels: { app: "web", tier: "fe" } })],
      lease: undefined,
      now: NOW,
    });
    const w = explainWhy(report, "f", selector, undefined, NOW);
    expect(w.leads).toBe(false);
    expect(w.lines[0]).toContain(
      "not eligible: its label tier=fe was not set by podium, which never overwrites it",
    );
  });

  it("names NotReady with its time", () => {
    const w = why("n", {});
    expect(w.leads).toBe(false);
    expect(w.lines[0]).toBe(
      "n does not lead ElectionGroup shop/web: it is NotReady since 2026-01-01T12:00:30Z (30s ago); podium only gives leadership to pods that are Running, Ready and not terminating.",
    );
  });

  it("names the pod ahead and the rule that puts it ahead", () => {
    const w = why("c", {});
    expect(w.lines[0]).toMatch(
      /c does not lead .*: it is outranked by a because of name: equal on every other rule, a sorts before c \(rank 3 of 3\)/,
    );
    const first = why("b", {});
    expect(first.lines[0]).toMatch(/a leads, and leadership is sticky/);
    expect(first.lines[0]).toMatch(/priority: b has podium.dev\/priority 10, a 0/);
    expect(first.lines.join("\n")).toMatch(/kubectl podium switchover web --to b -n shop/);
  });

  it("explains a pod outside the selector by the requirement it misses", () => {
    const w = why("x", {}, { app: "other" });
    expect(w.lines[0]).toBe(
      "x does not lead ElectionGroup shop/web: it does not match the selector app=web.",
    );
    expect(w.lines[1]).toBe("Unmet: app=web (the pod has app=other).");
  });

  it("puts a group-level blocker first", () => {
    const w = why("b", { group: group({ paused: true }, "a") });
    expect(w.lines[0]).toMatch(/b does not lead .*: ElectionGroup shop\/web is paused/);
    expect(w.lines[1]).toMatch(/The pod itself: eligible; rank 1/);
  });
});

describe("failingRequirements", () => {
  it("lists each unmet requirement with what the pod has", () => {
    expect(
      failingRequirements(
        { app: "web" },
        {
          matchLabels: { app: "web", tier: "db" },
          matchExpressions: [{ key: "zone", operator: "In", values: ["a"] }],
        },
      ),
    ).toEqual(["tier=db (the pod has no tier label)", "zone in (a) (the pod has no zone label)"]);
  });
});

describe("explainWhy in Observed mode", () => {
  it("points at the Lease, not at readiness, which Observed mode does not judge", () => {
    const report = buildReport({
      group: group({ mode: "Observed" }, "a"),
      pods: [leaderPod("a"), rawPod("n", { ready: false, since: T0 })],
      lease: rawLease("a", 2),
      now: T0 + 6_000,
    });
    const w = explainWhy(report, "n", selector, undefined, T0 + 6_000);
    expect(w.lines[0]).toMatch(
      /n does not lead .*: in Observed mode the pods elect themselves on Lease web; it is held by a/,
    );
  });

  it("names the pod of a controller-runtime holder, and what was tried for a holder that is none", () => {
    const cr = "a_0b4ea3ac-5c1e-4c27-9a2f-3f1d3c1f2e4a";
    const held = buildReport({
      group: group({ mode: "Observed" }, ""),
      pods: [rawPod("a"), rawPod("b")],
      lease: rawLease(cr, 2),
      now: T0 + 6_000,
    });
    expect(held.lease).toMatchObject({
      holderPod: "a",
      mapping: `holder ${cr} is pod a (<hostname>_<uuid> with its hostname)`,
    });
    expect(renderGroupStatus(held, T0 + 6_000)).toContain(
      `  Holder pod:   holder ${cr} is pod a (<hostname>_<uuid> with its hostname)\n`,
    );
    expect(explainWhy(held, "b", selector, undefined, T0 + 6_000).lines[0]).toMatch(
      /it is held by a \(renewed/,
    );

    const stranger = buildReport({
      group: group({ mode: "Observed" }, ""),
      pods: [rawPod("a")],
      lease: rawLease("laptop", 2),
      now: T0 + 6_000,
    });
    expect(stranger.lease?.holderPod).toBeUndefined();
    expect(explainWhy(stranger, "a", selector, undefined, T0 + 6_000).lines).toContain(
      "The holder stands for no pod of the group: holder laptop: no pod named laptop, spec.identity not set, no pod with hostname laptop, not <hostname>_<uuid>.",
    );
  });
});

describe("explainWhy with the leader probe", () => {
  const probed = (): ReturnType<typeof group> => {
    const g = group({ failureDetection: { probe: { tcpSocket: { port: 8080 } } } }, "b");
    g.status = {
      ...g.status,
      failedProbes: [
        {
          pod: "a",
          uid: "uid-a",
          since: "2026-01-01T12:00:40Z",
          error: "connect ECONNREFUSED 10.244.0.5:8080",
        },
      ],
    };
    return g;
  };

  it("says a pod that failed its probe is not eligible until it passes, with the last error", () => {
    const report = buildReport({
      group: probed(),
      pods: [rawPod("a"), leaderPod("b")],
      lease: rawLease("b", 2),
      now: NOW,
    });
    expect(report.pods.find((p) => p.name === "a")?.eligibility).toMatchObject({
      kind: "probeFailed",
      problem: { error: "connect ECONNREFUSED 10.244.0.5:8080" },
    });
    const w = explainWhy(report, "a", selector, undefined, NOW);
    expect(w.leads).toBe(false);
    expect(w.lines[0]).toBe(
      "a does not lead ElectionGroup shop/web: it is not eligible: it failed its probe 2 times in a row for 20s (last: connect ECONNREFUSED 10.244.0.5:8080), and is eligible again once it passes; the operator probes the leader (spec.failureDetection.probe), and a Ready pod that fails the probe does not lead.",
    );
  });

  it("a pod the status does not list is eligible (podium reports every failing pod)", () => {
    const g = probed();
    g.status = { ...g.status, failedProbes: [] };
    const report = buildReport({
      group: g,
      pods: [rawPod("a"), leaderPod("b")],
      lease: rawLease("b", 2),
      now: NOW,
    });
    expect(report.pods.find((p) => p.name === "a")?.eligibility).toEqual({ kind: "eligible" });
  });
});
