import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { parseArgs } from "node:util";
import { load } from "js-yaml";

/** Everything the operator can be told, after flags, environment and config file are merged. */
export interface Options {
  kubeconfig: string | undefined;
  namespaces: string[];
  metricsBindAddress: string;
  healthProbeBindAddress: string;
  logLevel: "trace" | "debug" | "info" | "warn" | "error" | "fatal" | "silent";
  syncPeriodMs: number;
  kubeApiTimeoutMs: number;
  watchInactivityTimeoutMs: number;
  kubeApiQps: number;
  kubeApiBurst: number;
  maxConcurrentReconciles: number;
  leaderElect: boolean;
  leaderElectionId: string;
  leaderElectionNamespace: string;
  leaderElectionLeaseDurationMs: number;
  leaderElectionRenewDeadlineMs: number;
  leaderElectionRetryPeriodMs: number;
  identity: string;
  /** Watch Nodes and kube-node-lease so that a pod on a dead node stops being a candidate. */
  watchNodes: boolean;
  /** Watch Services and EndpointSlices: TrafficRouted, cutover phases, verified cutover. */
  watchTraffic: boolean;
}

interface FlagSpec {
  type: "string" | "boolean";
  multiple?: boolean;
  help: string;
  default: string;
}

/** The flags, in the order `--help` lists them; names follow controller-runtime and kubebuilder. */
const FLAGS = {
  config: {
    type: "string",
    help: "YAML file with any of these options (camelCase keys); flags win",
    default: "",
  },
  kubeconfig: {
    type: "string",
    help: "kubeconfig file; default $KUBECONFIG, ~/.kube/config, then in-cluster",
    default: "",
  },
  namespace: {
    type: "string",
    multiple: true,
    help: "namespace to watch; repeat for several; default all",
    default: "",
  },
  "metrics-bind-address": {
    type: "string",
    help: "address of /metrics, or 0 to disable",
    default: ":8080",
  },
  "health-probe-bind-address": {
    type: "string",
    help: "address of /healthz and /readyz, or 0 to disable",
    default: ":8081",
  },
  "log-level": { type: "string", help: "trace, debug, info, warn or error", default: "info" },
  "sync-period": {
    type: "string",
    help: "reconcile every group at least this often",
    default: "10m",
  },
  "kube-api-timeout": {
    type: "string",
    help: "abandon an API request after this long",
    default: "10s",
  },
  "watch-inactivity-timeout": {
    type: "string",
    help: "re-list a resource whose watch has been silent this long (bookmarks arrive about every minute)",
    default: "90s",
  },
  "kube-api-qps": {
    type: "string",
    help: "sustained API requests per second (0: no limit)",
    default: "50",
  },
  "kube-api-burst": { type: "string", help: "API requests allowed in a burst", default: "100" },
  "max-concurrent-reconciles": { type: "string", help: "groups reconciled at once", default: "4" },
  "leader-elect": {
    type: "boolean",
    help: "elect one active replica through a Lease",
    default: "false",
  },
  "leader-election-id": {
    type: "string",
    help: "name of the operator's own Lease",
    default: "podium-leader",
  },
  "leader-election-namespace": {
    type: "string",
    help: "namespace of that Lease; default the pod's namespace",
    default: "",
  },
  "leader-election-lease-duration": {
    type: "string",
    help: "how long standbys wait before taking over",
    default: "15s",
  },
  "leader-election-renew-deadline": {
    type: "string",
    help: "how long the leader retries renewing before it stops",
    default: "10s",
  },
  "leader-election-retry-period": {
    type: "string",
    help: "interval between acquire and renew attempts",
    default: "2s",
  },
  "node-failure-detection": {
    type: "string",
    help: "watch Nodes and their heartbeat Leases to drop pods on dead nodes: auto (on unless --namespace is given), on or off; needs the node roles of config/rbac",
    default: "auto",
  },
  "traffic-routing": {
    type: "string",
    help: "watch Services and EndpointSlices to report TrafficRouted, time cutovers and verify them: on or off; needs the services and endpointslices rules of config/rbac",
    default: "on",
  },
  help: { type: "boolean", help: "print this help", default: "false" },
  version: { type: "boolean", help: "print podium's version and exit", default: "false" },
} as const satisfies Record<string, FlagSpec>;

type FlagName = keyof typeof FLAGS;

/** Thrown for bad options; the message names the flag. */
export class OptionsError extends Error {
  override name = "OptionsError";
}

/** Parses a Go-style duration ("500ms", "15s", "10m", "1h30m") into milliseconds. */
export function parseDuration(text: string, flag: string): number {
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const parts = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$/.test(text)
    ? [...text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)]
    : [];
  if (parts.length === 0) {
    throw new OptionsError(`--${flag}: ${JSON.stringify(text)} is no duration (e.g. 15s, 10m, 1h)`);
  }
  return parts.reduce((sum, [, n, unit]) => sum + Number(n) * (units[unit ?? "s"] ?? 0), 0);
}

function parseNumber(text: string, flag: string, min: number): number {
  const n = Number(text);
  if (text.trim() === "" || !Number.isFinite(n) || n < min) {
    throw new OptionsError(`--${flag}: ${JSON.stringify(text)} is not a number >= ${min}`);
  }
  return n;
}

function envName(flag: string): string {
  return `PODIUM_${flag.toUpperCase().replaceAll("-", "_")}`;
}

function camel(flag: string): string {
  return flag.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
}

/** The text `--help` prints. */
export function usage(): string {
  const lines = [
    "podium: a Kubernetes operator that gives any set of pods a leader.",
    "",
    "Usage: podium [flags]",
    "",
    "Every flag can also be set by an environment variable (PODIUM_ + the flag in upper case,",
    "e.g. PODIUM_LOG_LEVEL) or by a camelCase key in the --config YAML file. Flags win over",
    "the environment, which wins over the file.",
    "",
  ];
  for (const [name, spec] of Object.entries(FLAGS) as [FlagName, FlagSpec][]) {
    const def = spec.default === "" ? "" : ` (default ${spec.default})`;
    lines.push(`  --${name.padEnd(34)} ${spec.help}${def}`);
  }
  return lines.join("\n") + "\n";
}

/**
 * Merges flags, environment and the optional config file into Options;
 * returns "help" when --help was given and "version" when --version was. Throws OptionsError naming the flag
 * on any bad value.
 */
export function parseOptions(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Options | "help" | "version" {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: Object.fromEntries(
        Object.entries(FLAGS).map(([n, s]) => [
          n,
          { type: s.type, ...("multiple" in s ? { multiple: true } : {}) },
        ]),
      ),
      strict: true,
      allowPositionals: false,
    });
  } catch (err) {
    throw new OptionsError(err instanceof Error ? err.message : String(err));
  }
  const values = parsed.values as Partial<Record<FlagName, string | boolean | string[]>>;
  if (values.help === true) return "help";
  if (values.version === true) return "version";

  let file: Record<string, unknown> = {};
  const configPath = (values.config as string | undefined) ?? env[envName("config")];
  if (configPath) {
    let loaded: unknown;
    try {
      loaded = load(readFileSync(configPath, "utf8"));
    } catch (err) {
      throw new OptionsError(
        `--config: cannot read ${configPath}: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    if (
      loaded !== undefined &&
      (loaded === null || typeof loaded !== "object" || Array.isArray(loaded))
    ) {
      throw new OptionsError(`--config: ${configPath} must hold a YAML mapping`);
    }
    file = (loaded ?? {}) as Record<string, unknown>;
    const known = new Set(Object.keys(FLAGS).map(camel));
    for (const k of Object.keys(file)) {
      if (!known.has(k) || k === "config" || k === "help" || k === "version") {
        throw new OptionsError(`--config: unknown option ${JSON.stringify(k)} in ${configPath}`);
      }
    }
  }

  const get = (flag: FlagName): string => {
    const v = values[flag];
    if (typeof v === "string") return v;
    if (typeof v === "boolean") return String(v);
    const e = env[envName(flag)];
    if (e !== undefined && e !== "") return e;
    const f = file[camel(flag)];
    if (f !== undefined && f !== null) {
      if (Array.isArray(f)) return f.map(String).join(",");
      if (typeof f === "string" || typeof f === "number" || typeof f === "boolean")
        return String(f);
      throw new OptionsError(`--${flag}: the config file gives a ${typeof f}`);
    }
    return FLAGS[flag].default;
  };
  const bool = (flag: FlagName): boolean => {
    const v = get(flag).toLowerCase();
    if (v === "true" || v === "1") return true;
    if (v === "false" || v === "0" || v === "") return false;
    throw new OptionsError(`--${flag}: ${JSON.stringify(v)} is not true or false`);
  };

  const namespaces = Array.isArray(values.namespace)
    ? values.namespace
    : get("namespace")
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s !== "");

  const logLevel = get("log-level");
  const levels = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;
  if (!(levels as readonly string[]).includes(logLevel)) {
    throw new OptionsError(
      `--log-level: ${JSON.stringify(logLevel)} is not one of ${levels.join(", ")}`,
    );
  }

  const options: Options = {
    kubeconfig: get("kubeconfig") || undefined,
    namespaces,
    metricsBindAddress: get("metrics-bind-address"),
    healthProbeBindAddress: get("health-probe-bind-address"),
    logLevel: logLevel as Options["logLevel"],
    syncPeriodMs: parseDuration(get("sync-period"), "sync-period"),
    kubeApiTimeoutMs: parseDuration(get("kube-api-timeout"), "kube-api-timeout"),
    watchInactivityTimeoutMs: parseDuration(
      get("watch-inactivity-timeout"),
      "watch-inactivity-timeout",
    ),
    kubeApiQps: parseNumber(get("kube-api-qps"), "kube-api-qps", 0),
    kubeApiBurst: parseNumber(get("kube-api-burst"), "kube-api-burst", 1),
    maxConcurrentReconciles: parseNumber(
      get("max-concurrent-reconciles"),
      "max-concurrent-reconciles",
      1,
    ),
    leaderElect: bool("leader-elect"),
    leaderElectionId: get("leader-election-id"),
    leaderElectionNamespace:
      [get("leader-election-namespace"), env.POD_NAMESPACE, podNamespaceFromServiceAccount()].find(
        (ns) => ns !== undefined && ns !== "",
      ) ?? "default",
    leaderElectionLeaseDurationMs: parseDuration(
      get("leader-election-lease-duration"),
      "leader-election-lease-duration",
    ),
    leaderElectionRenewDeadlineMs: parseDuration(
      get("leader-election-renew-deadline"),
      "leader-election-renew-deadline",
    ),
    leaderElectionRetryPeriodMs: parseDuration(
      get("leader-election-retry-period"),
      "leader-election-retry-period",
    ),
    identity: env.POD_NAME ?? `${hostname()}_${process.pid}`,
    watchNodes: nodeFailureDetection(get("node-failure-detection"), namespaces),
    watchTraffic: onOff(get("traffic-routing"), "traffic-routing"),
  };
  if (options.syncPeriodMs < 1000) throw new OptionsError("--sync-period: must be at least 1s");
  if (options.kubeApiTimeoutMs < 1000) {
    throw new OptionsError("--kube-api-timeout: must be at least 1s");
  }
  if (options.watchInactivityTimeoutMs < 5000) {
    throw new OptionsError("--watch-inactivity-timeout: must be at least 5s");
  }
  return options;
}

/**
 * Whether to watch nodes: `auto` does cluster-wide (the shipped ClusterRole
 * reads Nodes and every Lease) and not in namespaced mode, whose Roles
 * cannot grant a cluster-scoped kind; `on` needs the node roles bound.
 */
function nodeFailureDetection(value: string, namespaces: readonly string[]): boolean {
  switch (value) {
    case "auto":
      return namespaces.length === 0;
    case "on":
      return true;
    case "off":
      return false;
    default:
      throw new OptionsError(
        `--node-failure-detection: ${JSON.stringify(value)} is not auto, on or off`,
      );
  }
}

/** Reads an on/off flag. */
function onOff(value: string, flag: string): boolean {
  if (value === "on") return true;
  if (value === "off") return false;
  throw new OptionsError(`--${flag}: ${JSON.stringify(value)} is not on or off`);
}

function podNamespaceFromServiceAccount(): string | undefined {
  try {
    return readFileSync("/var/run/secrets/kubernetes.io/serviceaccount/namespace", "utf8").trim();
  } catch {
    return undefined;
  }
}
