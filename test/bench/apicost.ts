import https from "node:https";
import { CoordinationV1Api } from "@kubernetes/client-node";
import type { KubeConfig } from "@kubernetes/client-node";
import { GROUP, PLURAL, VERSION } from "../../src/api/constants.ts";
import type { ElectionGroup } from "../../src/api/types.ts";
import { clientGoCandidateBinary, startCandidate } from "../support/candidates.ts";
import type { Candidate } from "../support/candidates.ts";
import type { Clients } from "../support/kube.ts";
import { createNamespace } from "../support/kube.ts";
import type { OperatorProcess } from "../support/operator.ts";
import { createGroup, custom, deleteGroup } from "../support/groups.ts";
import { series } from "../support/prometheus.ts";
import type { ActivitySnapshot } from "./activity.ts";
import { snapshotActivity } from "./activity.ts";
import { createPod, log, waitPodsReady } from "./fixtures.ts";
import type { LabelWatch } from "./watch.ts";
import { sleep } from "./watch.ts";

// Scenario 4: API requests in steady state, podium vs client-go, counted by
// the API server itself (apiserver_request_total, scraped with the admin
// client certificate at the start and end of each phase). That metric has no
// user-agent label, so requests are attributed by phase:
//   podium    - podium (Managed mode, default timings 90/60/2) manages N groups of 3 pods;
//   baseline  - neither runs: kube-controller-manager, the scheduler, kwok;
//   client-go - N Leases, each with 3 real client-go candidates at 15/10/2.
// Each phase lasts the same time; (phase - baseline) / N / minutes is the
// cost of one group. podium's own rest_client_requests_total is read too.

export const VERBS = ["GET", "LIST", "POST", "PUT", "PATCH", "APPLY", "DELETE"] as const;

export type PhaseName = "podium" | "baseline" | "client-go";

export interface Phase {
  name: PhaseName;
  startedAt: number;
  seconds: number;
  /** Delta of apiserver_request_total over the phase, by "VERB resource[/subresource]". */
  requests: Record<string, number>;
  /** apiserver_longrunning_requests{verb="WATCH"} at the end of the phase, by resource. */
  openWatches: Record<string, number>;
  /** Leadership changes during the phase (status.transitions or leaseTransitions, summed). */
  transitionsDuring: number;
  activity: ActivitySnapshot;
}

export interface PodiumOwn {
  /** Delta of podium's rest_client_requests_total over the podium phase, by method. */
  requests: Record<string, number>;
  /** podium's watch streams (one per cached resource) and their restarts during the phase. */
  watchStreams: number;
  watchRestarts: number;
}

export interface ApiCostResult {
  groups: number;
  podsPerGroup: number;
  phaseSeconds: number;
  phases: Phase[];
  podiumOwn: PodiumOwn;
  /** (phase - baseline) per group per minute, by verb; WATCH left out (see watches). */
  perGroupPerMinute: { podium: Record<string, number>; clientGo: Record<string, number> };
  /** The same for podium from its own rest_client_requests_total (no baseline needed). */
  podiumOwnPerGroupPerMinute: Record<string, number>;
  /** Non-WATCH totals per group per minute. */
  totals: { podium: number; clientGo: number; podiumOwn: number };
  /** client-go / podium: how many times fewer requests podium makes. */
  fewerTimes: number;
  /** Rows "VERB resource" with net per group per minute in either phase. */
  byResource: { key: string; podium: number; clientGo: number }[];
  /** Extra open WATCH connections during the phase compared to the baseline, by resource. */
  extraWatches: { podium: Record<string, number>; clientGo: Record<string, number> };
  otherGroupsDeleted: string[];
}

export interface ApiCostContext {
  clients: Clients;
  kubeconfig: string;
  labels: LabelWatch;
  operator: OperatorProcess;
  groups: number;
  phaseSeconds: number;
}

const SETTLE_MS = 20_000;
const READY_TIMEOUT_MS = 180_000;

/** GETs `path` of the API server with the kubeconfig's credentials (the admin client certificate). */
export async function apiserverGet(kc: KubeConfig, path: string): Promise<string> {
  const server = kc.getCurrentCluster()?.server;
  if (server === undefined) throw new Error("the kubeconfig has no current cluster");
  const url = new URL(path, server);
  const options: https.RequestOptions = {
    method: "GET",
    hostname: url.hostname,
    port: url.port,
    path: url.pathname,
    timeout: 30_000,
  };
  await kc.applyToHTTPSOptions(options);
  return new Promise((resolve, reject) => {
    const req = https.request(options, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        if (res.statusCode === 200) resolve(body);
        else
          reject(new Error(`GET ${path}: HTTP ${String(res.statusCode)}: ${body.slice(0, 200)}`));
      });
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${path}: timed out`)));
    req.on("error", reject);
    req.end();
  });
}

function sumBy(
  text: string,
  name: string,
  key: (labels: Map<string, string>) => string | undefined,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of series(text, name)) {
    const k = key(s.labels);
    if (k !== undefined) out[k] = (out[k] ?? 0) + s.value;
  }
  return out;
}

function requestKey(l: Map<string, string>): string {
  const resource = l.get("resource") ?? "";
  const sub = l.get("subresource") ?? "";
  return `${l.get("verb") ?? "?"} ${resource === "" ? "(non-resource)" : resource}${sub === "" ? "" : `/${sub}`}`;
}

function delta(start: Record<string, number>, end: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(end)) {
    const d = v - (start[k] ?? 0);
    if (d !== 0) out[k] = d;
  }
  return out;
}

function byVerb(requests: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(requests)) {
    const verb = k.split(" ")[0] ?? "?";
    out[verb] = (out[verb] ?? 0) + v;
  }
  return out;
}

async function measurePhase(
  ctx: ApiCostContext,
  name: PhaseName,
  transitions: () => Promise<number>,
  podium?: { before: (text: string) => void; after: (text: string) => void },
): Promise<Phase> {
  const kc = ctx.clients.kc;
  const t0 = await transitions();
  if (podium) podium.before(await ctx.operator.metrics());
  const startText = await apiserverGet(kc, "/metrics");
  const startedAt = Date.now();
  log(`apicost ${name}: measuring for ${String(ctx.phaseSeconds)} s`);
  await sleep(ctx.phaseSeconds * 1000);
  const endText = await apiserverGet(kc, "/metrics");
  const seconds = (Date.now() - startedAt) / 1000;
  if (podium) podium.after(await ctx.operator.metrics());
  const t1 = await transitions();
  const requests = delta(
    sumBy(startText, "apiserver_request_total", requestKey),
    sumBy(endText, "apiserver_request_total", requestKey),
  );
  const openWatches = sumBy(endText, "apiserver_longrunning_requests", (l) =>
    l.get("verb") === "WATCH" ? (l.get("resource") ?? "") : undefined,
  );
  const phase: Phase = {
    name,
    startedAt,
    seconds,
    requests,
    openWatches,
    transitionsDuring: t1 - t0,
    activity: snapshotActivity(`apicost ${name} phase end`),
  };
  const verbs = byVerb(requests);
  log(
    `apicost ${name}: ${Object.entries(verbs)
      .map(([v, n]) => `${v} ${String(n)}`)
      .join(", ")} in ${seconds.toFixed(0)} s`,
  );
  return phase;
}

async function listGroups(clients: Clients, namespace?: string): Promise<ElectionGroup[]> {
  const api = custom(clients);
  const list = (
    namespace === undefined
      ? await api.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL })
      : await api.listNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          namespace,
          plural: PLURAL,
        })
  ) as { items: ElectionGroup[] };
  return list.items;
}

async function waitGroupsGone(clients: Clients, namespace?: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if ((await listGroups(clients, namespace)).length === 0) return;
    await sleep(200);
  }
  throw new Error(`ElectionGroups${namespace ? ` in ${namespace}` : ""} not gone after 60 s`);
}

/** Waits (bounded) until every group has a holder that is the one pod labelled role=leader. */
async function waitGroupsLed(
  ctx: ApiCostContext,
  ns: string,
  apps: readonly string[],
): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let missing: string[] = [...apps];
  for (let i = 0; i < 10_000 && Date.now() < deadline; i++) {
    const groups = new Map((await listGroups(ctx.clients, ns)).map((g) => [g.metadata.name, g]));
    missing = apps.filter((app) => {
      const holder = groups.get(app)?.status?.holder ?? "";
      const labelled = ctx.labels.leaders(ns, app);
      return holder === "" || labelled.length !== 1 || labelled[0] !== holder;
    });
    if (missing.length === 0) return;
    await sleep(1000);
  }
  throw new Error(
    `groups without a steady leader after ${String(READY_TIMEOUT_MS)} ms: ${missing.join(", ")}`,
  );
}

interface LeaseState {
  name: string;
  holder: string;
  renewedMsAgo: number;
  transitions: number;
}

async function leaseStates(clients: Clients, ns: string): Promise<LeaseState[]> {
  const api = clients.kc.makeApiClient(CoordinationV1Api);
  const list = await api.listNamespacedLease({ namespace: ns });
  return list.items.map((l) => ({
    name: l.metadata?.name ?? "",
    holder: l.spec?.holderIdentity ?? "",
    renewedMsAgo:
      l.spec?.renewTime === undefined
        ? Infinity
        : Date.now() - new Date(l.spec.renewTime).getTime(),
    transitions: l.spec?.leaseTransitions ?? 0,
  }));
}

/** Waits (bounded) until each Lease in `names` is held and was renewed within its duration. */
async function waitLeasesHeld(
  clients: Clients,
  ns: string,
  names: readonly string[],
): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let missing: string[] = [...names];
  for (let i = 0; i < 10_000 && Date.now() < deadline; i++) {
    const held = new Set(
      (await leaseStates(clients, ns))
        .filter((l) => l.holder !== "" && l.renewedMsAgo < 15_000)
        .map((l) => l.name),
    );
    missing = names.filter((n) => !held.has(n));
    if (missing.length === 0) return;
    await sleep(1000);
  }
  throw new Error(`Leases not held after ${String(READY_TIMEOUT_MS)} ms: ${missing.join(", ")}`);
}

function perGroupPerMinute(
  phase: Phase,
  baseline: Phase,
  groups: number,
): { verbs: Record<string, number>; keys: Record<string, number> } {
  const net = (a: Record<string, number>, b: Record<string, number>): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const rate = ((a[k] ?? 0) / phase.seconds - (b[k] ?? 0) / baseline.seconds) * 60;
      out[k] = rate / groups;
    }
    return out;
  };
  return {
    verbs: net(byVerb(phase.requests), byVerb(baseline.requests)),
    keys: net(phase.requests, baseline.requests),
  };
}

function total(verbs: Record<string, number>): number {
  return Object.entries(verbs)
    .filter(([v]) => v !== "WATCH")
    .reduce((a, [, n]) => a + n, 0);
}

export async function runApiCost(ctx: ApiCostContext): Promise<ApiCostResult> {
  const { clients } = ctx;
  clientGoCandidateBinary();
  // Groups left by other scenarios would be managed by podium in the podium
  // phase only: delete them (their pods stay, unchanging, in every phase).
  const others = await listGroups(clients);
  const otherGroupsDeleted = others.map((g) => `${g.metadata.namespace}/${g.metadata.name}`);
  if (others.length > 0) {
    log(`apicost: deleting ${String(others.length)} ElectionGroups of earlier scenarios`);
    for (const g of others) await deleteGroup(clients, g.metadata.namespace, g.metadata.name);
    await waitGroupsGone(clients);
  }

  const { name: ns, remove } = await createNamespace(clients, "bench-apicost");
  const apps = Array.from({ length: ctx.groups }, (_, i) => `ac${String(i)}`);
  const podsOf = (app: string): string[] => [0, 1, 2].map((k) => `${app}-${String(k)}`);
  const candidates: Candidate[] = [];
  try {
    // Bound directly, round-robin over the nodes: 100 groups of 3 pods are more than the
    // scheduler may place on the cluster's two 110-pod kwok nodes.
    const nodes = (await clients.core.listNode()).items.flatMap((n) =>
      n.metadata?.name === undefined ? [] : [n.metadata.name],
    );
    let placed = 0;
    for (const app of apps) {
      for (const p of podsOf(app)) {
        await createPod(clients, ns, p, app, nodes[placed++ % Math.max(1, nodes.length)]);
      }
    }
    await waitPodsReady(clients, ns, apps.flatMap(podsOf), READY_TIMEOUT_MS);

    // Phase A: podium.
    for (const app of apps)
      await createGroup(clients, ns, app, { selector: { matchLabels: { app } } });
    await waitGroupsLed(ctx, ns, apps);
    log(`apicost: ${String(apps.length)} groups led; settling ${String(SETTLE_MS / 1000)} s`);
    await sleep(SETTLE_MS);
    const podiumStart: { text?: string; end?: string } = {};
    const groupTransitions = async (): Promise<number> =>
      (await listGroups(clients, ns)).reduce((a, g) => a + (g.status?.transitions ?? 0), 0);
    const podiumPhase = await measurePhase(ctx, "podium", groupTransitions, {
      before: (t) => (podiumStart.text = t),
      after: (t) => (podiumStart.end = t),
    });
    const ownStart = podiumStart.text ?? "";
    const ownEnd = podiumStart.end ?? "";
    const methodOf = (l: Map<string, string>): string => l.get("method") ?? "?";
    const podiumOwn: PodiumOwn = {
      requests: delta(
        sumBy(ownStart, "rest_client_requests_total", methodOf),
        sumBy(ownEnd, "rest_client_requests_total", methodOf),
      ),
      watchStreams: series(ownEnd, "podium_cache_objects").length,
      watchRestarts:
        series(ownEnd, "podium_watch_restarts_total").reduce((a, s) => a + s.value, 0) -
        series(ownStart, "podium_watch_restarts_total").reduce((a, s) => a + s.value, 0),
    };

    // Baseline: neither. The groups go while podium still runs, then podium stops.
    for (const app of apps) await deleteGroup(clients, ns, app);
    await waitGroupsGone(clients, ns);
    log(`apicost: stopping the operator (pid ${String(ctx.operator.pid)})`);
    await ctx.operator.stop();
    await sleep(SETTLE_MS);
    const baseline = await measurePhase(ctx, "baseline", () => Promise.resolve(0));

    // Phase B: client-go, one Lease per group, three candidates each.
    for (const app of apps) {
      for (const id of podsOf(app)) {
        candidates.push(
          startCandidate({
            kind: "client-go",
            kubeconfig: ctx.kubeconfig,
            namespace: ns,
            leaseName: `cg-${app}`,
            id,
            leaseDuration: "15s",
            renewDeadline: "10s",
            retryPeriod: "2s",
          }),
        );
      }
    }
    await waitLeasesHeld(
      clients,
      ns,
      apps.map((a) => `cg-${a}`),
    );
    log(`apicost: ${String(apps.length)} Leases held; settling ${String(SETTLE_MS / 1000)} s`);
    await sleep(SETTLE_MS);
    const leaseTransitions = async (): Promise<number> =>
      (await leaseStates(clients, ns)).reduce((a, l) => a + l.transitions, 0);
    const clientGo = await measurePhase(ctx, "client-go", leaseTransitions);
    const died = candidates.filter((c) => c.exit !== undefined);
    if (died.length > 0) {
      throw new Error(`${String(died.length)} client-go candidates exited during the phase`);
    }

    const p = perGroupPerMinute(podiumPhase, baseline, ctx.groups);
    const c = perGroupPerMinute(clientGo, baseline, ctx.groups);
    const minutes = podiumPhase.seconds / 60;
    const podiumOwnPerGroupPerMinute = Object.fromEntries(
      Object.entries(podiumOwn.requests).map(([m, n]) => [m, n / minutes / ctx.groups]),
    );
    const totals = {
      podium: total(p.verbs),
      clientGo: total(c.verbs),
      podiumOwn: Object.values(podiumOwnPerGroupPerMinute).reduce((a, n) => a + n, 0),
    };
    const keys = new Set([...Object.keys(p.keys), ...Object.keys(c.keys)]);
    const byResource = [...keys]
      .filter((k) => !k.startsWith("WATCH "))
      .map((key) => ({ key, podium: p.keys[key] ?? 0, clientGo: c.keys[key] ?? 0 }))
      .filter((r) => Math.abs(r.podium) >= 0.05 || Math.abs(r.clientGo) >= 0.05)
      .sort((a, b) => b.clientGo + b.podium - (a.clientGo + a.podium));
    const extra = (phase: Phase): Record<string, number> => {
      const out: Record<string, number> = {};
      for (const k of new Set([
        ...Object.keys(phase.openWatches),
        ...Object.keys(baseline.openWatches),
      ])) {
        const d = (phase.openWatches[k] ?? 0) - (baseline.openWatches[k] ?? 0);
        if (d !== 0) out[k] = d;
      }
      return out;
    };
    return {
      groups: ctx.groups,
      podsPerGroup: 3,
      phaseSeconds: ctx.phaseSeconds,
      phases: [podiumPhase, baseline, clientGo],
      podiumOwn,
      perGroupPerMinute: { podium: p.verbs, clientGo: c.verbs },
      podiumOwnPerGroupPerMinute,
      totals,
      fewerTimes: totals.clientGo / totals.podium,
      byResource,
      extraWatches: { podium: extra(podiumPhase), clientGo: extra(clientGo) },
      otherGroupsDeleted,
    };
  } finally {
    await Promise.all(candidates.map((c) => c.stop("SIGTERM", 10_000)));
    await remove().catch((err: unknown) => {
      log(`apicost: deleting ${ns}: ${String(err)}`);
    });
  }
}
