import type { V1Pod } from "@kubernetes/client-node";
import {
  ApiException,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
} from "@kubernetes/client-node";
import {
  API_VERSION,
  EPOCH_ANNOTATION,
  FINALIZER,
  GROUP,
  HOLDER_UID_ANNOTATION,
  KIND,
  PLURAL,
  VERSION,
} from "../api/constants.ts";
import type { ElectionGroup, ElectionGroupStatus, LeaderLabel } from "../api/types.ts";
import type { LeaseRecord, PodRef } from "../election/index.ts";
import { callOptions } from "../kube/client.ts";
import type { ClientFactory, RawSend } from "../kube/client.ts";
import { toMicroTime } from "../kube/microtime.ts";

/**
 * How a write ended: `ok`; `gone` (the object is gone, or a pod was
 * recreated under the same name); `conflict` (it changed since the decision,
 * and must be decided again); `skipped` (a pod no longer holds what the write
 * would change: its label is not podium's to remove, or holds a value podium
 * must not overwrite; nothing was written).
 */
export type WriteOutcome = "ok" | "gone" | "conflict" | "skipped";

/** A write's outcome and, when it succeeded, the resourceVersion the object now has. */
export interface WriteResult {
  outcome: WriteOutcome;
  resourceVersion?: string;
}

/**
 * A pod as a write targets it: the uid every write is tied to, and the
 * resourceVersion the decision saw, when known. With it, a label write is
 * refused (409) if the pod changed since: podium never overwrites a label
 * value, nor removes one, that someone set after it looked.
 */
export type PodTarget = PodRef & { resourceVersion?: string };

/**
 * Every write the controller makes, each tied to what the decision saw (a
 * pod's uid, a Lease's resourceVersion) and to a signal that aborts it the
 * moment this replica stops leading.
 */
export interface Writer {
  setLeaderLabel(
    namespace: string,
    pod: PodTarget,
    label: LeaderLabel,
    epoch: number | undefined,
    signal: AbortSignal,
  ): Promise<WriteOutcome>;
  removeLeaderLabel(
    namespace: string,
    pod: PodTarget,
    label: LeaderLabel,
    signal: AbortSignal,
  ): Promise<WriteOutcome>;
  createLease(
    group: ElectionGroup,
    name: string,
    record: LeaseRecord,
    signal: AbortSignal,
  ): Promise<WriteResult>;
  updateLease(
    namespace: string,
    name: string,
    resourceVersion: string,
    record: LeaseRecord,
    signal: AbortSignal,
  ): Promise<WriteResult>;
  /**
   * Renews a Lease podium holds for a pod: a merge patch of its spec at
   * `resourceVersion` (409 when anyone wrote it since), the holder unchanged.
   */
  renewLease(
    namespace: string,
    name: string,
    resourceVersion: string,
    record: LeaseRecord,
    signal: AbortSignal,
  ): Promise<WriteResult>;
  patchStatus(
    group: ElectionGroup,
    status: ElectionGroupStatus,
    signal: AbortSignal,
  ): Promise<WriteResult>;
  setFinalizer(group: ElectionGroup, present: boolean, signal: AbortSignal): Promise<WriteResult>;
}

/** Maps a 404 to "gone" and a 409 (changed since read, or AlreadyExists) to "conflict"; rethrows the rest. */
export function outcomeOf(err: unknown): WriteOutcome {
  if (err instanceof ApiException) {
    if (err.code === 404) return "gone";
    if (err.code === 409) return "conflict";
  }
  throw err;
}

/** The controller owner reference to `group` that podium puts on every object it creates for it. */
export function ownerReferenceTo(group: ElectionGroup) {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    name: group.metadata.name,
    uid: group.metadata.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

async function attempt(write: () => Promise<unknown>): Promise<WriteOutcome> {
  return (await attemptWithVersion(write)).outcome;
}

async function attemptWithVersion(write: () => Promise<unknown>): Promise<WriteResult> {
  try {
    const written = (await write()) as { metadata?: { resourceVersion?: string } } | undefined;
    const resourceVersion = written?.metadata?.resourceVersion;
    return resourceVersion === undefined ? { outcome: "ok" } : { outcome: "ok", resourceVersion };
  } catch (err) {
    return { outcome: outcomeOf(err) };
  }
}

function preconditionOf(pod: PodTarget): { resourceVersion?: string } {
  return pod.resourceVersion === undefined ? {} : { resourceVersion: pod.resourceVersion };
}

function leaseSpec(record: LeaseRecord): Record<string, unknown> {
  return {
    holderIdentity: record.holder,
    leaseDurationSeconds: record.durationSeconds,
    leaseTransitions: record.transitions,
    acquireTime: toMicroTime(record.acquireTime),
    renewTime: toMicroTime(record.renewTime),
  };
}

/**
 * The merge patch that makes the status `status` where it was `current`: a
 * top-level field `status` no longer has is sent as null, which removes it
 * (left out, the API server would keep it: status.failedProbes after a pass).
 */
export function statusPatch(
  current: ElectionGroupStatus | undefined,
  status: ElectionGroupStatus,
): Record<string, unknown> {
  const patch: Record<string, unknown> = { ...status };
  for (const key of Object.keys(current ?? {})) {
    if (!Object.hasOwn(status, key)) patch[key] = null;
  }
  return patch;
}

/**
 * The resourceVersion of an object in a JSON response, read without parsing
 * the whole body: the first `"resourceVersion"` of a single object is its
 * metadata's (ownerReferences and managedFields carry none).
 */
export function resourceVersionIn(body: string): string | undefined {
  const match = /"resourceVersion"\s*:\s*"([^"]*)"/.exec(body);
  return match?.[1];
}

/**
 * A renewal as one raw merge patch: the request body is built by hand and
 * the response is never deserialised into a V1Lease, only searched for its
 * resourceVersion (at thousands of groups, client-node's model mapping of
 * every renewal's response shows in the CPU profile).
 */
function renewWithRawPatch(send: RawSend): Writer["renewLease"] {
  return async (namespace, name, resourceVersion, record, signal) => {
    const path = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases/${encodeURIComponent(name)}`;
    const body = JSON.stringify({ metadata: { resourceVersion }, spec: leaseSpec(record) });
    const res = await send({
      method: "PATCH",
      path,
      body,
      contentType: PatchStrategy.MergePatch,
      signal,
    });
    if (res.status === 404) return { outcome: "gone" };
    if (res.status === 409) return { outcome: "conflict" };
    if (res.status < 200 || res.status >= 300) {
      throw new Error(
        `renewing Lease ${namespace}/${name}: HTTP ${String(res.status)}: ${res.body.slice(0, 300)}`,
      );
    }
    const written = resourceVersionIn(res.body);
    return written === undefined ? { outcome: "ok" } : { outcome: "ok", resourceVersion: written };
  };
}

/**
 * The Writer over the real API: merge patches with preconditions, the Lease by
 * resourceVersion; renewals as raw patches through `send` when given.
 */
export function createWriter(makeClient: ClientFactory, send?: RawSend): Writer {
  const core = makeClient(CoreV1Api);
  const coordination = makeClient(CoordinationV1Api);
  const custom = makeClient(CustomObjectsApi);
  const merge = (signal: AbortSignal) => callOptions(signal, PatchStrategy.MergePatch);
  /**
   * Merge-patches a pod's labels and annotations. Naming the uid makes the
   * API server refuse it (409) when the pod was recreated under the same name
   * since the decision; naming the resourceVersion, when it changed since.
   */
  const patchPodMetadata = (
    namespace: string,
    pod: PodTarget,
    signal: AbortSignal,
    metadata: Record<string, unknown>,
  ): Promise<WriteOutcome> =>
    attempt(() =>
      core.patchNamespacedPod(
        {
          name: pod.name,
          namespace,
          body: { metadata: { uid: pod.uid, ...preconditionOf(pod), ...metadata } },
        },
        merge(signal),
      ),
    );
  /**
   * Patches a pod's leader label, tied to the version the decision saw. When
   * the pod changed since (the cache was behind, or someone wrote), it reads
   * the pod once as it is now and writes again at that version only if
   * `applies` to its labels still (the label is podium's to remove, or free
   * to set): a stale cache costs one read, never an overwrite.
   */
  const patchPodLabel = async (
    namespace: string,
    pod: PodTarget,
    signal: AbortSignal,
    metadata: Record<string, unknown>,
    applies: (labels: Readonly<Record<string, string>>) => boolean,
  ): Promise<WriteOutcome> => {
    const first = await patchPodMetadata(namespace, pod, signal, metadata);
    if (first !== "conflict" || pod.resourceVersion === undefined) return first;
    let current: V1Pod;
    try {
      current = await core.readNamespacedPod({ name: pod.name, namespace }, callOptions(signal));
    } catch (err) {
      return outcomeOf(err);
    }
    if (current.metadata?.uid !== pod.uid) return "gone";
    if (!applies(current.metadata.labels ?? {})) return "skipped";
    const resourceVersion = current.metadata.resourceVersion;
    if (resourceVersion === undefined) return "conflict";
    return patchPodMetadata(namespace, { ...pod, resourceVersion }, signal, metadata);
  };

  return {
    setLeaderLabel: (namespace, pod, label, epoch, signal) =>
      patchPodLabel(
        namespace,
        pod,
        signal,
        {
          labels: { [label.key]: label.value },
          ...(epoch === undefined ? {} : { annotations: { [EPOCH_ANNOTATION]: String(epoch) } }),
        },
        (labels) => labels[label.key] === undefined || labels[label.key] === label.value,
      ),

    removeLeaderLabel: (namespace, pod, label, signal) =>
      patchPodLabel(
        namespace,
        pod,
        signal,
        { labels: { [label.key]: null }, annotations: { [EPOCH_ANNOTATION]: null } },
        (labels) => labels[label.key] === label.value,
      ),

    createLease: (group, name, record, signal) =>
      attemptWithVersion(() =>
        coordination.createNamespacedLease(
          {
            namespace: group.metadata.namespace,
            body: {
              metadata: {
                name,
                namespace: group.metadata.namespace,
                labels: { "app.kubernetes.io/managed-by": "podium" },
                ...(record.holderUID === undefined
                  ? {}
                  : { annotations: { [HOLDER_UID_ANNOTATION]: record.holderUID } }),
                ownerReferences: [ownerReferenceTo(group)],
              },
              spec: leaseSpec(record),
            },
          },
          callOptions(signal),
        ),
      ),

    updateLease: (namespace, name, resourceVersion, record, signal) =>
      attemptWithVersion(() =>
        coordination.patchNamespacedLease(
          {
            name,
            namespace,
            body: {
              // resourceVersion in a patch is a precondition: 409 if the Lease
              // changed since the decision was made.
              metadata: {
                resourceVersion,
                annotations: { [HOLDER_UID_ANNOTATION]: record.holderUID ?? null },
              },
              spec: leaseSpec(record),
            },
          },
          merge(signal),
        ),
      ),

    renewLease:
      send === undefined
        ? (namespace, name, resourceVersion, record, signal) =>
            attemptWithVersion(() =>
              coordination.patchNamespacedLease(
                {
                  name,
                  namespace,
                  body: { metadata: { resourceVersion }, spec: leaseSpec(record) },
                },
                merge(signal),
              ),
            )
        : renewWithRawPatch(send),

    patchStatus: (group, status, signal) =>
      attemptWithVersion(() =>
        custom.patchNamespacedCustomObjectStatus(
          {
            group: GROUP,
            version: VERSION,
            namespace: group.metadata.namespace,
            plural: PLURAL,
            name: group.metadata.name,
            body: { status: statusPatch(group.status, status) },
          },
          merge(signal),
        ),
      ),

    setFinalizer: (group, present, signal) => {
      const current = group.metadata.finalizers ?? [];
      const finalizers = present
        ? [...current.filter((f) => f !== FINALIZER), FINALIZER]
        : current.filter((f) => f !== FINALIZER);
      return attemptWithVersion(() =>
        custom.patchNamespacedCustomObject(
          {
            group: GROUP,
            version: VERSION,
            namespace: group.metadata.namespace,
            plural: PLURAL,
            name: group.metadata.name,
            // A merge patch replaces the whole list: the resourceVersion makes
            // it fail instead of dropping a finalizer someone added meanwhile.
            body: { metadata: { resourceVersion: group.metadata.resourceVersion, finalizers } },
          },
          merge(signal),
        ),
      );
    },
  };
}
