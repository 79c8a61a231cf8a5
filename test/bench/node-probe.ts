import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { GROUP, PLURAL, VERSION } from "../../src/api/constants.ts";
import type { ElectionGroup } from "../../src/api/types.ts";
import { custom, deleteGroup } from "../support/groups.ts";
import { waitFor } from "../support/kube.ts";
import { PodNetwork } from "../support/netns.ts";
import { startOperator } from "../support/operator.ts";
import { getPod } from "../support/pods.ts";
import { log } from "./fixtures.ts";
import type { FleetContext, FleetGroup } from "./node-fleets.ts";

// The dead-node benchmark's probe cause (nodes.ts, "machine-probe"): a machine
// dies, and podium's leader probe (spec.failureDetection.probe with its
// defaults, 1 s / 1 s / 2) finds it. Under issue 13's network rule the
// operator that probes runs inside a network namespace of the benchmark's own
// (test/support/netns.ts, as in test/integration/probe.test.ts), where the
// pod range is local and listeners stand in for the pods' processes; a dead
// machine's pod IP is routed where nothing answers. The shared operator is
// stopped meanwhile: two operators would both manage the groups, and one on
// the host must never probe. It starts again only once no group has a probe.

/** The port the stand-in listeners answer on. */
export const PROBE_PORT = 8080;

/** The probe of a cause's groups: the spec's defaults, or `failureThreshold` instead of 2. */
export function probeSpec(failureThreshold?: number): Record<string, unknown> {
  return {
    failureDetection: {
      probe: {
        tcpSocket: { port: PROBE_PORT },
        ...(failureThreshold === undefined ? {} : { failureThreshold }),
      },
    },
  };
}

/** The benchmark's shared operator (run.ts), which the probe cause stops and starts again. */
export interface SharedOperator {
  /** The operator's kubeconfig (its ServiceAccount). */
  kubeconfig: string;
  stop(): Promise<void>;
  start(): Promise<void>;
}

const GROUPS_GONE_MS = 60_000;

/** Every ElectionGroup of the cluster with a probe. */
async function probedGroups(ctx: FleetContext): Promise<ElectionGroup[]> {
  const list = (await custom(ctx.clients).listClusterCustomObject({
    group: GROUP,
    version: VERSION,
    plural: PLURAL,
  })) as { items: ElectionGroup[] };
  return list.items.filter((g) => g.spec.failureDetection?.probe !== undefined);
}

/** Deletes every group with a probe and waits (bounded) until they are gone. */
async function removeProbedGroups(ctx: FleetContext): Promise<void> {
  for (const g of await probedGroups(ctx)) {
    await deleteGroup(ctx.clients, g.metadata.namespace, g.metadata.name).catch((err: unknown) => {
      log(`deleting ${g.metadata.namespace}/${g.metadata.name}: ${String(err)}`);
    });
  }
  await waitFor(
    "every group with a probe deleted",
    async () => ((await probedGroups(ctx)).length === 0 ? true : undefined),
    { timeoutMs: GROUPS_GONE_MS, intervalMs: 500 },
  );
}

/**
 * Runs `fn` with an operator inside a new network namespace (`ctx.net`) in
 * place of the shared one; afterwards deletes the groups with a probe (while
 * that operator still runs, for their finalizers), stops it, deletes the
 * namespace and starts the shared operator again, unless a probed group
 * remains (then it throws, and the shared operator stays stopped).
 */
export async function inProbeNetwork<T>(
  ctx: FleetContext,
  fn: (ctx: FleetContext) => Promise<T>,
): Promise<T> {
  const { shared } = ctx;
  if (shared === undefined) throw new Error("the probe cause needs the shared operator's controls");
  await shared.stop();
  let net: PodNetwork | undefined;
  try {
    net = await PodNetwork.create();
    await net.bridgeApiServer(shared.kubeconfig);
    const operator = await startOperator(shared.kubeconfig, {
      identity: "podium-bench-probe",
      args: ["--log-level=info"],
      netns: net,
      readyTimeoutMs: 60_000,
    });
    log(`probe: operator in network namespace ${net.name} (pid ${String(operator.pid)})`);
    try {
      return await fn({ ...ctx, net });
    } finally {
      try {
        await removeProbedGroups(ctx);
      } finally {
        await operator.stop();
        // Its log, to read a trial's timeline against the trial's sentAt (nodes.ts logs it).
        const file = path.join(
          tmpdir(),
          `podium-bench-probe-operator-${String(process.pid)}.jsonl`,
        );
        writeFileSync(file, operator.logs.map((l) => JSON.stringify(l)).join("\n") + "\n");
        log(`probe: the operator's log is in ${file}`);
      }
    }
  } finally {
    await net?.destroy();
    const left = (await probedGroups(ctx)).map((g) => g.metadata.name);
    if (left.length > 0) {
      // eslint-disable-next-line no-unsafe-finally -- the shared operator must not probe from the host
      throw new Error(`groups with a probe remain (${left.join(", ")}): operator left stopped`);
    }
    await shared.start();
  }
}

/** The pod IP of `namespace/pod` (bounded wait until it has one). */
export async function podIPOf(ctx: FleetContext, namespace: string, pod: string): Promise<string> {
  return waitFor(`${namespace}/${pod}: a pod IP`, async () => {
    const p = await getPod(ctx.clients, namespace, pod);
    return p?.status?.podIP === undefined || p.status.podIP === "" ? undefined : p.status.podIP;
  });
}

/** Starts a listener on every pod IP of `g` not served yet, each IP checked local first. */
export async function serveGroup(ctx: FleetContext, g: FleetGroup): Promise<void> {
  const { net } = ctx;
  if (net === undefined) throw new Error("the probe cause runs only inside inProbeNetwork");
  for (const pod of g.nodeOf.keys()) {
    const ip = await podIPOf(ctx, g.namespace, pod);
    if (!net.serving(ip, PROBE_PORT)) await net.serve(ip, PROBE_PORT, "tcp");
  }
}
