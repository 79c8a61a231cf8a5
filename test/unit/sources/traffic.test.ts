import { describe, expect, it } from "vitest";
import {
  endpointSliceSource,
  toCachedEndpointSlice,
} from "../../../src/sources/endpoint-slices.ts";
import { serviceSource, toCachedService } from "../../../src/sources/services.ts";
import { memoryStore } from "../../support/memory-store.ts";

const T = Date.UTC(2026, 0, 1);
const noMemory = {
  isOwnEcho: () => false,
  forgetLease: () => undefined,
  settleLease: () => undefined,
};

function rawService(name: string, selector?: Record<string, string>) {
  return {
    metadata: { name, namespace: "ns", uid: `uid-${name}` },
    spec: { ...(selector === undefined ? {} : { selector }), ports: [{ port: 80 }] },
  };
}

function rawSlice(name: string, service: string, endpoints: [string, boolean | undefined][]) {
  return {
    metadata: { name, namespace: "ns", labels: { "kubernetes.io/service-name": service } },
    addressType: "IPv4",
    endpoints: endpoints.map(([pod, ready]) => ({
      addresses: ["10.244.0.1"],
      conditions: ready === undefined ? {} : { ready },
      targetRef: { kind: "Pod", name: pod, uid: `uid-${pod}` },
      nodeName: "n1",
      zone: "z",
    })),
    ports: [{ port: 8080 }],
  };
}

function group(name: string, leaderLabel?: { key: string; value: string }) {
  return {
    apiVersion: "podium.dev/v1alpha1",
    kind: "ElectionGroup",
    metadata: { name, namespace: "ns", uid: `uid-${name}`, generation: 1 },
    spec: {
      selector: { matchLabels: { app: name } },
      ...(leaderLabel === undefined ? {} : { leaderLabel }),
    },
  };
}

describe("the Service and EndpointSlice reductions", () => {
  it("keeps a Service's name and selector; a selectorless Service is not cached", () => {
    expect(toCachedService(rawService("a", { app: "web", role: "leader" }))).toEqual({
      namespace: "ns",
      name: "a",
      selector: { app: "web", role: "leader" },
    });
    expect(toCachedService(rawService("b"))).toBeUndefined();
  });

  it("keeps a slice's Service and, per endpoint, the pod and readiness (nil ready is ready)", () => {
    const s = toCachedEndpointSlice(
      rawSlice("a-x", "a", [
        ["p0", true],
        ["p1", false],
        ["p2", undefined],
      ]),
      T,
    );
    expect(s).toEqual({
      namespace: "ns",
      name: "a-x",
      service: "a",
      observedAt: T,
      endpoints: [
        { name: "p0", uid: "uid-p0", ready: true },
        { name: "p1", uid: "uid-p1", ready: false },
        { name: "p2", uid: "uid-p2", ready: true },
      ],
    });
    expect(toCachedEndpointSlice({ metadata: { name: "x", namespace: "ns" } }, T)).toBeUndefined();
  });

  it("keeps observedAt while the endpoints do not change", () => {
    const first = toCachedEndpointSlice(rawSlice("a-x", "a", [["p0", true]]), T);
    const same = toCachedEndpointSlice(rawSlice("a-x", "a", [["p0", true]]), T + 5, first);
    const changed = toCachedEndpointSlice(rawSlice("a-x", "a", [["p0", false]]), T + 9, same);
    expect(same?.observedAt).toBe(T);
    expect(changed?.observedAt).toBe(T + 9);
  });
});

describe("which groups a Service or slice event concerns", () => {
  const m = memoryStore(() => T, noMemory, { traffic: true });
  m.groups.put(group("web"));
  m.groups.put(group("db", { key: "primary", value: "yes" }));
  const web = m.services?.put(rawService("web-leader", { app: "web", role: "leader" }));
  const db = m.services?.put(rawService("db-rw", { app: "db", primary: "yes" }));
  const all = m.services?.put(rawService("web", { app: "web" }));

  it("a Service concerns the groups whose leader label its selector holds, before or after", () => {
    if (web === undefined || db === undefined || all === undefined) throw new Error("no cache");
    expect(
      [...serviceSource.concerns({ type: "add", item: web, old: undefined }, m.store)].sort(),
    ).toEqual(["ns/web"]);
    expect([...serviceSource.concerns({ type: "add", item: db, old: undefined }, m.store)]).toEqual(
      ["ns/db"],
    );
    expect([
      ...serviceSource.concerns({ type: "add", item: all, old: undefined }, m.store),
    ]).toEqual([]);
    expect([...serviceSource.concerns({ type: "update", item: all, old: db }, m.store)]).toEqual([
      "ns/db",
    ]);
  });

  it("a slice concerns its Service's groups, only when its endpoints changed", () => {
    const slice = m.endpointSlices?.put(rawSlice("db-rw-1", "db-rw", [["db-0", true]]));
    if (slice === undefined) throw new Error("no cache");
    expect([
      ...endpointSliceSource.concerns({ type: "add", item: slice, old: undefined }, m.store),
    ]).toEqual(["ns/db"]);
    expect([
      ...endpointSliceSource.concerns({ type: "update", item: slice, old: slice }, m.store),
    ]).toEqual([]);
    expect(
      m.store.leaderServices("ns", "primary", "yes").map((x) => [x.service.name, x.slices.length]),
    ).toEqual([["db-rw", 1]]);
    expect(m.store.watchesTraffic()).toBe(true);
    expect(memoryStore(() => T, noMemory).store.watchesTraffic()).toBe(false);
  });
});
