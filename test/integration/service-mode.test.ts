import { ApiException, DiscoveryV1Api } from "@kubernetes/client-node";
import type { V1EndpointSlice, V1Service } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ListWatch } from "../../src/kube/listwatch.ts";
import { InvariantChecker } from "../support/invariant-checker.ts";
import type { Clients } from "../support/kube.ts";
import { setPodReady, waitFor } from "../support/kube.ts";
import { createGroup, deleteGroup, groupCondition, waitForGroup } from "../support/groups.ts";
import { deletePod, waitForPods } from "../support/pods.ts";
import { OperatedNamespace, spec } from "../support/operated-namespace.ts";

// EndpointSlice mode (spec.service): podium owns a selectorless Service and its one
// EndpointSlice, and moves the endpoint from the old holder to the new in one write. An
// independent EndpointSlice watch records every version of the slice: after the first holder
// is listed, no version lists zero or two ready endpoints, and the one it lists is the holder.
// Nothing here connects to a pod IP (kwok's addresses belong to nobody).

/** One version of podium's slice as the test's own watch saw it. */
interface SliceObservation {
  rv: string;
  event: string;
  /** Pods listed with ready: true (a nil ready reads as ready, as the API says). */
  ready: string[];
  at: number;
}

/** Watches the EndpointSlices of Service `service` and records every version of each. */
class SliceRecorder {
  readonly observations: SliceObservation[] = [];
  readonly #watch: ListWatch<SliceObservation>;

  constructor(clients: Clients, namespace: string, service: string) {
    this.#watch = new ListWatch<SliceObservation>({
      kc: clients.kc,
      name: "test-endpointslices",
      path: `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`,
      labelSelector: `kubernetes.io/service-name=${service}`,
      transform: (raw) => {
        const slice = raw as unknown as V1EndpointSlice;
        return {
          rv: slice.metadata?.resourceVersion ?? "",
          event: "",
          ready: (slice.endpoints ?? [])
            .filter((e) => e.conditions?.ready !== false)
            .map((e) => e.targetRef?.name ?? e.addresses.join("/")),
          at: Date.now(),
        };
      },
      onEvent: (type, _key, item) => {
        this.observations.push({ ...item, event: type, at: Date.now() });
      },
    });
  }

  async start(): Promise<void> {
    this.#watch.start();
    await this.#watch.waitForSync();
  }

  stop(): Promise<void> {
    return this.#watch.stop();
  }

  /** The observations from the first that lists exactly one ready endpoint, up to `until`. */
  since(first: number, until = Infinity): SliceObservation[] {
    const start = this.observations.findIndex((o, i) => i >= first && o.ready.length === 1);
    return start < 0 ? [] : this.observations.slice(start).filter((o) => o.at <= until);
  }
}

const PORT_NAME = "postgres";
const SERVICE = { name: "db", ports: [{ name: "pg", port: 5432, targetPort: PORT_NAME }] };

/** A bare pod app=`app` with a container port named postgres; its readiness is the test's. */
async function createPortPod(clients: Clients, namespace: string, app: string, name: string) {
  await clients.core.createNamespacedPod({
    namespace,
    body: {
      metadata: {
        name,
        labels: { app },
        annotations: { "kwok.podium.dev/manual-readiness": "true" },
      },
      spec: {
        containers: [
          {
            name: "db",
            image: "podium.test/app:1",
            ports: [{ name: PORT_NAME, containerPort: 5433 }],
          },
        ],
      },
    },
  });
  await waitForPods(clients, namespace, [name], { ready: false });
  await setPodReady(clients, namespace, name, true);
}

async function readOrUndefined<T>(read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (err) {
    if (err instanceof ApiException && err.code === 404) return undefined;
    throw err;
  }
}

describe("EndpointSlice mode: one write moves traffic", () => {
  const f = new OperatedNamespace("svc-mode");
  let checker: InvariantChecker;
  let slices: SliceRecorder;
  const readSlice = (name: string) =>
    readOrUndefined(() =>
      f.clients.kc
        .makeApiClient(DiscoveryV1Api)
        .readNamespacedEndpointSlice({ name, namespace: f.namespace }),
    );
  const readService = (name: string): Promise<V1Service | undefined> =>
    readOrUndefined(() => f.clients.core.readNamespacedService({ name, namespace: f.namespace }));
  /** Waits until podium's slice lists exactly `pod`, ready. */
  const sliceListing = (pod: string) =>
    waitFor(
      `EndpointSlice db-podium to list ${pod} alone`,
      async () => {
        const slice = await readSlice("db-podium");
        const ready = (slice?.endpoints ?? []).filter((e) => e.conditions?.ready !== false);
        return slice?.endpoints?.length === 1 && ready[0]?.targetRef?.name === pod
          ? slice
          : undefined;
      },
      { timeoutMs: 15_000 },
    );

  beforeAll(async () => {
    await f.setUp(["db", "fx"]);
    checker = new InvariantChecker(f.clients.kc, f.namespace);
    await checker.start();
    slices = new SliceRecorder(f.clients, f.namespace, "db");
    await slices.start();
    for (const name of ["db-a", "db-b", "db-c"]) {
      await createPortPod(f.clients, f.namespace, "db", name);
    }
  });
  afterAll(async () => {
    await slices.stop();
    await checker.stop();
    await f.tearDown();
  });

  it("creates a selectorless Service and a slice that lists exactly the holder", async () => {
    await createGroup(f.clients, f.namespace, "db", spec("db", { service: SERVICE }));
    const holder = await f.leader("db", "db");
    const slice = await sliceListing(holder);
    const group = await f.group("db");
    const pod = await f.clients.core.readNamespacedPod({ name: holder, namespace: f.namespace });

    expect(slice.metadata?.labels).toMatchObject({
      "endpointslice.kubernetes.io/managed-by": "podium.dev",
      "kubernetes.io/service-name": "db",
    });
    expect(slice.metadata?.ownerReferences?.map((o) => o.uid)).toEqual([group.metadata.uid]);
    // The named port is resolved from the holder's pod spec.
    expect(slice.ports).toEqual([{ name: "pg", port: 5433, protocol: "TCP" }]);
    expect(slice.endpoints?.[0]).toMatchObject({
      addresses: [pod.status?.podIP],
      targetRef: { kind: "Pod", name: holder, uid: pod.metadata?.uid },
      nodeName: pod.spec?.nodeName,
    });

    const service = await readService("db");
    expect(service?.spec?.selector).toBeUndefined();
    expect(service?.spec?.ports?.map((p) => [p.name, p.port])).toEqual([["pg", 5432]]);
    expect(service?.metadata?.ownerReferences?.map((o) => o.uid)).toEqual([group.metadata.uid]);
    const routed = await waitForGroup(
      f.clients,
      f.namespace,
      "db",
      "ServiceRouted True",
      (g) => groupCondition(g, "ServiceRouted")?.status === "True",
    );
    expect(groupCondition(routed, "ServiceRouted")?.message).toContain(holder);
  });

  it("never lists zero or two ready endpoints through fail-overs, and lists the holder", async () => {
    const first = slices.observations.length - 1;
    const holders = [await f.leader("db", "db")];
    const epochBefore = (await f.group("db")).status?.epoch ?? 0;
    let spare = 0;
    for (let round = 0; round < 4; round++) {
      const old = holders[holders.length - 1] ?? "";
      if (round % 2 === 0) {
        await deletePod(f.clients, f.namespace, old, 0);
        await createPortPod(f.clients, f.namespace, "db", `db-new-${String(spare++)}`);
      } else {
        await setPodReady(f.clients, f.namespace, old, false);
      }
      const next = await f.leader("db", "db", { not: old, timeoutMs: 15_000 });
      await sliceListing(next);
      holders.push(next);
      if (round % 2 === 1) await setPodReady(f.clients, f.namespace, old, true);
    }

    const seen = slices.since(first).filter((o) => o.event !== "delete");
    console.log(
      `EndpointSlice mode: ${String(seen.length)} slice versions over ${String(holders.length - 1)} fail-overs`,
    );
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.filter((o) => o.ready.length !== 1)).toEqual([]);
    // The ready endpoint went through the holders in order, each once: one write per switch.
    const listed = seen.map((o) => o.ready[0]).filter((p, i, all) => i === 0 || all[i - 1] !== p);
    expect(listed).toEqual(holders);
    const events = await f.waitForEvent("db", "ServiceRouted");
    expect(events.length).toBeGreaterThanOrEqual(holders.length);
    // Each fail-over's history entry times the one slice write as both endpoint phases.
    const last = holders[holders.length - 1] ?? "";
    const timed = await waitForGroup(
      f.clients,
      f.namespace,
      "db",
      `the history entry of ${last} with its endpoint phases`,
      (g) =>
        g.status?.history?.some(
          (h) => h.to === last && h.phases?.newEndpointReadyMs !== undefined,
        ) === true,
    );
    const entries = (timed.status?.history ?? []).filter(
      (h) => h.epoch > epochBefore && h.to !== "",
    );
    expect(entries.length).toBeGreaterThanOrEqual(holders.length - 1);
    for (const { phases } of entries) {
      expect(phases?.newEndpointReadyMs).toBeDefined();
      expect(phases?.oldEndpointGoneMs).toBe(phases?.newEndpointReadyMs);
      expect(phases?.newEndpointReadyMs).toBeGreaterThanOrEqual(phases?.labelWrittenMs ?? 0);
    }
  });

  it("refuses a Service of that name podium did not create, and writes nothing to it", async () => {
    await createPortPod(f.clients, f.namespace, "fx", "fx-a");
    const foreign = await f.clients.core.createNamespacedService({
      namespace: f.namespace,
      body: {
        metadata: { name: "theirs" },
        spec: { selector: { app: "fx" }, ports: [{ name: "pg", port: 5432 }] },
      },
    });
    await createGroup(
      f.clients,
      f.namespace,
      "fx",
      spec("fx", { service: { ...SERVICE, name: "theirs" } }),
    );
    await f.leader("fx", "fx");
    const refused = await waitForGroup(
      f.clients,
      f.namespace,
      "fx",
      "ServiceRouted False (ServiceConflict)",
      (g) => groupCondition(g, "ServiceRouted")?.reason === "ServiceConflict",
    );
    expect(groupCondition(refused, "ServiceRouted")?.message).toContain("theirs");
    await f.waitForEvent("fx", "ServiceConflict");
    const after = await readService("theirs");
    expect(after?.metadata?.resourceVersion).toBe(foreign.metadata?.resourceVersion);
    expect(after?.metadata?.ownerReferences).toBeUndefined();
    expect(await readSlice("theirs-podium")).toBeUndefined();
  });

  it("keeps the invariants throughout, and group deletion removes the Service and slice", async () => {
    const result = checker.check();
    expect(result.violations, InvariantChecker.format(result)).toEqual([]);
    const deletedAt = Date.now();
    await deleteGroup(f.clients, f.namespace, "db");
    // The garbage collector (kube-controller-manager) follows the owner references.
    await waitFor(
      "Service db and EndpointSlice db-podium to be deleted",
      async () =>
        (await readService("db")) === undefined && (await readSlice("db-podium")) === undefined
          ? true
          : undefined,
      { timeoutMs: 60_000 },
    );
    // Until the group went, the slice still listed exactly one ready endpoint.
    expect(
      slices.observations.filter(
        (o) => o.at < deletedAt && o.event !== "delete" && o.ready.length > 1,
      ),
    ).toEqual([]);
  });
});
