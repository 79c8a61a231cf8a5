import { EPOCH_ANNOTATION, PRIORITY_ANNOTATION, REVISION_LABELS } from "../api/constants.ts";
import { obj, str, stringMap, time } from "./json.ts";
import type { Source } from "./source.ts";
import type { Store } from "./store.ts";
import { matchesSelector } from "../election/index.ts";
import type { ElectionGroup } from "../api/types.ts";

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
  /**
   * The local time podium first saw the pod (its first list or watch event):
   * orders pods created within one second, which creationTimestamp cannot.
   */
  firstSeenAt?: number;
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
  /**
   * For a Ready pod, the local time podium saw it turn Ready; the Ready
   * condition's time when it was already Ready at podium's first sight of
   * it. The hand-over's settle time counts from here.
   */
  readySeenAt?: number;
  priorityAnnotation?: string;
  epochAnnotation?: string;
  revision?: string;
  /** spec.hostname, when set (Observed mode maps Lease holders by hostname). */
  hostname?: string;
  /** spec.hostNetwork is true: the pod's hostname is its node's. */
  hostNetwork?: true;
  /** spec.nodeName, once scheduled. */
  nodeName?: string;
  /** status.podIP, once assigned (EndpointSlice mode lists the holder by it). */
  podIP?: string;
  /** The containers' named ports, name → number (EndpointSlice mode resolves targetPort by name). */
  namedPorts?: Readonly<Record<string, number>>;
}

/**
 * Reduces a Pod as the API server sends it to a CachedPod; undefined when it
 * is not one. `previous` is what the cache held and `now` the local time, for
 * `notReadySince` and `readySeenAt`.
 */
export function toCachedPod(
  raw: unknown,
  now?: number,
  previous?: CachedPod,
): CachedPod | undefined {
  const pod = obj(raw);
  const meta = obj(pod.metadata);
  const spec = obj(pod.spec);
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
  const firstSeenAt = previous?.firstSeenAt ?? now;
  if (firstSeenAt !== undefined) cached.firstSeenAt = firstSeenAt;
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
  } else {
    const seen =
      previous === undefined || now === undefined
        ? readySince
        : previous.ready
          ? (previous.readySeenAt ?? readySince)
          : Math.max(now, readySince ?? 0);
    if (seen !== undefined) cached.readySeenAt = seen;
  }
  const priority = annotations[PRIORITY_ANNOTATION];
  if (priority !== undefined) cached.priorityAnnotation = priority;
  const epoch = annotations[EPOCH_ANNOTATION];
  if (epoch !== undefined) cached.epochAnnotation = epoch;
  const hostname = str(spec.hostname);
  if (hostname !== undefined && hostname !== "") cached.hostname = hostname;
  if (spec.hostNetwork === true) cached.hostNetwork = true;
  const nodeName = str(spec.nodeName);
  if (nodeName !== undefined && nodeName !== "") cached.nodeName = nodeName;
  const podIP = str(status.podIP);
  if (podIP !== undefined && podIP !== "") cached.podIP = podIP;
  const namedPorts = namedPortsOf(spec.containers);
  if (namedPorts !== undefined) cached.namedPorts = namedPorts;
  for (const key of REVISION_LABELS) {
    const revision = labels[key];
    if (revision !== undefined) {
      cached.revision = revision;
      break;
    }
  }
  return cached;
}

/** The named ports of `containers`, or undefined when none has a name. */
function namedPortsOf(containers: unknown): Record<string, number> | undefined {
  let out: Record<string, number> | undefined;
  for (const c of Array.isArray(containers) ? (containers as unknown[]) : []) {
    const ports = obj(c).ports;
    for (const p of Array.isArray(ports) ? (ports as unknown[]) : []) {
      const name = str(obj(p).name);
      const number = obj(p).containerPort;
      if (name === undefined || name === "" || typeof number !== "number") continue;
      out ??= {};
      out[name] = number;
    }
  }
  return out;
}

/** Pods by each of their labels: "namespace/key=value". */
export const BY_LABEL = "label";
/** Pods by namespace. */
export const BY_NAMESPACE = "namespace";
/** Pods by the node they are bound to. */
export const BY_NODE = "node";

/**
 * Pods: cached as {@link CachedPod}. A pod event concerns every group whose
 * selector matches the pod before or after the change (a pod that leaves a
 * selector must leave its group's election too).
 */
export const podSource: Source<CachedPod> = {
  name: "pods",
  path: (ns) => `/api/v1${ns === undefined ? "" : `/namespaces/${ns}`}/pods`,
  reduce: (raw, now, previous) => toCachedPod(raw, now, previous),
  indexes: {
    [BY_LABEL]: (p) => Object.entries(p.labels).map(([k, v]) => `${p.namespace}/${k}=${v}`),
    [BY_NAMESPACE]: (p) => [p.namespace],
    [BY_NODE]: (p) => (p.nodeName === undefined ? [] : [p.nodeName]),
  },
  concerns: ({ item, old }, store) => groupsOfPods(old === undefined ? [item] : [item, old], store),
};

/** The keys of the groups whose selector matches any of `pods`, each once. */
export function* groupsOfPods(pods: Iterable<CachedPod>, store: Store): Iterable<string> {
  const seen = new Set<string>();
  for (const pod of pods) {
    for (const group of store.groupsSelectingAny(pod.namespace, [pod])) {
      const key = `${group.metadata.namespace}/${group.metadata.name}`;
      const selector = (group.spec as Partial<ElectionGroup["spec"]> | undefined)?.selector;
      if (seen.has(key) || selector === undefined || !matchesSelector(pod.labels, selector)) {
        continue;
      }
      seen.add(key);
      yield key;
    }
  }
}
