import {
  EPOCH_ANNOTATION,
  HOLDER_UID_ANNOTATION,
  PRIORITY_ANNOTATION,
  REVISION_LABELS,
} from "../api/constants.ts";
import { parseMicroTime } from "../kube/microtime.ts";

/**
 * The fields of a Pod that podium keeps in memory. A full Pod is tens of
 * kilobytes of JSON; this is a few hundred bytes, which is what lets one
 * replica watch 15,000 pods.
 */
export interface CachedPod {
  namespace: string;
  name: string;
  uid: string;
  resourceVersion: string;
  labels: Readonly<Record<string, string>>;
  createdAt: number;
  terminating: boolean;
  phase: string;
  ready: boolean;
  /** lastTransitionTime of the Ready condition (whole seconds, from the kubelet's clock). */
  readySince?: number;
  /**
   * For a NotReady pod, the local time podium saw it turn NotReady; the
   * Ready condition's time when it was already NotReady at podium's first
   * sight of it. The NotReady tolerance counts from here, so it is neither
   * cut short by the condition's one-second truncation nor by clock skew.
   */
  notReadySince?: number;
  priorityAnnotation?: string;
  epochAnnotation?: string;
  revision?: string;
}

/** The fields of a Lease that podium keeps, plus when it saw the record change. */
export interface CachedLease {
  namespace: string;
  name: string;
  uid: string;
  resourceVersion: string;
  holder: string;
  holderUID?: string;
  transitions: number;
  durationSeconds?: number;
  renewTime?: number;
  acquireTime?: number;
  /** Local time at which this record (holder, renew time, transitions…) was first seen. */
  observedAt: number;
  /** uids of the objects that own the Lease (metadata.ownerReferences). */
  ownerUIDs: readonly string[];
}

type Json = Record<string, unknown>;

function obj(value: unknown): Json {
  return value !== null && typeof value === "object" && !Array.isArray(value)
    ? (value as Json)
    : {};
}

function str(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

function stringMap(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj(value))) if (typeof v === "string") out[k] = v;
  return out;
}

function time(value: unknown): number | undefined {
  return typeof value === "string" || value instanceof Date ? parseMicroTime(value) : undefined;
}

/**
 * Reduces a Pod as the API server sends it to a CachedPod; undefined when it
 * is not one. `previous` is what the cache held and `now` the local time, for
 * `notReadySince`.
 */
export function toCachedPod(
  raw: unknown,
  now?: number,
  previous?: CachedPod,
): CachedPod | undefined {
  const pod = obj(raw);
  const meta = obj(pod.metadata);
  const status = obj(pod.status);
  const namespace = str(meta.namespace);
  const name = str(meta.name);
  const uid = str(meta.uid);
  if (!namespace || !name || !uid) return undefined;
  const labels = stringMap(meta.labels);
  const annotations = stringMap(meta.annotations);
  const conditions = Array.isArray(status.conditions) ? (status.conditions as unknown[]) : [];
  const readyCondition = conditions.map(obj).find((c) => c.type === "Ready");
  const cached: CachedPod = {
    namespace,
    name,
    uid,
    resourceVersion: str(meta.resourceVersion) ?? "",
    labels,
    createdAt: time(meta.creationTimestamp) ?? 0,
    terminating: meta.deletionTimestamp !== undefined && meta.deletionTimestamp !== null,
    phase: str(status.phase) ?? "",
    ready: readyCondition?.status === "True",
  };
  const readySince = time(readyCondition?.lastTransitionTime);
  if (readySince !== undefined) cached.readySince = readySince;
  if (!cached.ready) {
    const since =
      previous === undefined || now === undefined
        ? readySince
        : previous.ready
          ? Math.max(now, readySince ?? 0)
          : (previous.notReadySince ?? readySince);
    if (since !== undefined) cached.notReadySince = since;
  }
  const priority = annotations[PRIORITY_ANNOTATION];
  if (priority !== undefined) cached.priorityAnnotation = priority;
  const epoch = annotations[EPOCH_ANNOTATION];
  if (epoch !== undefined) cached.epochAnnotation = epoch;
  for (const key of REVISION_LABELS) {
    const revision = labels[key];
    if (revision !== undefined) {
      cached.revision = revision;
      break;
    }
  }
  return cached;
}

/**
 * Reduces a Lease to a CachedLease. `previous` is what the cache held before:
 * client-go judges expiry from the local time a *change* of the record was
 * observed, so an unchanged record keeps its old observedAt.
 */
export function toCachedLease(
  raw: unknown,
  now: number,
  previous?: CachedLease,
): CachedLease | undefined {
  const lease = obj(raw);
  const meta = obj(lease.metadata);
  const spec = obj(lease.spec);
  const namespace = str(meta.namespace);
  const name = str(meta.name);
  if (!namespace || !name) return undefined;
  const annotations = stringMap(meta.annotations);
  const owners = Array.isArray(meta.ownerReferences)
    ? (meta.ownerReferences as unknown[]).map((o) => str(obj(o).uid) ?? "")
    : [];
  const cached: CachedLease = {
    namespace,
    name,
    uid: str(meta.uid) ?? "",
    resourceVersion: str(meta.resourceVersion) ?? "",
    holder: str(spec.holderIdentity) ?? "",
    transitions: typeof spec.leaseTransitions === "number" ? spec.leaseTransitions : 0,
    observedAt: now,
    ownerUIDs: owners.filter((u) => u !== ""),
  };
  const holderUID = annotations[HOLDER_UID_ANNOTATION];
  if (holderUID !== undefined) cached.holderUID = holderUID;
  if (typeof spec.leaseDurationSeconds === "number")
    cached.durationSeconds = spec.leaseDurationSeconds;
  const renewTime = time(spec.renewTime);
  if (renewTime !== undefined) cached.renewTime = renewTime;
  const acquireTime = time(spec.acquireTime);
  if (acquireTime !== undefined) cached.acquireTime = acquireTime;
  if (previous && sameRecord(previous, cached)) cached.observedAt = previous.observedAt;
  return cached;
}

function sameRecord(a: CachedLease, b: CachedLease): boolean {
  return (
    a.holder === b.holder &&
    a.transitions === b.transitions &&
    a.durationSeconds === b.durationSeconds &&
    a.renewTime === b.renewTime &&
    a.acquireTime === b.acquireTime
  );
}
