import { execFileSync, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import path from "node:path";
import { createInterface } from "node:readline";
import type { KubeConfig, V1Lease } from "@kubernetes/client-node";
import { ListWatch } from "../../src/kube/listwatch.ts";
import { root } from "./install.ts";

/**
 * Leader-election candidates as child processes: the real client-go
 * (test/clientgo, built by hack/build-test-tools.sh), a kubebuilder-style
 * manager on the real controller-runtime (test/controllerruntime, same
 * script) or podium's own elector (test/support/node-candidate.ts), all
 * printing one JSON line per callback.
 *
 * A controller-runtime manager writes its own identity (os.Hostname() + "_" +
 * a uuid), so it runs in a UTS namespace of its own whose hostname is `id`,
 * the pod's name, as in a real pod: `unshare --uts` (root, which the tests
 * run as) and `hostname`, then exec, so the PID stays the manager's.
 */
export type CandidateKind = "client-go" | "controller-runtime" | "node";

export interface CandidateOptions {
  kind: CandidateKind;
  kubeconfig: string;
  namespace: string;
  leaseName: string;
  /** The holderIdentity; for controller-runtime the hostname (a pod's name), its identity's prefix. */
  id: string;
  /** Go durations, e.g. "4s". */
  leaseDuration: string;
  renewDeadline: string;
  retryPeriod: string;
  releaseOnCancel?: boolean;
  /**
   * For kind "node": the program to run instead of test/support/node-candidate.ts,
   * taking the same flags and printing the same lines (e.g. an app built on the
   * packed podium-elector).
   */
  script?: string;
}

/** One callback of a candidate; `t` is its wall time in epoch milliseconds (fractional). */
export interface CandidateEvent {
  /** campaigning: a controller-runtime manager is about to start (it reports no new_leader). */
  event: "started_leading" | "stopped_leading" | "new_leader" | "campaigning";
  id: string;
  leader?: string;
  t: number;
}

export interface CandidateExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** When the parent saw the process exit (epoch ms). */
  at: number;
}

/** A candidate process, stopped only through its own PID. */
export interface Candidate {
  readonly kind: CandidateKind;
  readonly id: string;
  readonly pid: number;
  readonly releaseOnCancel: boolean;
  readonly startedAt: number;
  /** Every callback line so far, in the order printed. */
  readonly events: CandidateEvent[];
  readonly stderr: string[];
  /** When the parent sent SIGKILL, if it did. */
  readonly killedAt: number | undefined;
  /** The exit, once the process has exited. */
  readonly exit: CandidateExit | undefined;
  readonly exited: Promise<CandidateExit>;
  /** True from a started_leading line until the matching stopped_leading line or the exit. */
  isLeading(): boolean;
  /**
   * Sends SIGTERM (or `signal`) and waits at most `timeoutMs` for the exit,
   * then SIGKILLs and waits again (bounded). Resolves the exit.
   */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<CandidateExit>;
  /** SIGKILL, recording the kill time as the end of any leadership; resolves the exit. */
  kill(): Promise<CandidateExit>;
}

const running = new Set<Candidate>();

let clientGoBinary: string | undefined;

/**
 * The client-go candidate's binary, built (once per machine and client-go
 * version; about 2 minutes with a cold Go build cache) by
 * hack/build-test-tools.sh.
 */
export function clientGoCandidateBinary(): string {
  clientGoBinary ??= execFileSync(path.join(root, "hack/build-test-tools.sh"), [], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
    timeout: 15 * 60_000,
  }).trim();
  return clientGoBinary;
}

let controllerRuntimeBinary: string | undefined;

/** The controller-runtime manager's binary, built (cached) by hack/build-test-tools.sh. */
export function controllerRuntimeManagerBinary(): string {
  controllerRuntimeBinary ??= execFileSync(
    path.join(root, "hack/build-test-tools.sh"),
    ["controllerruntime-manager"],
    { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], timeout: 15 * 60_000 },
  ).trim();
  return controllerRuntimeBinary;
}

/** Spawns a controller-runtime manager whose hostname is `options.id`, in its own UTS namespace. */
function spawnControllerRuntime(options: CandidateOptions): ChildProcess {
  const flags = [
    `--kubeconfig=${options.kubeconfig}`,
    `--leader-election-namespace=${options.namespace}`,
    `--leader-election-id=${options.leaseName}`,
    `--lease-duration=${options.leaseDuration}`,
    `--renew-deadline=${options.renewDeadline}`,
    `--retry-period=${options.retryPeriod}`,
    ...(options.releaseOnCancel ? ["--leader-election-release-on-cancel"] : []),
  ];
  // unshare without --fork execs sh, which execs the manager: one PID throughout.
  const script = 'hostname "$POD_HOSTNAME" && exec "$@"';
  return spawn(
    "unshare",
    ["--uts", "sh", "-c", script, "sh", controllerRuntimeManagerBinary(), ...flags],
    {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, POD_HOSTNAME: options.id },
    },
  );
}

/** Starts a candidate; it begins campaigning at once. */
export function startCandidate(options: CandidateOptions): Candidate {
  const flags = [
    `--kubeconfig=${options.kubeconfig}`,
    `--namespace=${options.namespace}`,
    `--lease-name=${options.leaseName}`,
    `--id=${options.id}`,
    `--lease-duration=${options.leaseDuration}`,
    `--renew-deadline=${options.renewDeadline}`,
    `--retry-period=${options.retryPeriod}`,
    ...(options.releaseOnCancel ? ["--release-on-cancel"] : []),
  ];
  const child: ChildProcess =
    options.kind === "client-go"
      ? spawn(clientGoCandidateBinary(), flags, { stdio: ["ignore", "pipe", "pipe"] })
      : options.kind === "controller-runtime"
        ? spawnControllerRuntime(options)
        : spawn(
            process.execPath,
            [options.script ?? path.join(root, "test/support/node-candidate.ts"), ...flags],
            { stdio: ["ignore", "pipe", "pipe"] },
          );
  const events: CandidateEvent[] = [];
  const stderr: string[] = [];
  let killedAt: number | undefined;
  let exit: CandidateExit | undefined;
  if (child.stdout) {
    createInterface({ input: child.stdout }).on("line", (line) => {
      try {
        // 19-digit nanoseconds lose sub-microsecond precision as a double: fine for ms.
        const parsed = JSON.parse(line) as Omit<CandidateEvent, "t"> & { t: number };
        events.push({ ...parsed, t: parsed.t / 1e6 });
      } catch {
        stderr.push(`unparsed stdout: ${line}`);
      }
    });
  }
  if (child.stderr) {
    createInterface({ input: child.stderr }).on("line", (line) => {
      if (stderr.length < 2000) stderr.push(line);
    });
  }
  const exited = new Promise<CandidateExit>((resolve) => {
    // "close", not "exit": stdout is fully read by then, so no line is missed.
    child.once("close", (code, signal) => {
      exit = { code, signal, at: Date.now() };
      running.delete(candidate);
      resolve(exit);
    });
  });

  const waitExit = async (timeoutMs: number): Promise<CandidateExit | undefined> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => {
        resolve(undefined);
      }, timeoutMs);
    });
    try {
      return await Promise.race([exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  };
  const pid = child.pid ?? 0;
  const signalPid = (signal: NodeJS.Signals): void => {
    if (exit !== undefined || pid === 0) return;
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  };

  const candidate: Candidate = {
    kind: options.kind,
    id: options.id,
    pid,
    releaseOnCancel: options.releaseOnCancel ?? false,
    startedAt: Date.now(),
    events,
    stderr,
    get killedAt() {
      return killedAt;
    },
    get exit() {
      return exit;
    },
    exited,
    isLeading() {
      if (exit !== undefined) return false;
      let leading = false;
      for (const e of events) {
        if (e.event === "started_leading") leading = true;
        else if (e.event === "stopped_leading") leading = false;
      }
      return leading;
    },
    async stop(signal: NodeJS.Signals = "SIGTERM", timeoutMs = 15_000) {
      if (exit !== undefined) return exit;
      if (signal === "SIGKILL") return candidate.kill();
      signalPid(signal);
      const done = await waitExit(timeoutMs);
      if (done !== undefined) return done;
      return candidate.kill();
    },
    async kill() {
      if (exit !== undefined) return exit;
      killedAt ??= Date.now();
      signalPid("SIGKILL");
      const done = await waitExit(10_000);
      if (done === undefined)
        throw new Error(`candidate ${options.id} (pid ${String(pid)}) survived SIGKILL`);
      return done;
    },
  };
  running.add(candidate);
  return candidate;
}

/** SIGKILLs every candidate still running (by PID); for afterAll hooks. */
export async function killAllCandidates(): Promise<void> {
  await Promise.all([...running].map((c) => c.kill()));
}

/** One term of leadership of one candidate process. */
export interface LeadingInterval {
  id: string;
  pid: number;
  kind: CandidateKind;
  start: number;
  /** stopped_leading, else the SIGKILL time, else the exit seen by the parent; Infinity while it still leads. */
  end: number;
  endedBy: "stopped_leading" | "killed" | "exit" | "running";
}

/** The leading intervals [started_leading, stopped_leading or process end] of each candidate process. */
export function leadingIntervals(candidates: readonly Candidate[]): LeadingInterval[] {
  const intervals: LeadingInterval[] = [];
  for (const c of candidates) {
    let start: number | undefined;
    for (const e of c.events) {
      if (e.event === "started_leading") {
        start ??= e.t;
      } else if (e.event === "stopped_leading" && start !== undefined) {
        intervals.push({
          id: c.id,
          pid: c.pid,
          kind: c.kind,
          start,
          end: e.t,
          endedBy: "stopped_leading",
        });
        start = undefined;
      }
    }
    if (start !== undefined) {
      const base = { id: c.id, pid: c.pid, kind: c.kind, start };
      if (c.killedAt !== undefined) intervals.push({ ...base, end: c.killedAt, endedBy: "killed" });
      else if (c.exit !== undefined) intervals.push({ ...base, end: c.exit.at, endedBy: "exit" });
      else intervals.push({ ...base, end: Number.POSITIVE_INFINITY, endedBy: "running" });
    }
  }
  return intervals.sort((a, b) => a.start - b.start);
}

export interface Overlap {
  a: LeadingInterval;
  b: LeadingInterval;
  ms: number;
}

/**
 * The overlaps between leading intervals of different identities (candidate
 * processes of one identity never run at the same time), largest first.
 */
export function overlaps(intervals: readonly LeadingInterval[]): Overlap[] {
  const found: Overlap[] = [];
  for (let i = 0; i < intervals.length; i++) {
    for (let j = i + 1; j < intervals.length; j++) {
      const a = intervals[i];
      const b = intervals[j];
      if (a === undefined || b === undefined || a.id === b.id) continue;
      const ms = Math.min(a.end, b.end) - Math.max(a.start, b.start);
      if (ms > 0) found.push({ a, b, ms });
    }
  }
  return found.sort((x, y) => y.ms - x.ms);
}

/** The gaps in [from, to] during which no candidate led, longest first. */
export function leaderlessGaps(
  intervals: readonly LeadingInterval[],
  from: number,
  to: number,
): { start: number; end: number; ms: number }[] {
  const gaps: { start: number; end: number; ms: number }[] = [];
  let covered = from;
  for (const i of [...intervals].sort((a, b) => a.start - b.start)) {
    if (i.start > covered) gaps.push({ start: covered, end: i.start, ms: i.start - covered });
    covered = Math.max(covered, i.end);
  }
  if (covered < to) gaps.push({ start: covered, end: to, ms: to - covered });
  return gaps.sort((a, b) => b.ms - a.ms);
}

/** One state of the Lease as a watch of it delivered it. */
export interface LeaseObservation {
  resourceVersion: string;
  holder: string;
  transitions: number;
  leaseDurationSeconds: number;
  renewTime: string;
  /** The field managers of metadata.managedFields: who has ever written the Lease. */
  managers: string[];
  deleted: boolean;
  /** When the watch delivered it (epoch ms). */
  at: number;
}

/**
 * Watches one Lease independently of every candidate and of podium, and
 * records each distinct version of it (a re-list that repeats a version is
 * not recorded twice).
 */
export class LeaseRecorder {
  readonly observations: LeaseObservation[] = [];
  readonly #watch: ListWatch<LeaseObservation>;

  constructor(kc: KubeConfig, namespace: string, name: string) {
    this.#watch = new ListWatch<LeaseObservation>({
      kc,
      name: "test-lease",
      path: `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`,
      fieldSelector: `metadata.name=${name}`,
      transform: (raw) => {
        const lease = raw as unknown as V1Lease;
        const spec = lease.spec ?? {};
        return {
          resourceVersion: lease.metadata?.resourceVersion ?? "",
          holder: spec.holderIdentity ?? "",
          transitions: spec.leaseTransitions ?? 0,
          leaseDurationSeconds: spec.leaseDurationSeconds ?? 0,
          renewTime: String(spec.renewTime ?? ""),
          managers: [...new Set((lease.metadata?.managedFields ?? []).map((f) => f.manager ?? ""))],
          deleted: false,
          at: Date.now(),
        };
      },
      onEvent: (type, _key, obj) => {
        const last = this.observations.at(-1);
        if (type !== "delete" && last?.resourceVersion === obj.resourceVersion) return;
        this.observations.push(type === "delete" ? { ...obj, deleted: true, at: Date.now() } : obj);
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

  /** The last state seen, or undefined before the Lease exists. */
  current(): LeaseObservation | undefined {
    const last = this.observations.at(-1);
    return last?.deleted ? undefined : last;
  }

  /**
   * The holder changes as client-go counts them in leaseTransitions: every
   * write that names a non-empty holder other than the previous one (the
   * previous may be "" after a release); the Lease's creation counts none.
   */
  holderChanges(): { from: string; to: string; at: number; transitions: number }[] {
    const changes: { from: string; to: string; at: number; transitions: number }[] = [];
    let previous: LeaseObservation | undefined;
    for (const o of this.observations) {
      if (o.deleted) {
        previous = undefined;
        continue;
      }
      if (previous !== undefined && o.holder !== "" && o.holder !== previous.holder) {
        changes.push({ from: previous.holder, to: o.holder, at: o.at, transitions: o.transitions });
      }
      previous = o;
    }
    return changes;
  }
}
