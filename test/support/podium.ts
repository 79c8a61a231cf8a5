import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import type { V1Pod } from "@kubernetes/client-node";
import { GROUP, PLURAL, VERSION } from "../../src/api/constants.ts";
import type { ElectionGroup } from "../../src/api/types.ts";
import { ListWatch } from "../../src/kube/listwatch.ts";
import { extraLeaders } from "./invariant-core.ts";
import type { Clients } from "./kube.ts";
import { podCondition, setPodReady, waitFor } from "./kube.ts";

export interface DeploymentOptions {
  /** Labels of the pods besides app=`name`. */
  podLabels?: Record<string, string>;
  /**
   * Roll in one new pod before an old one goes (maxSurge 1, maxUnavailable
   * 0), as podium's tests and benchmarks assume; false keeps Kubernetes'
   * default strategy.
   */
  surgeOneAtATime?: boolean;
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
  { podLabels = {}, surgeOneAtATime = true }: DeploymentOptions = {},
): Promise<void> {
  const labels = { app: name };
  await clients.apps.createNamespacedDeployment({
    namespace,
    body: {
      metadata: { name, labels },
      spec: {
        replicas,
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

export function custom(clients: Clients): CustomObjectsApi {
  return clients.kc.makeApiClient(CustomObjectsApi);
}

/** Creates an ElectionGroup with `spec` (defaults filled in by the API server). */
export async function createGroup(
  clients: Clients,
  namespace: string,
  name: string,
  spec: Record<string, unknown>,
): Promise<ElectionGroup> {
  return (await custom(clients).createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace,
    plural: PLURAL,
    body: { apiVersion: `${GROUP}/${VERSION}`, kind: "ElectionGroup", metadata: { name }, spec },
  })) as ElectionGroup;
}

export async function getGroup(
  clients: Clients,
  namespace: string,
  name: string,
): Promise<ElectionGroup> {
  return (await custom(clients).getNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace,
    plural: PLURAL,
    name,
  })) as ElectionGroup;
}

/** Merge-patches a group's spec. */
export async function patchGroupSpec(
  clients: Clients,
  namespace: string,
  name: string,
  spec: Record<string, unknown>,
): Promise<void> {
  await custom(clients).patchNamespacedCustomObject(
    { group: GROUP, version: VERSION, namespace, plural: PLURAL, name, body: { spec } },
    setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
  );
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

/**
 * Waits until the group reports a holder that is the one pod carrying
 * role=leader (and, if given, is `expected`), and returns the holder.
 */
export async function waitForLeader(
  clients: Clients,
  namespace: string,
  group: string,
  selector: string,
  {
    expected,
    not,
    timeoutMs = 30_000,
  }: { expected?: string; not?: string; timeoutMs?: number } = {},
): Promise<string> {
  return waitFor(
    `a single leader of ${group}${expected ? ` (${expected})` : ""}`,
    async () => {
      const g = await getGroup(clients, namespace, group);
      const holder = g.status?.holder ?? "";
      if (holder === "" || holder === not) return undefined;
      if (expected !== undefined && holder !== expected) return undefined;
      const labelled = await labelledPods(clients, namespace, selector);
      return labelled.length === 1 && labelled[0] === holder ? holder : undefined;
    },
    { timeoutMs },
  );
}

/** One observation of the pod stream: which pods carried the leader label right after an event. */
export interface LabelObservation {
  resourceVersion: string;
  event: string;
  pod: string;
  labelled: string[];
  at: number;
}

/**
 * Watches a namespace's pods independently of the operator and records,
 * after every event of the stream, which pods carry role=leader. A run is
 * correct when no observation has more than one.
 */
export class LeaderLabelRecorder {
  readonly observations: LabelObservation[] = [];
  readonly #watch: ListWatch<{ name: string; rv: string; leader: boolean; deleting: boolean }>;
  readonly #labelled = new Set<string>();

  constructor(clients: Clients, namespace: string, selector: string) {
    this.#watch = new ListWatch({
      kc: clients.kc,
      name: "test-pods",
      path: `/api/v1/namespaces/${namespace}/pods`,
      labelSelector: selector,
      transform: (raw) => {
        const meta = raw.metadata as {
          name: string;
          resourceVersion: string;
          labels?: Record<string, string>;
          deletionTimestamp?: string;
        };
        return {
          name: meta.name,
          rv: meta.resourceVersion,
          leader: meta.labels?.role === "leader",
          deleting: meta.deletionTimestamp !== undefined,
        };
      },
      onEvent: (type, _key, pod) => {
        if (type !== "delete" && pod.leader) this.#labelled.add(pod.name);
        else this.#labelled.delete(pod.name);
        this.observations.push({
          resourceVersion: pod.rv,
          event: type,
          pod: pod.name,
          labelled: [...this.#labelled].sort(),
          at: Date.now(),
        });
      },
    });
  }

  async start(): Promise<void> {
    this.#watch.start();
    await this.#watch.waitForSync();
  }

  async stop(): Promise<void> {
    await this.#watch.stop();
  }

  /** Observations at which more than one pod carried the label (judged by extraLeaders). */
  violations(): LabelObservation[] {
    return this.observations.filter((o) => extraLeaders(o.labelled).length > 0);
  }

  /** The first time at or after `since` when `pod` alone carried the label. */
  firstLed(pod: string, since: number): number | undefined {
    return this.observations.find(
      (o) => o.at >= since && o.labelled.length === 1 && o.labelled[0] === pod,
    )?.at;
  }
}

/**
 * Tears a test namespace down the way a user would: deletes its
 * ElectionGroups while the operator still runs (so their finalizers are
 * processed), waits until they are gone, then stops the operators and deletes
 * the namespace.
 */
export async function teardown(
  clients: Clients,
  namespace: string,
  stopOperators: () => Promise<void>,
  removeNamespace: () => Promise<void>,
): Promise<void> {
  const api = custom(clients);
  try {
    await api.deleteCollectionNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace,
      plural: PLURAL,
    });
    await waitFor(
      `the ElectionGroups of ${namespace} to be finalized`,
      async () => {
        const list = (await api.listNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          namespace,
          plural: PLURAL,
        })) as { items: unknown[] };
        return list.items.length === 0 ? true : undefined;
      },
      { timeoutMs: 30_000 },
    );
  } finally {
    await stopOperators();
    await removeNamespace();
  }
}

// ha/api helpers
// (imports are hoisted; they sit here to keep this block contiguous)
import { CoordinationV1Api } from "@kubernetes/client-node";
import type { V1Lease } from "@kubernetes/client-node";

/** The Lease `namespace/name` as the API server has it, or undefined when there is none. */
export async function readLease(
  clients: Clients,
  namespace: string,
  name: string,
): Promise<V1Lease | undefined> {
  try {
    return await clients.kc
      .makeApiClient(CoordinationV1Api)
      .readNamespacedLease({ name, namespace });
  } catch (err) {
    if ((err as { code?: number }).code === 404) return undefined;
    throw err;
  }
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

// behaviour helpers
// (test/integration/behaviour*.test.ts: bare pods, Events, group conditions; imports are
// hoisted, they sit here to keep this block contiguous)
import { ApiException, EventsV1Api } from "@kubernetes/client-node";
import type { EventsV1Event } from "@kubernetes/client-node";
import type { Condition } from "../../src/api/types.ts";

export interface BarePodOptions {
  labels: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  /** Start Running but NotReady (kwok.podium.dev/manual-readiness); the test decides readiness. */
  startNotReady?: boolean;
}

/** Creates a bare pod named `name` (one container, image podium.test/app:1). */
export async function createBarePod(
  clients: Clients,
  namespace: string,
  name: string,
  { labels, annotations = {}, finalizers, startNotReady = false }: BarePodOptions,
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
      spec: { containers: [{ name: "app", image: "podium.test/app:1" }] },
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

/** The events.k8s.io Events about the ElectionGroup `group`, optionally only those of `reason`. */
export async function groupEvents(
  clients: Clients,
  namespace: string,
  group: string,
  reason?: string,
): Promise<EventsV1Event[]> {
  const list = await clients.kc.makeApiClient(EventsV1Api).listNamespacedEvent({ namespace });
  return list.items.filter(
    (e) =>
      e.regarding?.kind === "ElectionGroup" &&
      e.regarding.name === group &&
      (reason === undefined || e.reason === reason),
  );
}

/** The group's condition of `type`, if it has one. */
export function groupCondition(group: ElectionGroup, type: string): Condition | undefined {
  return group.status?.conditions?.find((c) => c.type === type);
}

/** Polls the group until `accept` holds and returns it; `what` names the wait in a timeout. */
export async function waitForGroup(
  clients: Clients,
  namespace: string,
  name: string,
  what: string,
  accept: (group: ElectionGroup) => boolean,
  { timeoutMs = 30_000 }: { timeoutMs?: number } = {},
): Promise<ElectionGroup> {
  return waitFor(
    `${name}: ${what}`,
    async () => {
      const group = await getGroup(clients, namespace, name);
      return accept(group) ? group : undefined;
    },
    { timeoutMs },
  );
}

/** Waits until the operator has reported on the group's current generation; returns the group. */
export async function waitForObservedGeneration(
  clients: Clients,
  namespace: string,
  name: string,
): Promise<ElectionGroup> {
  return waitForGroup(
    clients,
    namespace,
    name,
    "status.observedGeneration = metadata.generation",
    (g) => g.status?.observedGeneration === g.metadata.generation,
  );
}

/** Deletes an ElectionGroup (its finalizer, if any, is left to the operator). */
export async function deleteGroup(
  clients: Clients,
  namespace: string,
  name: string,
): Promise<void> {
  await custom(clients).deleteNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace,
    plural: PLURAL,
    name,
  });
}

/** Whether the ElectionGroup `name` still exists. */
export async function groupExists(
  clients: Clients,
  namespace: string,
  name: string,
): Promise<boolean> {
  try {
    await getGroup(clients, namespace, name);
    return true;
  } catch (err) {
    if (err instanceof ApiException && err.code === 404) return false;
    throw err;
  }
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

/** Resolves after `ms` milliseconds. */
export async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}
