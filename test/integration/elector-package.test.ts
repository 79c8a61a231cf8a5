import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { CoordinationV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import {
  killAllCandidates,
  leadingIntervals,
  overlaps,
  startCandidate,
} from "../support/candidates.ts";
import type { Candidate } from "../support/candidates.ts";
import { root } from "../support/install.ts";
import { connect, createNamespace, waitFor } from "../support/kube.ts";
import type { Clients } from "../support/kube.ts";
import { writeOfflineApp } from "../support/offline-npm.ts";
import type { LocalTarball } from "../support/offline-npm.ts";

// The elector as a user gets it: `npm pack` of packages/elector (hack/elector-pack.ts),
// installed with `npm install --offline` into an app outside the checkout, where
// nothing of the repo resolves, then run as three processes of that app. The app's
// lockfile comes from the repo's (test/support/offline-npm.ts), so the npm cache that
// `make deps` filled is enough and no request leaves the machine.

const run = promisify(execFile);
const LEASE = "scratch-app";
const TIMINGS = { leaseDuration: "6s", renewDeadline: "4s", retryPeriod: "1s" } as const;

/** The app's program: the flags and JSON lines of test/support/node-candidate.ts, on the package. */
const ELECT_JS = `
import { parseArgs } from "node:util";
import { CoordinationV1Api, KubeConfig } from "@kubernetes/client-node";
import { KubeLeaseLock, LeaderElector } from "podium-elector";
import { prometheusMetrics } from "podium-elector/prometheus";
import { Registry } from "prom-client";

const { values } = parseArgs({
  options: {
    kubeconfig: { type: "string" },
    namespace: { type: "string" },
    "lease-name": { type: "string" },
    id: { type: "string" },
    "lease-duration": { type: "string" },
    "renew-deadline": { type: "string" },
    "retry-period": { type: "string" },
  },
});
const id = values.id;
const ms = (text) => Number(/^(\\d+)s$/.exec(text)[1]) * 1000;
const emit = (event, extra = {}) =>
  process.stdout.write(JSON.stringify({ event, id, ...extra, t: Date.now() * 1e6 }) + "\\n");

const kc = new KubeConfig();
kc.loadFromFile(values.kubeconfig);
const registry = new Registry();
const stop = new AbortController();
process.once("SIGTERM", () => stop.abort());
const elector = new LeaderElector({
  lock: new KubeLeaseLock({
    api: kc.makeApiClient(CoordinationV1Api),
    namespace: values.namespace,
    name: values["lease-name"],
  }),
  identity: id,
  leaseDurationMs: ms(values["lease-duration"]),
  renewDeadlineMs: ms(values["renew-deadline"]),
  retryPeriodMs: ms(values["retry-period"]),
  name: values["lease-name"],
  metrics: prometheusMetrics(registry),
  callbacks: {
    onStartedLeading: async (signal) => {
      const status = await registry.getSingleMetric("leader_election_master_status").get();
      if (status.values.find((v) => v.labels.name === values["lease-name"])?.value !== 1) {
        process.stderr.write("leader_election_master_status is not 1 while leading\\n");
        process.exit(3);
      }
      emit("started_leading");
      await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
    },
    onStoppedLeading: () => emit("stopped_leading"),
    onNewLeader: (leader) => emit("new_leader", { leader }),
  },
});
await elector.run(stop.signal);
process.exit(0);
`;

/** A TypeScript consumer: compiles only if the package's types are found and are right. */
const CONSUMER_TS = `
import { CoordinationV1Api, KubeConfig } from "@kubernetes/client-node";
import { KubeLeaseLock, LeaderElector } from "podium-elector";
import type { LeaderElectionMetrics, LeaderElectorOptions, LeaseSnapshot } from "podium-elector";
import { prometheusMetrics } from "podium-elector/prometheus";
import { Registry } from "prom-client";

const kc = new KubeConfig();
const metrics: LeaderElectionMetrics = prometheusMetrics(new Registry());
const elector = new LeaderElector({
  lock: new KubeLeaseLock({ api: kc.makeApiClient(CoordinationV1Api), namespace: "a", name: "b" }),
  identity: "me",
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
  metrics,
  callbacks: { onStartedLeading: (signal: AbortSignal) => signal.aborted, onStoppedLeading: () => undefined },
});
export const leader: string | undefined = elector.getLeader();
export const running: Promise<void> = elector.run(new AbortController().signal);
export type Seen = LeaseSnapshot["record"]["holderIdentity"];
// @ts-expect-error identity is a string
export const bad: LeaderElectorOptions["identity"] = 1;
// @ts-expect-error there is no such export
import { NoSuchThing } from "podium-elector";
export { NoSuchThing };
`;

describe("podium-elector, packed and installed into an app outside the repo", () => {
  let app: string;
  let clients: Clients;
  let namespace: string;
  let removeNamespace: (() => Promise<void>) | undefined;
  let tarball: string;
  let withoutPromClient: { main: string; prometheus: string };

  const npm = (args: string[]) =>
    run("npm", [...args, "--offline", "--no-audit", "--no-fund", "--ignore-scripts"], {
      cwd: app,
      timeout: 300_000,
    });
  const node = (code: string) =>
    run(process.execPath, ["--input-type=module", "-e", code], { cwd: app, timeout: 60_000 });

  beforeAll(async () => {
    app = mkdtempSync(path.join(os.tmpdir(), "podium-elector-app-"));
    const packed = await run(
      process.execPath,
      [path.join(root, "hack/elector-pack.ts"), "--out", path.join(app, "pack")],
      { cwd: root, timeout: 300_000 },
    );
    tarball = packed.stdout.trim();
    const manifest = JSON.parse(
      readFileSync(path.join(root, "packages/elector/package.json"), "utf8"),
    ) as Omit<LocalTarball, "file" | "integrity">;
    const local: LocalTarball = {
      ...manifest,
      file: path.relative(app, tarball),
      integrity: `sha512-${createHash("sha512").update(readFileSync(tarball)).digest("base64")}`,
    };
    writeOfflineApp(app, local);
    await npm(["install"]);
    // What an app without prom-client sees, before the test installs it.
    withoutPromClient = {
      main: await node(
        'const m = await import("podium-elector"); console.log(Object.keys(m).sort().join(","));',
      ).then((r) => r.stdout.trim()),
      prometheus: await node('await import("podium-elector/prometheus");').then(
        () => "loaded",
        (error: unknown) => String(error),
      ),
    };
    writeOfflineApp(app, local, ["prom-client"]);
    await npm(["install"]);
    clients = connect(inject("kubeconfig"));
    ({ name: namespace, remove: removeNamespace } = await createNamespace(clients, "elector-pkg"));
  });

  afterAll(async () => {
    await killAllCandidates();
    await removeNamespace?.();
    rmSync(app, { recursive: true, force: true });
  });

  it("is outside the repo and depends on @kubernetes/client-node only; prom-client is optional", () => {
    expect(path.relative(root, app).startsWith("..")).toBe(true);
    expect(path.basename(tarball)).toMatch(/^podium-elector-\d+\.\d+\.\d+\.tgz$/);
    const manifest = JSON.parse(
      readFileSync(path.join(app, "node_modules/podium-elector/package.json"), "utf8"),
    ) as { dependencies?: Record<string, string>; peerDependenciesMeta?: object };
    expect(Object.keys(manifest.dependencies ?? {})).toEqual(["@kubernetes/client-node"]);
    expect(manifest.peerDependenciesMeta).toEqual({ "prom-client": { optional: true } });

    // Without prom-client the main entry loads; the metrics entry says what is missing.
    expect(withoutPromClient.main).toBe(
      "JITTER_FACTOR,KubeLeaseLock,LeaderElector,LeaseLockError,systemClock",
    );
    expect(withoutPromClient.prometheus).toMatch(/Cannot find package 'prom-client'/);
  });

  it("type-checks a TypeScript consumer against the package's types", async () => {
    writeFileSync(path.join(app, "consumer.ts"), CONSUMER_TS);
    writeFileSync(
      path.join(app, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          module: "nodenext",
          moduleResolution: "nodenext",
          target: "es2022",
          types: ["node"],
          noEmit: true,
          // client-node's own declarations need @types/ws, which an app would add.
          skipLibCheck: true,
        },
        files: ["consumer.ts"],
      }),
    );
    const tsc = path.join(root, "node_modules/typescript/bin/tsc");
    const result = await run(process.execPath, [tsc, "-p", app], { cwd: app, timeout: 120_000 });
    expect(result.stdout).toBe("");
  });

  it("three processes of the app elect exactly one leader, and killing it moves leadership", async () => {
    writeFileSync(path.join(app, "elect.js"), ELECT_JS);
    const coordination = clients.kc.makeApiClient(CoordinationV1Api);
    const holder = async () =>
      (await coordination.readNamespacedLease({ name: LEASE, namespace })).spec?.holderIdentity;
    const candidates: Candidate[] = ["app-0", "app-1", "app-2"].map((id) =>
      startCandidate({
        kind: "node",
        script: path.join(app, "elect.js"),
        kubeconfig: inject("kubeconfig"),
        namespace,
        leaseName: LEASE,
        id,
        ...TIMINGS,
      }),
    );
    const describeAll = () =>
      candidates
        .map((c) => `${c.id}: ${JSON.stringify(c.events)} ${c.stderr.join(" | ")}`)
        .join("\n");
    const soleLeader = (among: readonly Candidate[]) => async () => {
      const leading = among.filter((c) => c.isLeading());
      if (leading.length !== 1 || leading[0] === undefined) return undefined;
      return (await holder()) === leading[0].id ? leading[0] : undefined;
    };

    const first = await waitFor("one of three app processes to lead", soleLeader(candidates), {
      timeoutMs: 60_000,
    }).catch((error: unknown) => {
      throw new Error(`${String(error)}\n${describeAll()}`);
    });
    // Every process saw the same leader.
    await waitFor("every process to report the leader", () =>
      Promise.resolve(
        candidates.every((c) =>
          c.events.some((e) => e.event === "new_leader" && e.leader === first.id),
        )
          ? true
          : undefined,
      ),
    );

    await first.kill();
    const rest = candidates.filter((c) => c !== first);
    const second = await waitFor("leadership to move to a survivor", soleLeader(rest), {
      timeoutMs: 60_000,
    }).catch((error: unknown) => {
      throw new Error(`${String(error)}\n${describeAll()}`);
    });
    expect(second.id).not.toBe(first.id);
    const lease = await coordination.readNamespacedLease({ name: LEASE, namespace });
    expect(lease.spec?.leaseTransitions).toBe(1);

    await Promise.all(rest.map((c) => c.stop()));
    expect(overlaps(leadingIntervals(candidates))).toEqual([]);
    for (const c of rest) {
      expect(c.exit?.code, describeAll()).toBe(0);
      expect(c.stderr, c.id).toEqual([]);
    }
  });
});
