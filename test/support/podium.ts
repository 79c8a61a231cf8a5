import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import type { V1Pod } from "@kubernetes/client-node";
import { GROUP, PLURAL, VERSION } from "../../src/api/constants.ts";
import type { ElectionGroup } from "../../src/api/types.ts";
import { ListWatch } from "../../src/kube/listwatch.ts";
import type { Clients } from "./kube.ts";
import { podCondition, waitFor } from "./kube.ts";

/** Creates a Deployment of `replicas` pods labelled app=`name`, and a Service on app=`name`,role=leader. */
export async function deployApp(
  clients: Clients,
  namespace: string,
  name: string,
  replicas: number,
): Promise<void> {
  const labels = { app: name };
  await clients.apps.createNamespacedDeployment({
    namespace,
    body: {
      metadata: { name, labels },
      spec: {
        replicas,
        selector: { matchLabels: labels },
        strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
        template: {
          metadata: { labels },
          spec: { containers: [{ name: "app", image: "podium.test/app:1" }] },
        },
      },
    },
  });
  await clients.core.createNamespacedService({
    namespace,
    body: {
      metadata: { name: `${name}-leader` },
      spec: { selector: { ...labels, role: "leader" }, ports: [{ port: 80, targetPort: 8080 }] },
    },
  });
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

  /** Observations at which more than one pod carried the label. */
  violations(): LabelObservation[] {
    return this.observations.filter((o) => o.labelled.length > 1);
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
