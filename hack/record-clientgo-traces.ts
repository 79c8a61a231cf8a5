/**
 * Records how real client-go leader-election candidates (test/clientgo,
 * `leaderelection.RunOrDie` on a `LeaseLock`) drive a Lease, as fixtures for
 * test/unit/leaderelection/clientgo-traces.test.ts, which replays them into
 * podium's elector on a fake clock. Re-record (about a minute, against any
 * cluster; each scenario uses a fresh Lease that it deletes afterwards) with:
 *
 *   node hack/record-clientgo-traces.ts --kubeconfig .cluster/kubeconfig \
 *     --binary "$(hack/build-test-tools.sh)" [--namespace default] \
 *     [--out test/fixtures/clientgo] [--scenario steady,crash,release,record-duration]
 *
 * (hack/build-test-tools.sh builds the candidate if needed and prints
 * `$(hack/build-components.sh --print)/clientgo-candidate`.) `--binary`
 * defaults to $CLIENTGO_CANDIDATE, then to what hack/build-test-tools.sh
 * prints; `--kubeconfig` to $KUBECONFIG, then .cluster/kubeconfig. Then run
 * `npx vitest run --project unit test/unit/leaderelection/clientgo-traces.test.ts`.
 *
 * Each fixture holds a header (client-go and Kubernetes versions, the
 * candidates and their timings, and when each was started, killed or
 * terminated), every version of the Lease that a watch saw (`t` is the local
 * observation time in ms since the recording started; the spec keeps only the
 * five leader-election fields, times verbatim as the server sent them) and the
 * candidates' own callback lines (started/stopped leading, new leader) on the
 * same time base.
 */
import { CoordinationV1Api, KubeConfig, VersionApi } from "@kubernetes/client-node";
import { execFileSync, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import * as prettier from "prettier";
import { ListWatch } from "../src/kube/listwatch.ts";
import type { RawObject } from "../src/kube/listwatch.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** The leader-election fields of a Lease spec, as the server sent them. */
export interface TraceSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  leaseTransitions?: number;
  acquireTime?: string;
  renewTime?: string;
}

/** One version of the Lease, as a watch saw it. */
export interface TraceRecord {
  /** Local observation time, ms since the recording started. */
  t: number;
  resourceVersion: string;
  spec: TraceSpec;
}

/** One callback line of a candidate (test/clientgo/main.go prints them). */
export interface TraceCallback {
  t: number;
  id: string;
  event: "started_leading" | "stopped_leading" | "new_leader";
  leader?: string;
}

/** Something the recorder did to a candidate, or its exit. */
export interface TraceAction {
  t: number;
  id: string;
  action: "start" | "sigkill" | "sigterm" | "exit";
  code?: number | null;
  signal?: string | null;
}

export interface TraceCandidate {
  id: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  releaseOnCancel: boolean;
  args: string[];
}

/** A fixture file: test/fixtures/clientgo/<scenario>.json. */
export interface Trace {
  scenario: string;
  description: string;
  clientGo: string;
  kubernetes: string;
  /** The wall time `t` counts from, ISO 8601 (the Lease's MicroTimes are on the same clock). */
  startedAt: string;
  startedAtUnixMs: number;
  lease: { namespace: string; name: string };
  candidates: TraceCandidate[];
  actions: TraceAction[];
  records: TraceRecord[];
  callbacks: TraceCallback[];
}

interface CandidateConfig {
  id: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  releaseOnCancel?: boolean;
}

interface Scenario {
  name: string;
  description: string;
  run: (r: Recording) => Promise<void>;
}

const { values: flags } = parseArgs({
  options: {
    kubeconfig: { type: "string" },
    binary: { type: "string" },
    namespace: { type: "string", default: "default" },
    out: { type: "string", default: join(root, "test/fixtures/clientgo") },
    scenario: { type: "string" },
  },
  strict: true,
});

const STEADY_MS = 12_000;
/** How long the survivor keeps leading (and renewing) after the takeover, so the trace shows its renewals. */
const AFTER_TAKEOVER_MS = 2_500;
/** A bound on every wait: nothing in a scenario should take this long. */
const WAIT_LIMIT_MS = 30_000;

const fast = { leaseDurationMs: 4000, renewDeadlineMs: 3000, retryPeriodMs: 1000 };

const scenarios: Scenario[] = [
  {
    name: "steady",
    description: `One client-go candidate (4s/3s/1s) acquires the Lease and renews it for ${STEADY_MS / 1000} s, then gets SIGTERM (no release).`,
    run: async (r) => {
      r.start({ id: "cg-a", ...fast });
      await r.waitForLeader("cg-a");
      await r.sleep(STEADY_MS);
      await r.stop("cg-a", "SIGTERM");
    },
  },
  {
    name: "crash",
    description:
      "cg-a (4s/3s/1s) leads; cg-b (4s/3s/1s) joins; after a few renewals cg-a is SIGKILLed, and cg-b takes over once the record has not changed for leaseDurationSeconds; then cg-b gets SIGTERM (no release).",
    run: async (r) => {
      r.start({ id: "cg-a", ...fast });
      await r.waitForLeader("cg-a");
      await r.sleep(1000);
      r.start({ id: "cg-b", ...fast });
      await r.waitForRenewals("cg-a", 4);
      r.signal("cg-a", "SIGKILL");
      await r.waitForLeader("cg-b");
      await r.sleep(AFTER_TAKEOVER_MS);
      await r.stop("cg-b", "SIGTERM");
      await r.waitForExit("cg-a");
    },
  },
  {
    name: "release",
    description:
      'cg-a (4s/3s/1s, --release-on-cancel) leads; cg-b (4s/3s/1s) joins; after a few renewals cg-a gets SIGTERM and writes the release record (holder ""), which cg-b takes at its next retry without waiting for expiry; then cg-b gets SIGTERM (no release).',
    run: async (r) => {
      r.start({ id: "cg-a", ...fast, releaseOnCancel: true });
      await r.waitForLeader("cg-a");
      await r.sleep(1000);
      r.start({ id: "cg-b", ...fast });
      await r.waitForRenewals("cg-a", 4);
      await r.stop("cg-a", "SIGTERM");
      await r.waitForLeader("cg-b");
      await r.sleep(AFTER_TAKEOVER_MS);
      await r.stop("cg-b", "SIGTERM");
    },
  },
  {
    name: "record-duration",
    description:
      "cg-a (6s/3s/1s, a 60s/15s/5s-like ratio scaled down) leads; cg-b joins with a much shorter lease of its own (2s/1500ms/500ms); cg-a is SIGKILLed after a few renewals, and cg-b still waits the record's leaseDurationSeconds (6) from its last observed change, not its own 2 s; then cg-b gets SIGTERM (no release).",
    run: async (r) => {
      r.start({ id: "cg-a", leaseDurationMs: 6000, renewDeadlineMs: 3000, retryPeriodMs: 1000 });
      await r.waitForLeader("cg-a");
      await r.sleep(1000);
      r.start({ id: "cg-b", leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 500 });
      await r.waitForRenewals("cg-a", 4);
      r.signal("cg-a", "SIGKILL");
      await r.waitForLeader("cg-b");
      await r.sleep(AFTER_TAKEOVER_MS);
      await r.stop("cg-b", "SIGTERM");
      await r.waitForExit("cg-a");
    },
  },
];

/** Wall time in ms with sub-ms precision. */
function wallMs(): number {
  return performance.timeOrigin + performance.now();
}

function goDuration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/** One scenario being recorded: the candidates, the watch and everything seen so far. */
class Recording {
  /** Wall time (ms) that `t` counts from; set by `begin`, once the watch has synced. */
  startedAt = 0;
  readonly records: TraceRecord[] = [];
  readonly callbacks: TraceCallback[] = [];
  readonly actions: TraceAction[] = [];
  readonly candidates: TraceCandidate[] = [];
  readonly #children = new Map<string, ChildProcess>();
  readonly #exited = new Map<string, Promise<void>>();
  readonly #stderr = new Map<string, string[]>();
  #waiters: (() => void)[] = [];
  readonly #binary: string;
  readonly #kubeconfig: string;
  readonly #namespace: string;
  readonly #lease: string;

  constructor(binary: string, kubeconfig: string, namespace: string, lease: string) {
    this.#binary = binary;
    this.#kubeconfig = kubeconfig;
    this.#namespace = namespace;
    this.#lease = lease;
  }

  begin(): void {
    this.startedAt = wallMs();
  }

  now(): number {
    return Math.round(wallMs() - this.startedAt);
  }

  /** Called for every Lease version the watch delivers. */
  observe(raw: RawObject): void {
    if (this.startedAt === 0) return;
    const meta = raw.metadata as { resourceVersion?: string } | undefined;
    const resourceVersion = meta?.resourceVersion ?? "";
    if (this.records.at(-1)?.resourceVersion === resourceVersion) return;
    const source = (raw as { spec?: Record<string, unknown> }).spec ?? {};
    const spec: TraceSpec = {};
    for (const key of [
      "holderIdentity",
      "leaseDurationSeconds",
      "leaseTransitions",
      "acquireTime",
      "renewTime",
    ] as const) {
      if (key in source) Object.assign(spec, { [key]: source[key] });
    }
    this.records.push({ t: this.now(), resourceVersion, spec });
    this.#wake();
  }

  start(config: CandidateConfig): void {
    const args = [
      `--kubeconfig=${this.#kubeconfig}`,
      `--namespace=${this.#namespace}`,
      `--lease-name=${this.#lease}`,
      `--id=${config.id}`,
      `--lease-duration=${goDuration(config.leaseDurationMs)}`,
      `--renew-deadline=${goDuration(config.renewDeadlineMs)}`,
      `--retry-period=${goDuration(config.retryPeriodMs)}`,
    ];
    if (config.releaseOnCancel) args.push("--release-on-cancel");
    this.candidates.push({
      id: config.id,
      leaseDurationMs: config.leaseDurationMs,
      renewDeadlineMs: config.renewDeadlineMs,
      retryPeriodMs: config.retryPeriodMs,
      releaseOnCancel: config.releaseOnCancel ?? false,
      args: args.slice(1).filter((a) => !a.startsWith("--lease-name=")),
    });
    const child = spawn(this.#binary, args, { stdio: ["ignore", "pipe", "pipe"] });
    this.actions.push({ t: this.now(), id: config.id, action: "start" });
    this.#children.set(config.id, child);
    const stderr: string[] = [];
    this.#stderr.set(config.id, stderr);
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk: string) => {
      stderr.push(chunk);
      if (stderr.length > 200) stderr.shift();
    });
    createInterface({ input: child.stdout }).on("line", (line) => {
      this.#callbackLine(config.id, line);
    });
    this.#exited.set(
      config.id,
      new Promise((resolveExit) => {
        child.on("exit", (code, signal) => {
          this.actions.push({ t: this.now(), id: config.id, action: "exit", code, signal });
          this.#children.delete(config.id);
          this.#wake();
          resolveExit();
        });
      }),
    );
    child.on("error", (err) => {
      console.error(`[record] ${config.id}: ${err.message}`);
    });
  }

  #callbackLine(id: string, line: string): void {
    let parsed: { event?: string; id?: string; leader?: string; t?: number };
    try {
      parsed = JSON.parse(line) as typeof parsed;
    } catch {
      console.error(`[record] ${id}: unexpected output ${JSON.stringify(line)}`);
      return;
    }
    const event = parsed.event;
    if (event !== "started_leading" && event !== "stopped_leading" && event !== "new_leader") {
      console.error(`[record] ${id}: unexpected event ${JSON.stringify(line)}`);
      return;
    }
    const t =
      typeof parsed.t === "number" ? Math.round(parsed.t / 1e6 - this.startedAt) : this.now();
    const callback: TraceCallback = { t, id: parsed.id ?? id, event };
    if (parsed.leader !== undefined) callback.leader = parsed.leader;
    this.callbacks.push(callback);
    this.#wake();
  }

  signal(id: string, signal: "SIGKILL" | "SIGTERM"): void {
    const child = this.#children.get(id);
    if (!child) throw new Error(`${id} is not running`);
    this.actions.push({ t: this.now(), id, action: signal === "SIGKILL" ? "sigkill" : "sigterm" });
    child.kill(signal);
  }

  async stop(id: string, signal: "SIGKILL" | "SIGTERM"): Promise<void> {
    this.signal(id, signal);
    await this.waitForExit(id);
  }

  async waitForExit(id: string): Promise<void> {
    await this.#until(`${id} to exit`, () => !this.#children.has(id));
    await this.#exited.get(id);
  }

  async waitForLeader(id: string): Promise<void> {
    await this.#until(`${id} to start leading`, () =>
      this.callbacks.some((c) => c.id === id && c.event === "started_leading"),
    );
  }

  /** Waits until the watch has seen `count` renewals by `id` after its acquisition. */
  async waitForRenewals(id: string, count: number): Promise<void> {
    await this.#until(
      `${count} renewals by ${id}`,
      () => this.records.filter((r) => r.spec.holderIdentity === id).length > count,
    );
  }

  async sleep(ms: number): Promise<void> {
    await new Promise((resolveSleep) => setTimeout(resolveSleep, ms));
  }

  /** Kills (SIGKILL, by PID) every candidate still running; for cleanup after a failure. */
  async killAll(): Promise<void> {
    for (const [id, child] of this.#children) {
      console.error(`[record] killing ${id} (pid ${child.pid})`);
      child.kill("SIGKILL");
    }
    await Promise.all(this.#exited.values());
  }

  stderrOf(id: string): string {
    return (this.#stderr.get(id) ?? []).join("");
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }

  async #until(what: string, condition: () => boolean): Promise<void> {
    const deadline = Date.now() + WAIT_LIMIT_MS;
    while (!condition()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${WAIT_LIMIT_MS} ms waiting for ${what}`);
      await new Promise<void>((resolveWait) => {
        const timer = setTimeout(resolveWait, Math.min(left, 250));
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolveWait();
        });
      });
    }
  }
}

function defaultBinary(): string {
  if (process.env.CLIENTGO_CANDIDATE) return process.env.CLIENTGO_CANDIDATE;
  const script = join(root, "hack/build-test-tools.sh");
  if (!existsSync(script)) {
    throw new Error("no --binary, no $CLIENTGO_CANDIDATE and no hack/build-test-tools.sh");
  }
  return execFileSync(script, { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim();
}

/** The client-go version the binary was built with (its Go build info), else the one test/clientgo/go.mod requires. */
function clientGoVersion(binary: string): string {
  try {
    const info = execFileSync("go", ["version", "-m", binary], { encoding: "utf8" });
    const match = /^\s*dep\s+k8s\.io\/client-go\s+(\S+)/m.exec(info);
    if (match?.[1]) return match[1];
  } catch {
    // no go on PATH: fall back to go.mod
  }
  const goMod = readFileSync(join(root, "test/clientgo/go.mod"), "utf8");
  return /k8s\.io\/client-go\s+(\S+)/.exec(goMod)?.[1] ?? "unknown";
}

async function record(
  scenario: Scenario,
  kc: KubeConfig,
  kubeconfig: string,
  binary: string,
  meta: { clientGo: string; kubernetes: string; namespace: string },
): Promise<Trace> {
  const lease = `clientgo-trace-${scenario.name}-${Date.now().toString(36)}`;
  const coordination = kc.makeApiClient(CoordinationV1Api);
  const r = new Recording(binary, kubeconfig, meta.namespace, lease);
  const watch = new ListWatch<RawObject>({
    kc,
    name: "lease",
    path: `/apis/coordination.k8s.io/v1/namespaces/${meta.namespace}/leases`,
    fieldSelector: `metadata.name=${lease}`,
    transform: (raw) => raw,
    onEvent: (type, _key, raw) => {
      if (type !== "delete") r.observe(raw);
    },
  });
  watch.start();
  if (!(await watch.waitForSync(AbortSignal.timeout(WAIT_LIMIT_MS)))) {
    await watch.stop();
    throw new Error(`could not list leases in ${meta.namespace}`);
  }
  r.begin();
  console.error(`[record] ${scenario.name}: lease ${meta.namespace}/${lease}`);
  try {
    await scenario.run(r);
    // Let the watch deliver the last writes.
    await r.sleep(500);
  } catch (error) {
    for (const c of r.candidates) {
      const stderr = r.stderrOf(c.id).trim();
      if (stderr) console.error(`[record] ${c.id} stderr (tail):\n${stderr.slice(-2000)}`);
    }
    throw error;
  } finally {
    await r.killAll();
    await watch.stop();
    await coordination
      .deleteNamespacedLease({ name: lease, namespace: meta.namespace })
      .catch((err: unknown) => {
        console.error(`[record] could not delete lease ${lease}: ${String(err)}`);
      });
  }
  const byTime = <T extends { t: number }>(a: T, b: T): number => a.t - b.t;
  return {
    scenario: scenario.name,
    description: scenario.description,
    clientGo: meta.clientGo,
    kubernetes: meta.kubernetes,
    startedAt: new Date(Math.round(r.startedAt)).toISOString(),
    startedAtUnixMs: Math.round(r.startedAt),
    lease: { namespace: meta.namespace, name: lease },
    candidates: r.candidates,
    actions: [...r.actions].sort(byTime),
    records: r.records,
    callbacks: [...r.callbacks].sort(byTime),
  };
}

const kubeconfig = resolve(
  flags.kubeconfig ?? process.env.KUBECONFIG ?? join(root, ".cluster/kubeconfig"),
);
const binary = resolve(flags.binary ?? defaultBinary());
if (!existsSync(binary)) throw new Error(`no client-go candidate at ${binary}`);
const wanted = flags.scenario?.split(",").map((s) => s.trim()) ?? scenarios.map((s) => s.name);
const unknown = wanted.filter((w) => !scenarios.some((s) => s.name === w));
if (unknown.length > 0) throw new Error(`unknown scenario(s): ${unknown.join(", ")}`);

const kc = new KubeConfig();
kc.loadFromFile(kubeconfig);
const version = await kc.makeApiClient(VersionApi).getCode();
const meta = {
  clientGo: clientGoVersion(binary),
  kubernetes: version.gitVersion,
  namespace: flags.namespace,
};
await mkdir(flags.out, { recursive: true });
for (const scenario of scenarios.filter((s) => wanted.includes(s.name))) {
  const trace = await record(scenario, kc, kubeconfig, binary, meta);
  const file = join(flags.out, `${scenario.name}.json`);
  const options = (await prettier.resolveConfig(file)) ?? {};
  await writeFile(
    file,
    await prettier.format(JSON.stringify(trace), { ...options, filepath: file }),
  );
  console.error(
    `[record] ${scenario.name}: ${trace.records.length} records, ${trace.callbacks.length} callbacks -> ${file}`,
  );
}
