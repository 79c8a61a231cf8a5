// The settings of the scale scenario (test/bench/scale.ts): the sizes to run
// and the operator's flags, by mode, each overridable through a SCALE_*
// environment variable.

/** Groups per namespace: a few namespaces, as a real cluster would have. */
export const GROUPS_PER_NAMESPACE = 1000;

export interface ScaleSettings {
  groups: number[];
  idleSeconds: number;
  qps: number;
  burst: number;
  concurrency: number;
  /** Profile the operator's CPU (through its inspector, per phase). */
  profile: boolean;
  /** Take a heap snapshot of the operator at the end of the idle period (after its figures). */
  heapSnapshot: boolean;
  /** Upper bound for convergence. */
  convergeTimeoutMs: number;
  /** Extra Node flags for the operator, e.g. a heap cap as a container limit would imply. */
  nodeFlags: string[];
}

/** The settings of a run: sizes by mode, overridable through SCALE_* environment variables. */
export function scaleSettings(mode: "quick" | "full"): ScaleSettings {
  const env = process.env;
  const num = (name: string, fallback: number): number => {
    const v = env[name];
    if (v === undefined || v === "") return fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`${name}: not a number: ${v}`);
    return n;
  };
  const groups =
    env.SCALE_GROUPS !== undefined && env.SCALE_GROUPS !== ""
      ? env.SCALE_GROUPS.split(",").map((s) => Number(s.trim()))
      : mode === "quick"
        ? [500]
        : [1000, 5000];
  if (groups.some((g) => !Number.isInteger(g) || g < 1 || g > 20_000)) {
    throw new Error(
      `SCALE_GROUPS: sizes must be integers in 1..20000: ${String(env.SCALE_GROUPS)}`,
    );
  }
  return {
    groups,
    idleSeconds: num("SCALE_IDLE_SECONDS", mode === "quick" ? 60 : 300),
    qps: num("SCALE_QPS", 500),
    burst: num("SCALE_BURST", 1000),
    concurrency: num("SCALE_CONCURRENCY", 16),
    // "heap": the snapshot only, so that CPU and RSS are not the profiler's.
    profile: env.SCALE_PROFILE !== "0" && env.SCALE_PROFILE !== "heap",
    heapSnapshot: env.SCALE_PROFILE !== "0",
    convergeTimeoutMs: num("SCALE_CONVERGE_TIMEOUT_SECONDS", mode === "quick" ? 300 : 900) * 1000,
    nodeFlags: (env.SCALE_NODE_FLAGS ?? "").split(" ").filter((f) => f !== ""),
  };
}
