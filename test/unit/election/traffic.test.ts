import { describe, expect, it } from "vitest";
import type { ElectionGroupStatus } from "../../../src/api/types.ts";
import {
  fillTraffic,
  leaderServices,
  routesToLeader,
  trafficRouted,
} from "../../../src/election/traffic.ts";
import type { ServiceView } from "../../../src/election/traffic.ts";

const label = { key: "role", value: "leader" };
const pods = [
  { name: "web-0", labels: { app: "web", role: "leader" } },
  { name: "web-1", labels: { app: "web" } },
  { name: "web-2", labels: { app: "web", tier: "canary" } },
];
const ep = (name: string, ready = true) => ({ name, uid: `uid-${name}`, ready });
const svc = (
  name: string,
  endpoints: ServiceView["endpoints"],
  selector: Record<string, string> = { app: "web", role: "leader" },
) => ({
  name,
  selector,
  endpoints,
});

describe("routesToLeader: the leader label completes the Service's selector", () => {
  it.each([
    ["app + leader label", { app: "web", role: "leader" }, "web-0", true],
    ["the leader label alone", { role: "leader" }, "web-0", true],
    ["no leader label: reaches every pod", { app: "web" }, "web-0", false],
    ["another value of the key", { app: "web", role: "follower" }, "web-0", false],
    ["a label the holder lacks", { app: "web", role: "leader", tier: "canary" }, "web-0", false],
    ["another app", { app: "db", role: "leader" }, "web-0", false],
    [
      "leaderless: any pod the label would complete",
      { app: "web", role: "leader", tier: "canary" },
      undefined,
      true,
    ],
  ])("%s", (_name, selector, holder, expected) => {
    expect(routesToLeader(selector, label, pods, holder)).toBe(expected);
  });

  it("keeps only the Services that route to the leader, by name", () => {
    const found = leaderServices(
      [svc("b", []), svc("all", [], { app: "web" }), svc("a", [], { role: "leader" })],
      label,
      pods,
      "web-0",
    );
    expect(found.map((s) => s.name)).toEqual(["a", "b"]);
  });
});

describe("trafficRouted", () => {
  it("is Unknown with NoLeaderService when no Service routes to the leader", () => {
    expect(trafficRouted([], pods, "web-0", label)).toMatchObject({
      status: "Unknown",
      reason: "NoLeaderService",
    });
  });

  it("is True when every Service lists exactly the holder as ready (dual-stack repeats count once)", () => {
    const state = trafficRouted(
      [svc("a", [ep("web-0"), ep("web-0")]), svc("b", [ep("web-0"), ep("web-1", false)])],
      pods,
      "web-0",
      label,
    );
    expect(state).toMatchObject({ status: "True", reason: "Routed" });
    expect(state.message).toContain("a, b");
  });

  it("is False with TrafficNotRouted, naming the Service and what it lists, during a cutover", () => {
    expect(trafficRouted([svc("a", [ep("web-1")])], pods, "web-0", label)).toEqual({
      status: "False",
      reason: "TrafficNotRouted",
      message: "Service a lists web-1 (ready); the leader is web-0",
    });
    expect(trafficRouted([svc("a", [ep("web-0"), ep("web-1")])], pods, "web-0", label).reason).toBe(
      "TrafficNotRouted",
    );
    expect(trafficRouted([svc("a", [])], pods, "web-0", label).message).toBe(
      "Service a lists no endpoint; the leader is web-0",
    );
    expect(trafficRouted([svc("a", [ep("web-0", false)])], pods, "web-0", label).status).toBe(
      "False",
    );
    expect(trafficRouted([svc("a", [])], pods, undefined, label).message).toContain(
      "the group has no leader",
    );
  });

  it("is False with ServiceSelectsNonLeader when a Service lists a ready pod outside the group", () => {
    const state = trafficRouted(
      [svc("a", [ep("web-0"), ep("stranger")]), svc("b", [ep("web-1")])],
      pods,
      "web-0",
      label,
    );
    expect(state.status).toBe("False");
    expect(state.reason).toBe("ServiceSelectsNonLeader");
    expect(state.message).toContain("Service a also selects stranger, not a pod of the group");
    expect(state.message).toContain("Service b lists web-1 (ready)");
  });
});

describe("fillTraffic: Ready does not claim convergence while traffic is not routed", () => {
  const readyTrue = (): ElectionGroupStatus => ({
    conditions: [
      {
        type: "Ready",
        status: "True",
        reason: "LeaderElected",
        message: "m",
        lastTransitionTime: "t0",
        observedGeneration: 1,
      },
    ],
  });

  it("turns Ready False with the traffic reason while TrafficRouted is False", () => {
    const status = readyTrue();
    fillTraffic(status, { status: "False", reason: "TrafficNotRouted", message: "x" }, 1, "t1");
    const ready = status.conditions?.find((c) => c.type === "Ready");
    expect(ready).toMatchObject({ status: "False", reason: "TrafficNotRouted" });
    expect(status.conditions?.find((c) => c.type === "TrafficRouted")).toMatchObject({
      status: "False",
      lastTransitionTime: "t1",
    });
  });

  it.each(["True", "Unknown"] as const)("leaves Ready alone when TrafficRouted is %s", (s) => {
    const status = readyTrue();
    fillTraffic(status, { status: s, reason: "Routed", message: "x" }, 1, "t1");
    expect(status.conditions?.find((c) => c.type === "Ready")?.status).toBe("True");
  });

  it("says so in TrafficRouted while the last cutover timed out", () => {
    const status = readyTrue();
    status.history = [
      {
        from: "a",
        to: "b",
        epoch: 3,
        reason: "HolderDeleted",
        time: "t",
        durationMs: 1,
        cutover: "TimedOut",
      },
    ];
    fillTraffic(status, { status: "True", reason: "Routed", message: "ok" }, 1, "t1");
    expect(status.conditions?.find((c) => c.type === "TrafficRouted")?.message).toContain(
      "the last cutover (to b, epoch 3) was not verified",
    );
  });
});
