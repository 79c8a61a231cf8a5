import { describe, expect, it } from "vitest";
import type { ElectionGroupStatus, ServiceRouteSpec } from "../../../src/api/types.ts";
import {
  decideRoute,
  fillServiceRouted,
  readyPodsOf,
} from "../../../src/election/service-route.ts";
import type {
  RouteInput,
  RoutePod,
  OwnedServiceView,
  OwnedSliceView,
} from "../../../src/election/service-route.ts";

const GROUP_UID = "group-uid";
const MANAGER = "podium.dev";

const spec: ServiceRouteSpec = {
  name: "db",
  ports: [
    { name: "pg", port: 5432, targetPort: "postgres", protocol: "TCP" },
    { name: "metrics", port: 9090, targetPort: 9187, protocol: "TCP" },
  ],
};

function pod(name: string, over: Partial<RoutePod> = {}): RoutePod {
  return {
    name,
    uid: `${name}-uid`,
    ready: true,
    terminating: false,
    podIP: `10.244.0.${name.slice(-1)}`,
    nodeName: "node-1",
    namedPorts: { postgres: 5433 },
    ...over,
  };
}

const ownService: OwnedServiceView = {
  name: "db",
  uid: "svc-uid",
  resourceVersion: "10",
  ownerUIDs: [GROUP_UID],
  hasSelector: false,
  ports: [
    { name: "pg", port: 5432, targetPort: "postgres", protocol: "TCP" },
    { name: "metrics", port: 9090, targetPort: 9187, protocol: "TCP" },
  ],
};

/** The slice podium would have written for `holder`. */
function sliceListing(
  holder: RoutePod | undefined,
  over: Partial<OwnedSliceView> = {},
): OwnedSliceView {
  return {
    name: "db-podium",
    resourceVersion: "20",
    ownerUIDs: [GROUP_UID],
    managedBy: MANAGER,
    serviceName: "db",
    addressType: "IPv4",
    endpoints:
      holder === undefined
        ? []
        : [
            {
              addresses: [holder.podIP ?? ""],
              ready: true,
              serving: true,
              terminating: false,
              podName: holder.name,
              podUID: holder.uid,
              nodeName: "node-1",
            },
          ],
    ports: [
      { name: "pg", port: 5433, protocol: "TCP" },
      { name: "metrics", port: 9187, protocol: "TCP" },
    ],
    ...over,
  };
}

function input(over: Partial<RouteInput>): RouteInput {
  return {
    groupUID: GROUP_UID,
    spec,
    holder: pod("web-1"),
    service: ownService,
    slice: sliceListing(pod("web-1")),
    manager: MANAGER,
    ...over,
  };
}

describe("decideRoute", () => {
  it("creates the Service and a slice listing exactly the holder when neither exists", () => {
    const plan = decideRoute(input({ service: undefined, slice: undefined }));
    expect(plan.conflict).toBeUndefined();
    expect(plan.createService?.map((p) => p.name)).toEqual(["pg", "metrics"]);
    expect(plan.slice?.resourceVersion).toBeUndefined();
    expect(plan.slice?.desired).toEqual({
      name: "db-podium",
      serviceName: "db",
      addressType: "IPv4",
      endpoints: [
        {
          addresses: ["10.244.0.1"],
          ready: true,
          serving: true,
          terminating: false,
          podName: "web-1",
          podUID: "web-1-uid",
          nodeName: "node-1",
        },
      ],
      // The named port is resolved from the holder's container ports, the number kept.
      ports: [
        { name: "pg", port: 5433, protocol: "TCP" },
        { name: "metrics", port: 9187, protocol: "TCP" },
      ],
    });
    expect(plan.switched).toEqual({ from: "", to: "web-1" });
    expect(plan.condition.status).toBe("True");
  });

  it("writes nothing when the slice already lists exactly the holder", () => {
    const plan = decideRoute(input({}));
    expect(plan.createService).toBeUndefined();
    expect(plan.updateService).toBeUndefined();
    expect(plan.slice).toBeUndefined();
    expect(plan.switched).toBeUndefined();
    expect(plan.condition).toMatchObject({ status: "True", reason: "Routed" });
  });

  it("moves the endpoint from the old holder to the new in one update at the version it saw", () => {
    const plan = decideRoute(input({ holder: pod("web-2") }));
    expect(plan.slice?.resourceVersion).toBe("20");
    expect(plan.slice?.desired.endpoints.map((e) => e.podName)).toEqual(["web-2"]);
    expect(plan.switched).toEqual({ from: "web-1", to: "web-2" });
  });

  it("lists no endpoint when there is no holder", () => {
    const plan = decideRoute(input({ holder: undefined }));
    expect(plan.slice?.desired.endpoints).toEqual([]);
    expect(plan.switched).toEqual({ from: "web-1", to: "" });
    expect(plan.condition).toMatchObject({ status: "False", reason: "NoHolder" });
  });

  it("lists the holder as not ready while it is NotReady within its tolerance", () => {
    const plan = decideRoute(input({ holder: pod("web-1", { ready: false }) }));
    expect(plan.slice?.desired.endpoints[0]).toMatchObject({ ready: false, serving: false });
    expect(plan.condition).toMatchObject({ status: "False", reason: "HolderNotReady" });
  });

  it("lists no endpoint and names the field when the holder lacks a named port", () => {
    const plan = decideRoute(input({ holder: pod("web-2", { namedPorts: {} }) }));
    expect(plan.slice?.desired.endpoints).toEqual([]);
    expect(plan.unresolved).toEqual([
      "spec.service.ports[0].targetPort (no container port named postgres)",
    ]);
    expect(plan.condition).toMatchObject({ status: "False", reason: "PortNotFound" });
    expect(plan.condition.message).toContain("spec.service.ports[0].targetPort");
  });

  it("lists no endpoint while the holder has no pod IP", () => {
    const unaddressed = pod("web-2");
    delete unaddressed.podIP;
    const plan = decideRoute(input({ holder: unaddressed }));
    expect(plan.slice?.desired.endpoints).toEqual([]);
    expect(plan.condition).toMatchObject({ status: "False", reason: "NoPodIP" });
  });

  it("updates the Service's ports when spec.service.ports changed", () => {
    const plan = decideRoute(input({ spec: { ...spec, ports: spec.ports.slice(0, 1) } }));
    expect(plan.updateService).toEqual({
      resourceVersion: "10",
      ports: [{ name: "pg", port: 5432, targetPort: "postgres", protocol: "TCP" }],
    });
    expect(plan.slice?.desired.ports).toEqual([{ name: "pg", port: 5433, protocol: "TCP" }]);
  });

  it("uses IPv6 for a holder with an IPv6 address", () => {
    const plan = decideRoute(
      input({ holder: pod("web-1", { podIP: "fd00::1" }), slice: undefined }),
    );
    expect(plan.slice?.desired.addressType).toBe("IPv6");
  });

  it.each<[string, Partial<RouteInput>, string]>([
    [
      "a Service podium did not create",
      { service: { ...ownService, ownerUIDs: [] } },
      "not created by this group",
    ],
    [
      "a Service owned by another group",
      { service: { ...ownService, ownerUIDs: ["other"] } },
      "not created by this group",
    ],
    [
      "podium's Service given a selector",
      { service: { ...ownService, hasSelector: true } },
      "has a selector",
    ],
    [
      "a slice of that name managed by someone else",
      { slice: sliceListing(pod("web-1"), { managedBy: "someone" }) },
      "not managed by podium",
    ],
    [
      "a podium slice owned by another group",
      { slice: sliceListing(pod("web-1"), { ownerUIDs: ["other"] }) },
      "not managed by podium",
    ],
  ])("refuses %s: nothing written, ServiceConflict", (_what, over, message) => {
    const plan = decideRoute(input({ holder: pod("web-2"), ...over }));
    expect(plan.conflict).toContain(message);
    expect(plan).toEqual({
      conflict: plan.conflict,
      unresolved: [],
      condition: { status: "False", reason: "ServiceConflict", message: plan.conflict },
    });
  });
});

describe("readyPodsOf", () => {
  it("names the ready pods a slice lists, and nothing for an empty or absent slice", () => {
    expect(readyPodsOf(sliceListing(pod("web-1")))).toBe("web-1");
    expect(readyPodsOf(sliceListing(undefined))).toBe("");
    expect(readyPodsOf(undefined)).toBe("");
  });
});

describe("fillServiceRouted", () => {
  it("sets the condition with the generation, and removes it when spec.service is gone", () => {
    const status: ElectionGroupStatus = {};
    fillServiceRouted(status, { status: "True", reason: "Routed", message: "m" }, 3, "t1");
    expect(status.conditions).toEqual([
      {
        type: "ServiceRouted",
        status: "True",
        reason: "Routed",
        message: "m",
        observedGeneration: 3,
        lastTransitionTime: "t1",
      },
    ]);
    fillServiceRouted(status, undefined, 4, "t2");
    expect(status.conditions).toEqual([]);
  });
});
