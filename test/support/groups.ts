import {
  ApiException,
  CoordinationV1Api,
  CustomObjectsApi,
  EventsV1Api,
  PatchStrategy,
  setHeaderOptions,
} from "@kubernetes/client-node";
import type { EventsV1Event, V1Lease } from "@kubernetes/client-node";
import { GROUP, PLURAL, VERSION } from "../../src/api/constants.ts";
import type { Condition, ElectionGroup } from "../../src/api/types.ts";
import type { Clients } from "./kube.ts";
import { waitFor } from "./kube.ts";
import { labelledPods } from "./pods.ts";

// ElectionGroups as a user handles them: create, read, patch and delete them,
// wait for their status, conditions, Events and single leader, read their
// Lease, and tear a namespace down so that their finalizers run.

/** The client for ElectionGroups and other custom objects, with `clients`' credentials. */
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

/** The group's condition of `type`, if it has one. */
export function groupCondition(group: ElectionGroup, type: string): Condition | undefined {
  return group.status?.conditions?.find((c) => c.type === type);
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
