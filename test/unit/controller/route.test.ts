import { pino } from "pino";
import { Registry } from "prom-client";
import { beforeEach, describe, expect, it } from "vitest";
import type { ElectionGroup, ElectionGroupSpec } from "../../../src/api/types.ts";
import { validateSpec } from "../../../src/api/validate.ts";
import type { DesiredSlice, RoutePod, RouteServicePort } from "../../../src/election/index.ts";
import { Router } from "../../../src/controller/route.ts";
import type { RouteWriter, SliceWrite } from "../../../src/controller/route-writer.ts";
import type { WriteOutcome } from "../../../src/controller/writer.ts";
import { groupSource, SpecValidations } from "../../../src/sources/groups.ts";
import { leaseSource } from "../../../src/sources/leases.ts";
import {
  ownedServiceSource,
  ownedSliceSource,
  toOwnedSlice,
} from "../../../src/sources/owned-services.ts";
import type { OwnedService, OwnedSlice } from "../../../src/sources/owned-services.ts";
import { podSource } from "../../../src/sources/pods.ts";
import { createStore } from "../../../src/sources/store.ts";
import { OwnWrites } from "../../../src/controller/own-writes.ts";
import { MemoryCache } from "../../support/memory-store.ts";
import { RecordingRecorder, T0, rawGroup } from "./fakes.ts";

// The route phase's shell: what it reads (podium's cache first, the API once when it has
// nothing of its own), the order of its writes, its read-own-writes, and its Events.

const GROUP_UID = "uid-group-web";
const OWNER = {
  apiVersion: "podium.dev/v1alpha1",
  kind: "ElectionGroup",
  name: "web",
  uid: GROUP_UID,
};

function groupWith(
  service: unknown,
  status?: object,
): { group: ElectionGroup; spec: ElectionGroupSpec } {
  const raw = rawGroup(
    "web",
    service === undefined ? {} : { service },
    status === undefined ? {} : { status },
  );
  const group = raw as unknown as ElectionGroup;
  const result = validateSpec(group.spec);
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return { group, spec: result.spec };
}

const SERVICE = { name: "db", ports: [{ name: "pg", port: 5432, targetPort: "postgres" }] };

function holder(name: string): RoutePod {
  return {
    name,
    uid: `uid-${name}`,
    ready: true,
    terminating: false,
    podIP: name === "web-a" ? "10.244.0.1" : "10.244.0.2",
    nodeName: "n1",
    namedPorts: { postgres: 5433 },
  };
}

/** The slice as the API server would return it after `desired` was written at version `rv`. */
function rawSlice(
  desired: DesiredSlice,
  rv: string,
  managedBy = "podium.dev",
): Record<string, unknown> {
  return {
    metadata: {
      name: desired.name,
      namespace: "shop",
      resourceVersion: rv,
      labels: {
        "endpointslice.kubernetes.io/managed-by": managedBy,
        "kubernetes.io/service-name": desired.serviceName,
      },
      ownerReferences: [OWNER],
    },
    addressType: desired.addressType,
    endpoints: desired.endpoints.map((e) => ({
      addresses: e.addresses,
      conditions: { ready: e.ready, serving: e.serving, terminating: e.terminating },
      targetRef: { kind: "Pod", name: e.podName, uid: e.podUID },
      nodeName: e.nodeName,
    })),
    ports: desired.ports,
  };
}

/** A RouteWriter that records calls and answers as configured. */
class FakeRouteWriter implements RouteWriter {
  readonly calls: string[] = [];
  foreignService: OwnedService | undefined;
  sliceOutcome: WriteOutcome = "ok";
  #rv = 100;
  readService(_ns: string, name: string): Promise<OwnedService | undefined> {
    this.calls.push(`read service ${name}`);
    return Promise.resolve(this.foreignService);
  }
  readSlice(_ns: string, name: string): Promise<OwnedSlice | undefined> {
    this.calls.push(`read slice ${name}`);
    return Promise.resolve(undefined);
  }
  createService(
    _g: ElectionGroup,
    name: string,
    ports: readonly RouteServicePort[],
  ): Promise<WriteOutcome> {
    this.calls.push(`create service ${name} ${ports.map((p) => p.name).join(",")}`);
    return Promise.resolve("ok");
  }
  updateServicePorts(_ns: string, name: string): Promise<WriteOutcome> {
    this.calls.push(`update service ${name}`);
    return Promise.resolve("ok");
  }
  writeSlice(_g: ElectionGroup, slice: DesiredSlice, rv: string | undefined): Promise<SliceWrite> {
    const who = slice.endpoints.map((e) => e.podName).join(",");
    this.calls.push(`${rv === undefined ? "create" : `update@${rv}`} slice ${slice.name} [${who}]`);
    if (this.sliceOutcome !== "ok") return Promise.resolve({ outcome: this.sliceOutcome });
    const written = toOwnedSlice(rawSlice(slice, String(++this.#rv)));
    return Promise.resolve(written ? { outcome: "ok", written } : { outcome: "ok" });
  }
  deleteService(_ns: string, name: string): Promise<WriteOutcome> {
    this.calls.push(`delete service ${name}`);
    return Promise.resolve("ok");
  }
  deleteSlice(_ns: string, name: string): Promise<WriteOutcome> {
    this.calls.push(`delete slice ${name}`);
    return Promise.resolve("ok");
  }
}

describe("Router", () => {
  const now = (): number => T0;
  let services: MemoryCache<OwnedService>;
  let slices: MemoryCache<OwnedSlice>;
  let writer: FakeRouteWriter;
  let recorder: RecordingRecorder;
  let router: Router;
  const log = pino({ level: "silent" });
  const signal = new AbortController().signal;

  beforeEach(() => {
    services = new MemoryCache(ownedServiceSource, now);
    slices = new MemoryCache(ownedSliceSource, now);
    const store = createStore(
      {
        groups: new MemoryCache(groupSource(new SpecValidations()), now),
        pods: new MemoryCache(podSource, now),
        leases: new MemoryCache(leaseSource(new OwnWrites()), now),
        ownedServices: services,
        ownedSlices: slices,
      },
      () => true,
    );
    writer = new FakeRouteWriter();
    recorder = new RecordingRecorder();
    router = new Router({ store, routeWriter: writer, recorder, registry: new Registry(), now });
  });

  it("creates the Service, then the slice; reads the API only while it has nothing of its own", async () => {
    const { group, spec } = groupWith(SERVICE);
    const result = await router.route(group, spec, holder("web-a"), signal, log);
    expect(writer.calls).toEqual([
      "read service db",
      "read slice db-podium",
      "create service db pg",
      "create slice db-podium [web-a]",
    ]);
    expect(result).toMatchObject({ retry: false, switchedAt: T0, condition: { status: "True" } });
    expect(recorder.events).toEqual([
      "Normal ServiceRouted: EndpointSlice db-podium of Service db lists pod web-a",
    ]);
  });

  it("moves the slice it wrote in one update at the version it wrote, before the cache shows it", async () => {
    const { group, spec } = groupWith(SERVICE);
    await router.route(group, spec, holder("web-a"), signal, log);
    services.put({
      metadata: {
        name: "db",
        namespace: "shop",
        uid: "svc",
        resourceVersion: "7",
        ownerReferences: [OWNER],
      },
      spec: { ports: [{ name: "pg", port: 5432, targetPort: "postgres", protocol: "TCP" }] },
    });
    writer.calls.length = 0;
    await router.route(group, spec, holder("web-b"), signal, log);
    // No read, no Service write: one slice update at the version of podium's own write.
    expect(writer.calls).toEqual(["update@101 slice db-podium [web-b]"]);
    expect(recorder.events.at(-1)).toBe(
      "Normal ServiceRouted: EndpointSlice db-podium of Service db lists pod web-b (was web-a)",
    );
  });

  it("writes nothing when the cached slice already lists the holder", async () => {
    const { group, spec } = groupWith(SERVICE);
    await router.route(group, spec, holder("web-a"), signal, log);
    const [, written] = writer.calls;
    expect(written).toBe("read slice db-podium");
    services.put({
      metadata: {
        name: "db",
        namespace: "shop",
        uid: "svc",
        resourceVersion: "7",
        ownerReferences: [OWNER],
      },
      spec: { ports: [{ name: "pg", port: 5432, targetPort: "postgres", protocol: "TCP" }] },
    });
    slices.put(
      rawSlice(
        {
          name: "db-podium",
          serviceName: "db",
          addressType: "IPv4",
          endpoints: [
            {
              addresses: ["10.244.0.1"],
              ready: true,
              serving: true,
              terminating: false,
              podName: "web-a",
              podUID: "uid-web-a",
              nodeName: "n1",
            },
          ],
          ports: [{ name: "pg", port: 5433, protocol: "TCP" }],
        },
        "101",
      ),
    );
    writer.calls.length = 0;
    const result = await router.route(group, spec, holder("web-a"), signal, log);
    expect(writer.calls).toEqual([]);
    expect(result.switchedAt).toBeUndefined();
  });

  it("refuses a foreign Service: no write, one Warning while the condition already says so", async () => {
    writer.foreignService = {
      namespace: "shop",
      name: "db",
      uid: "theirs",
      resourceVersion: "3",
      ownerUIDs: [],
      ownerGroups: [],
      hasSelector: true,
      ports: [],
    };
    const { group, spec } = groupWith(SERVICE);
    const first = await router.route(group, spec, holder("web-a"), signal, log);
    expect(writer.calls).toEqual(["read service db", "read slice db-podium"]);
    expect(first.condition).toMatchObject({ status: "False", reason: "ServiceConflict" });
    expect(recorder.events).toHaveLength(1);
    expect(recorder.events[0]).toMatch(/^Warning ServiceConflict: Service db exists/);

    const reported = groupWith(SERVICE, {
      conditions: [{ type: "ServiceRouted", lastTransitionTime: "t", ...first.condition }],
    });
    await router.route(reported.group, reported.spec, holder("web-a"), signal, log);
    expect(recorder.events).toHaveLength(1);
  });

  it("asks to decide again when the slice changed since the decision", async () => {
    writer.sliceOutcome = "conflict";
    const { group, spec } = groupWith(SERVICE);
    const result = await router.route(group, spec, holder("web-a"), signal, log);
    expect(result.retry).toBe(true);
    expect(recorder.events).toEqual([]);
  });

  it("deletes its own Service and slice when spec.service is removed, and reports no condition", async () => {
    services.put({
      metadata: {
        name: "db",
        namespace: "shop",
        uid: "svc",
        resourceVersion: "7",
        ownerReferences: [OWNER],
      },
      spec: { ports: [] },
    });
    slices.put({
      metadata: {
        name: "db-podium",
        namespace: "shop",
        resourceVersion: "8",
        labels: { "endpointslice.kubernetes.io/managed-by": "podium.dev" },
        ownerReferences: [OWNER],
      },
      addressType: "IPv4",
    });
    const { group, spec } = groupWith(undefined);
    const result = await router.route(group, spec, holder("web-a"), signal, log);
    expect(writer.calls).toEqual(["delete service db", "delete slice db-podium"]);
    expect(result.condition).toBeUndefined();
  });
});
