import type { V1Pod } from "@kubernetes/client-node";
import type { Clients } from "../support/kube.ts";
import { podCondition } from "../support/kube.ts";
import { createService, getPod } from "../support/pods.ts";
import type { LabelWatch, SliceWatch } from "./watch.ts";
import { BENCH_LABEL, sleep, until } from "./watch.ts";

// The objects a benchmark group is made of: bare pods (optionally bound to a
// node), a Service on app=<group>,role=leader and kwok nodes.

/**
 * The kwok node for a bench's `i`-th pod, round robin over the cluster's two
 * (hack/cluster.sh). A pod bound by spec.nodeName skips the scheduler, and
 * with it the nodes' capacity of 110 pods each.
 */
export function kwokNode(i: number): string {
  return `kwok-node-${String(i % 2)}`;
}

/** Progress lines go to stderr, so stdout carries only the tables. */
export function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

/**
 * Creates a bare pod of group `app`; bound to `nodeName` when given (no scheduler involved),
 * tolerating `tolerateTaint` when given (a simulated machine's taint).
 */
export async function createPod(
  clients: Clients,
  namespace: string,
  name: string,
  app: string,
  nodeName?: string,
  tolerateTaint?: string,
): Promise<V1Pod> {
  return clients.core.createNamespacedPod({
    namespace,
    body: {
      metadata: { name, labels: { app, [BENCH_LABEL]: "1" } },
      spec: {
        ...(nodeName === undefined ? {} : { nodeName }),
        containers: [{ name: "app", image: "podium.test/app:1" }],
        ...(tolerateTaint === undefined
          ? {}
          : { tolerations: [{ key: tolerateTaint, operator: "Exists" }] }),
      },
    },
  });
}

/** The Service `<app>-leader` selecting app=`app`,role=leader; returns its name. */
export async function createLeaderService(
  clients: Clients,
  namespace: string,
  app: string,
): Promise<string> {
  const name = `${app}-leader`;
  await createService(clients, namespace, name, { app, role: "leader" });
  return name;
}

/** Creates a kwok-managed node, as hack/cluster.sh's node_manifest does. */
export async function createNode(clients: Clients, name: string): Promise<void> {
  await clients.core.createNode({
    body: {
      metadata: {
        name,
        annotations: { "kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0" },
        labels: {
          "kubernetes.io/hostname": name,
          "kubernetes.io/os": "linux",
          "kubernetes.io/arch": "amd64",
          type: "kwok-bench",
        },
      },
      spec: { providerID: `kwok://${name}` },
      status: {
        allocatable: { cpu: "32", memory: "256Gi", pods: "110" },
        capacity: { cpu: "32", memory: "256Gi", pods: "110" },
      },
    },
  });
}

/** Waits (bounded) until every node in `names` reports Ready=True. */
export async function waitNodesReady(
  clients: Clients,
  names: readonly string[],
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const nodes = (await clients.core.listNode({ labelSelector: "type=kwok-bench" })).items;
    const ready = new Set(
      nodes
        .filter((n) => n.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"))
        .map((n) => n.metadata?.name ?? ""),
    );
    if (names.every((n) => ready.has(n))) return;
    if (Date.now() >= deadline) {
      throw new Error(`nodes not Ready after ${String(timeoutMs)} ms: ${names.join(", ")}`);
    }
    await sleep(200);
  }
}

/** Waits (bounded) until every pod in `names` is Running and Ready. */
export async function waitPodsReady(
  clients: Clients,
  namespace: string,
  names: readonly string[],
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pods = (
      await clients.core.listNamespacedPod({ namespace, labelSelector: `${BENCH_LABEL}=1` })
    ).items;
    const ready = new Set(
      pods
        .filter(
          (p) =>
            p.metadata?.deletionTimestamp === undefined &&
            p.status?.phase === "Running" &&
            podCondition(p, "Ready") === "True",
        )
        .map((p) => p.metadata?.name ?? ""),
    );
    if (names.every((n) => ready.has(n))) return;
    if (Date.now() >= deadline) {
      const missing = names.filter((n) => !ready.has(n));
      throw new Error(
        `${String(missing.length)} of ${String(names.length)} pods not Ready after ${String(timeoutMs)} ms: ${missing.slice(0, 20).join(", ")}${missing.length > 20 ? ", …" : ""}`,
      );
    }
    await sleep(200);
  }
}

/** Waits (bounded) until the pod `name` is gone from the API. */
export async function waitPodGone(
  clients: Clients,
  namespace: string,
  name: string,
  timeoutMs = 120_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await getPod(clients, namespace, name)) !== undefined) {
    if (Date.now() >= deadline) {
      throw new Error(`pod ${namespace}/${name} still exists after ${String(timeoutMs)} ms`);
    }
    await sleep(200);
  }
}

/**
 * Waits (bounded, from the watches) until exactly one pod of group `app`
 * carries the label, is not `not`, and the Service lists it alone as ready;
 * returns it.
 */
export async function waitSteady(
  labels: LabelWatch,
  slices: SliceWatch,
  namespace: string,
  app: string,
  service: string,
  { not, timeoutMs = 60_000 }: { not?: string; timeoutMs?: number } = {},
): Promise<string> {
  const leader = await until(() => {
    const led = labels.leaders(namespace, app);
    const [only] = led;
    if (led.length !== 1 || only === undefined || only === not) return undefined;
    const ready = slices.ready(namespace, service);
    return ready.length === 1 && ready[0] === only ? only : undefined;
  }, timeoutMs);
  if (leader === undefined) {
    throw new Error(
      `${namespace}/${app}: no steady leader within ${String(timeoutMs)} ms ` +
        `(labelled: ${labels.leaders(namespace, app).join(",")}; ready endpoints: ${slices.ready(namespace, service).join(",")})`,
    );
  }
  return leader;
}
