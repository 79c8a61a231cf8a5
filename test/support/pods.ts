import { ApiException, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import type { V1Pod } from "@kubernetes/client-node";
import type { Clients } from "./kube.ts";
import { podCondition, setPodReady, waitFor } from "./kube.ts";
import { MACHINE_TAINT } from "./kwok-machines.ts";

// The workloads the tests elect from: Deployments, Services and bare pods of
// image podium.test/app:1 (kwok runs them), and what the tests read and change
// of their pods, as a kubelet, a controller or a person would.

export interface DeploymentOptions {
  /** Labels of the pods besides app=`name`. */
  podLabels?: Record<string, string>;
  /**
   * Roll in one new pod before an old one goes (maxSurge 1, maxUnavailable
   * 0), as podium's tests and benchmarks assume; false keeps Kubernetes'
   * default strategy.
   */
  surgeOneAtATime?: boolean;
  /** spec.minReadySeconds: how long a new pod must be Ready before an old one goes. */
  minReadySeconds?: number;
}

/**
 * Creates a Deployment `name` of `replicas` pods labelled app=`name`, each one
 * container of image podium.test/app:1 (kwok runs it); does not wait for them.
 */
export async function createDeployment(
  clients: Clients,
  namespace: string,
  name: string,
  replicas: number,
  { podLabels = {}, surgeOneAtATime = true, minReadySeconds }: DeploymentOptions = {},
): Promise<void> {
  const labels = { app: name };
  await clients.apps.createNamespacedDeployment({
    namespace,
    body: {
      metadata: { name, labels },
      spec: {
        replicas,
        ...(minReadySeconds === undefined ? {} : { minReadySeconds }),
        selector: { matchLabels: labels },
        ...(surgeOneAtATime
          ? {
              strategy: {
                type: "RollingUpdate",
                rollingUpdate: { maxSurge: 1, maxUnavailable: 0 },
              },
            }
          : {}),
        template: {
          metadata: { labels: { ...labels, ...podLabels } },
          spec: { containers: [{ name: "app", image: "podium.test/app:1" }] },
        },
      },
    },
  });
}

/** Creates a ClusterIP Service `name`, port 80 to 8080, over the pods that `selector` matches. */
export async function createService(
  clients: Clients,
  namespace: string,
  name: string,
  selector: Record<string, string>,
): Promise<void> {
  await clients.core.createNamespacedService({
    namespace,
    body: { metadata: { name }, spec: { selector, ports: [{ port: 80, targetPort: 8080 }] } },
  });
}

/**
 * Creates a Deployment of `replicas` pods labelled app=`name` and a Service
 * `name`-leader on app=`name`,role=leader, and waits until every pod is Ready.
 */
export async function deployApp(
  clients: Clients,
  namespace: string,
  name: string,
  replicas: number,
): Promise<void> {
  await createDeployment(clients, namespace, name, replicas);
  await createService(clients, namespace, `${name}-leader`, { app: name, role: "leader" });
  await waitFor(`${String(replicas)} ready pods of ${name}`, async () => {
    const pods = await listPods(clients, namespace, `app=${name}`);
    return pods.filter((p) => podCondition(p, "Ready") === "True").length === replicas
      ? true
      : undefined;
  });
}

export async function listPods(
  clients: Clients,
  namespace: string,
  labelSelector: string,
): Promise<V1Pod[]> {
  return (await clients.core.listNamespacedPod({ namespace, labelSelector })).items;
}

/** Names of the pods matching `selector` that carry role=leader. */
export async function labelledPods(
  clients: Clients,
  namespace: string,
  selector: string,
): Promise<string[]> {
  return (await listPods(clients, namespace, `${selector},role=leader`))
    .filter((p) => !p.metadata?.deletionTimestamp)
    .map((p) => p.metadata?.name ?? "");
}

/** Names of the pods matching `selector` that carry the label `key`=`value` (terminating ones too). */
export async function podsLabelled(
  clients: Clients,
  namespace: string,
  selector: string,
  key: string,
  value: string,
): Promise<string[]> {
  return (await listPods(clients, namespace, `${selector},${key}=${value}`))
    .map((p) => p.metadata?.name ?? "")
    .sort();
}

/**
 * A candidate as the design defines it: Running, Ready=True and not
 * terminating.
 */
export function isCandidate(pod: V1Pod): boolean {
  return (
    pod.metadata?.deletionTimestamp === undefined &&
    pod.status?.phase === "Running" &&
    podCondition(pod, "Ready") === "True"
  );
}

/** The names of the ready endpoints of the EndpointSlices of Service `service`. */
export async function readyEndpoints(
  clients: Clients,
  namespace: string,
  service: string,
): Promise<string[]> {
  const slices = await clients.discovery.listNamespacedEndpointSlice({
    namespace,
    labelSelector: `kubernetes.io/service-name=${service}`,
  });
  return slices.items
    .flatMap((s) => s.endpoints ?? [])
    .filter((e) => e.conditions?.ready === true)
    .map((e) => e.targetRef?.name ?? "");
}

export interface BarePodOptions {
  labels: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  /** Start Running but NotReady (kwok.podium.dev/manual-readiness); the test decides readiness. */
  startNotReady?: boolean;
  /** Bound to this node (a simulated machine: support/kwok-machines.ts), tolerating its taint. */
  nodeName?: string;
}

/** Creates a bare pod named `name` (one container, image podium.test/app:1). */
export async function createBarePod(
  clients: Clients,
  namespace: string,
  name: string,
  { labels, annotations = {}, finalizers, startNotReady = false, nodeName }: BarePodOptions,
): Promise<V1Pod> {
  return clients.core.createNamespacedPod({
    namespace,
    body: {
      metadata: {
        name,
        labels,
        annotations: startNotReady
          ? { ...annotations, "kwok.podium.dev/manual-readiness": "true" }
          : annotations,
        ...(finalizers === undefined ? {} : { finalizers }),
      },
      spec: {
        containers: [{ name: "app", image: "podium.test/app:1" }],
        ...(nodeName === undefined
          ? {}
          : { nodeName, tolerations: [{ key: MACHINE_TAINT, operator: "Exists" }] }),
      },
    },
  });
}

/** The pod `name`, or undefined once it is gone. */
export async function getPod(
  clients: Clients,
  namespace: string,
  name: string,
): Promise<V1Pod | undefined> {
  try {
    return await clients.core.readNamespacedPod({ name, namespace });
  } catch (err) {
    if (err instanceof ApiException && err.code === 404) return undefined;
    throw err;
  }
}

/**
 * Waits until every pod in `names` is Running and, with `ready` (the default),
 * has Ready=True; with `ready: false`, Ready=False.
 */
export async function waitForPods(
  clients: Clients,
  namespace: string,
  names: readonly string[],
  { ready = true, timeoutMs = 30_000 }: { ready?: boolean; timeoutMs?: number } = {},
): Promise<void> {
  const want = ready ? "True" : "False";
  await waitFor(
    `pods ${names.join(", ")} Running with Ready=${want}`,
    async () => {
      for (const name of names) {
        const pod = await getPod(clients, namespace, name);
        if (pod?.status?.phase !== "Running" || podCondition(pod, "Ready") !== want) {
          return undefined;
        }
      }
      return true;
    },
    { timeoutMs },
  );
}

/**
 * Sets a pod Ready=True (and ContainersReady) with an explicit
 * lastTransitionTime, as a kubelet that saw it turn ready at `since` would:
 * lets a test decide which pod "has been Ready longest".
 */
export async function setPodReadySince(
  clients: Clients,
  namespace: string,
  name: string,
  since: Date,
): Promise<V1Pod> {
  return setPodReady(clients, namespace, name, true, since);
}

/** Merge-patches a pod's metadata (labels, annotations, finalizers; null removes a key). */
export async function patchPodMetadata(
  clients: Clients,
  namespace: string,
  name: string,
  metadata: Record<string, unknown>,
): Promise<V1Pod> {
  return clients.core.patchNamespacedPod(
    { name, namespace, body: { metadata } },
    setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
  );
}

/** Deletes a pod; `gracePeriodSeconds: 0` removes it at once, as a force delete does. */
export async function deletePod(
  clients: Clients,
  namespace: string,
  name: string,
  gracePeriodSeconds?: number,
): Promise<void> {
  await clients.core.deleteNamespacedPod(
    gracePeriodSeconds === undefined
      ? { name, namespace }
      : { name, namespace, gracePeriodSeconds },
  );
}
