/**
 * The plugin's view of the cluster: kubeconfig resolution as kubectl does it,
 * and the few reads and the one write it needs, each failure turned into a
 * one-line CliError that names the object.
 */
import {
  ApiException,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
} from "@kubernetes/client-node";
import { GROUP, NODE_LEASE_NAMESPACE, PLURAL, VERSION as API_VERSION } from "../api/constants.ts";
import type { ElectionGroup } from "../api/types.ts";
import { callOptions, createClientFactory } from "../kube/client.ts";
import { VERSION } from "../version.ts";
import type { GlobalFlags } from "./args.ts";
import { CliError } from "./errors.ts";

/** Reads and writes the plugin makes; an interface so that commands can be tested without a cluster. */
export interface PodiumApi {
  /** The namespace commands use when none is given. */
  readonly namespace: string;
  getGroup(namespace: string, name: string): Promise<ElectionGroup>;
  /** The groups of `namespace`, or of every namespace when undefined. */
  listGroups(namespace: string | undefined): Promise<ElectionGroup[]>;
  listPods(namespace: string, labelSelector: string): Promise<unknown[]>;
  /** The pod, or undefined when it does not exist. */
  getPod(namespace: string, name: string): Promise<unknown>;
  /** The Lease, or undefined when it does not exist. */
  getLease(namespace: string, name: string): Promise<unknown>;
  setPreferredHolder(namespace: string, group: string, pod: string): Promise<void>;
  /**
   * The Node `name` and its heartbeat Lease in kube-node-lease, each
   * undefined when it does not exist; undefined altogether when the user may
   * not read them (the report then leaves nodes out).
   */
  getNode?(name: string): Promise<{ node: unknown; heartbeat: unknown } | undefined>;
}

/**
 * Loads the kubeconfig as kubectl does: `--kubeconfig`, else `$KUBECONFIG`
 * (a list of files, merged), else `~/.kube/config`; `--context` picks the
 * context. The namespace is `-n`, else the context's, else "default".
 */
export function loadKubeConfig(flags: GlobalFlags): { kc: KubeConfig; namespace: string } {
  const kc = new KubeConfig();
  try {
    if (flags.kubeconfig !== undefined) kc.loadFromFile(flags.kubeconfig);
    else kc.loadFromDefault();
  } catch (err) {
    const where = flags.kubeconfig ?? process.env.KUBECONFIG ?? "~/.kube/config";
    throw new CliError(`cannot load kubeconfig ${where}: ${message(err)}`);
  }
  if (flags.context !== undefined) {
    if (kc.getContextObject(flags.context) === null) {
      throw new CliError(`context "${flags.context}" does not exist in the kubeconfig`);
    }
    kc.setCurrentContext(flags.context);
  }
  const contextNamespace = kc.getContextObject(kc.getCurrentContext())?.namespace;
  const namespace =
    flags.namespace ??
    (contextNamespace === undefined || contextNamespace === "" ? "default" : contextNamespace);
  if (kc.getCurrentCluster() === null) {
    throw new CliError(
      `the kubeconfig's context "${kc.getCurrentContext()}" names no cluster; use --kubeconfig or --context`,
    );
  }
  return { kc, namespace };
}

const MERGE_PATCH = "application/merge-patch+json";
const REQUEST_TIMEOUT_MS = 15_000;

/** The API the commands use, over a real cluster. */
export function connect(flags: GlobalFlags): PodiumApi {
  const { kc, namespace } = loadKubeConfig(flags);
  const server = kc.getCurrentCluster()?.server ?? "";
  const make = createClientFactory(kc, {
    qps: 0,
    burst: 1,
    requestTimeoutMs: REQUEST_TIMEOUT_MS,
    userAgent: `kubectl-podium/${VERSION}`,
  });
  const custom = make(CustomObjectsApi);
  const core = make(CoreV1Api);
  const coordination = make(CoordinationV1Api);
  const resource = { group: GROUP, version: API_VERSION, plural: PLURAL };
  const fail = (what: string, err: unknown): never => {
    throw new CliError(apiErrorMessage(what, err, server));
  };
  const orUndefinedOn404 = async <T>(
    what: string,
    call: () => Promise<T>,
  ): Promise<T | undefined> => {
    try {
      return await call();
    } catch (err) {
      if (err instanceof ApiException && err.code === 404) return undefined;
      return fail(what, err);
    }
  };

  return {
    namespace,
    async getGroup(ns, name) {
      try {
        return (await custom.getNamespacedCustomObject({
          ...resource,
          namespace: ns,
          name,
        })) as ElectionGroup;
      } catch (err) {
        return fail(`ElectionGroup ${ns}/${name}`, err);
      }
    },
    async listGroups(ns) {
      try {
        const list = (
          ns === undefined
            ? await custom.listClusterCustomObject(resource)
            : await custom.listNamespacedCustomObject({ ...resource, namespace: ns })
        ) as { items?: ElectionGroup[] };
        return list.items ?? [];
      } catch (err) {
        return fail(
          ns === undefined
            ? "ElectionGroups of all namespaces"
            : `ElectionGroups of namespace ${ns}`,
          err,
        );
      }
    },
    async listPods(ns, labelSelector) {
      try {
        return (await core.listNamespacedPod({ namespace: ns, labelSelector })).items;
      } catch (err) {
        return fail(`pods of namespace ${ns} matching ${labelSelector}`, err);
      }
    },
    getPod: (ns, name) =>
      orUndefinedOn404(`pod ${ns}/${name}`, () => core.readNamespacedPod({ namespace: ns, name })),
    getLease: (ns, name) =>
      orUndefinedOn404(`Lease ${ns}/${name}`, () =>
        coordination.readNamespacedLease({ namespace: ns, name }),
      ),
    async getNode(name) {
      try {
        const [node, heartbeat] = await Promise.all([
          orUndefinedOn404(`node ${name}`, () => core.readNode({ name })),
          orUndefinedOn404(`Lease ${NODE_LEASE_NAMESPACE}/${name}`, () =>
            coordination.readNamespacedLease({ namespace: NODE_LEASE_NAMESPACE, name }),
          ),
        ]);
        return { node, heartbeat };
      } catch {
        // Reading nodes is not the plugin's business to require: leave them out.
        return undefined;
      }
    },
    async setPreferredHolder(ns, group, pod) {
      try {
        await custom.patchNamespacedCustomObject(
          { ...resource, namespace: ns, name: group, body: { spec: { preferredHolder: pod } } },
          callOptions(undefined, MERGE_PATCH),
        );
      } catch (err) {
        fail(`patching ElectionGroup ${ns}/${group}`, err);
      }
    },
  };
}

/**
 * One line for a failed request: the object, then the API server's own
 * message (`Status.message`) or the reason the server could not be reached.
 */
export function apiErrorMessage(what: string, err: unknown, server: string): string {
  if (err instanceof ApiException) {
    const status = statusOf(err.body);
    const reason = status?.reason ?? httpReason(err.code);
    const text = status?.message ?? (typeof err.body === "string" ? err.body.trim() : "");
    const detail = text === "" ? reason : `${reason}: ${text}`;
    return `${what}: ${detail} (HTTP ${err.code})`.replace(/\s+/g, " ");
  }
  const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : "";
  if (err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError")) {
    return `${what}: the API server at ${server} did not answer within ${REQUEST_TIMEOUT_MS / 1000}s`;
  }
  return `${what}: cannot reach the API server at ${server}: ${message(err)}${cause}`.replace(
    /\s+/g,
    " ",
  );
}

function statusOf(body: unknown): { reason?: string; message?: string } | undefined {
  let value = body;
  if (typeof body === "string") {
    try {
      value = JSON.parse(body) as unknown;
    } catch {
      return undefined;
    }
  }
  if (typeof value !== "object" || value === null) return undefined;
  const v = value as Record<string, unknown>;
  const out: { reason?: string; message?: string } = {};
  if (typeof v.reason === "string" && v.reason !== "") out.reason = v.reason;
  if (typeof v.message === "string" && v.message !== "") out.message = v.message;
  return out;
}

function httpReason(code: number): string {
  const known: Record<number, string> = {
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
  };
  return known[code] ?? `HTTP ${code}`;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
