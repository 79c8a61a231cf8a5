import type { V1Pod } from "@kubernetes/client-node";
import { startCandidate } from "../support/candidates.ts";
import type { Candidate } from "../support/candidates.ts";
import { createGroup } from "../support/groups.ts";
import type { Clients } from "../support/kube.ts";
import { MACHINE_TAINT, startMachine } from "../support/kwok-machines.ts";
import type { Machine } from "../support/kwok-machines.ts";
import {
  createLeaderService,
  createNode,
  createPod,
  waitNodesReady,
  waitPodsReady,
} from "./fixtures.ts";
import type { PodNetwork } from "../support/netns.ts";
import type { SharedOperator } from "./node-probe.ts";
import type { LabelWatch, SliceWatch } from "./watch.ts";
import { until } from "./watch.ts";

// The fleets of the dead-node benchmark (nodes.ts): groups whose pods each run
// on a node of their own, either a node of the cluster's kwok (to be deleted)
// or a simulated machine with its own kwok process (to be killed, then
// brought back: test/support/kwok-machines.ts).

export interface FleetContext {
  clients: Clients;
  kubeconfig: string;
  labels: LabelWatch;
  slices: SliceWatch;
  /** The shared operator, for the probe cause to stand in for it (node-probe.ts). */
  shared?: SharedOperator;
  /** The probe cause's network namespace, while it runs (node-probe.ts). */
  net?: PodNetwork;
}

/** Machines get distinct address ranges (kwok-machines.ts: 10.244.(100+i).0/24): one index each. */
let nextMachineIndex = 0;
const MAX_MACHINES = 150;

/** A simulated machine that can die and come back under the same name and index. */
export class BenchMachine {
  readonly name: string;
  readonly index: number;
  #machine: Machine;
  readonly #ctx: FleetContext;

  private constructor(ctx: FleetContext, name: string, index: number, machine: Machine) {
    this.#ctx = ctx;
    this.name = name;
    this.index = index;
    this.#machine = machine;
  }

  /** Creates the node and starts its kwok; heartbeats every 10 s, as a kubelet's. */
  static async start(ctx: FleetContext, name: string): Promise<BenchMachine> {
    const index = nextMachineIndex++;
    if (index >= MAX_MACHINES) throw new Error(`more than ${String(MAX_MACHINES)} machines`);
    const m = await startMachine(ctx.clients, ctx.kubeconfig, name, { index });
    return new BenchMachine(ctx, name, index, m);
  }

  /** SIGKILLs its kwok: the heartbeat stops, its pods keep their last status. */
  async kill(): Promise<void> {
    await this.#machine.signal("SIGKILL");
  }

  /** Starts its kwok again (the node and its pods are still there); waits for a fresh heartbeat. */
  async revive(): Promise<void> {
    if (this.#machine.alive) return;
    this.#machine = await startMachine(this.#ctx.clients, this.#ctx.kubeconfig, this.name, {
      index: this.index,
      existing: true,
    });
  }
}

/** A bare benchmark pod of group `app` bound to machine `node` (tolerating the machine taint). */
export async function createMachinePod(
  clients: Clients,
  namespace: string,
  name: string,
  app: string,
  node: string,
): Promise<V1Pod> {
  return createPod(clients, namespace, name, app, node, MACHINE_TAINT);
}

/** One group of the fleet: its pods, each on its own node, and the leader Service. */
export interface FleetGroup {
  namespace: string;
  app: string;
  service: string;
  /** The pods that are (or were) members, by name: their node. */
  nodeOf: Map<string, string>;
}

/**
 * A Managed group of `size` pods, each on its own new node of the cluster's
 * kwok (which a trial deletes), named after the namespace and the pod.
 */
export async function nodeGroup(
  ctx: FleetContext,
  namespace: string,
  app: string,
  size: number,
): Promise<FleetGroup> {
  const g: FleetGroup = { namespace, app, service: "", nodeOf: new Map() };
  await replacePods(
    ctx,
    g,
    Array.from({ length: size }, (_, i) => `${app}-${String(i)}`),
  );
  g.service = await createLeaderService(ctx.clients, namespace, app);
  await createGroup(ctx.clients, namespace, app, { selector: { matchLabels: { app } } });
  return g;
}

/** Adds pods `names` to the group, each on a new node of its own; waits until they are Ready. */
export async function replacePods(
  ctx: FleetContext,
  g: FleetGroup,
  names: readonly string[],
): Promise<void> {
  const nodes = names.map((n) => `${g.namespace}-${n}`);
  await Promise.all(nodes.map((n) => createNode(ctx.clients, n)));
  await waitNodesReady(ctx.clients, nodes);
  for (const [i, name] of names.entries()) {
    const node = nodes[i] ?? "";
    await createPod(ctx.clients, g.namespace, name, g.app, node);
    g.nodeOf.set(name, node);
  }
  await waitPodsReady(ctx.clients, g.namespace, names);
}

/** A group whose three pods each run on a simulated machine of their own. */
export interface MachineGroup extends FleetGroup {
  machineOf: Map<string, BenchMachine>;
  /** Observed mode: the client-go candidate of each pod (same name). */
  candidates: Map<string, Candidate>;
}

/** client-go's and controller-runtime's default timings, in Go durations. */
export const CLIENT_GO_TIMING = { lease: 15, renew: 10, retry: 2 } as const;

/**
 * A group of three pods on three new machines: Managed (podium elects), or
 * Observed with a client-go candidate process per pod (test/clientgo,
 * 15/10/2, identity = the pod's name) and podium labelling the Lease holder.
 */
export async function machineGroup(
  ctx: FleetContext,
  namespace: string,
  app: string,
  elector: "podium" | "client-go",
  {
    spec = {},
    beforeGroup,
  }: {
    /** More of the (podium) group's spec, e.g. failureDetection. */
    spec?: Record<string, unknown>;
    /** Runs once the pods are Ready, before the group exists (e.g. their listeners). */
    beforeGroup?: (g: MachineGroup) => Promise<void>;
  } = {},
): Promise<MachineGroup> {
  const pods = ["a", "b", "c"].map((x) => `${app}-${x}`);
  const machineOf = new Map(
    await Promise.all(
      pods.map(async (p) => [p, await BenchMachine.start(ctx, `${namespace}-${p}`)] as const),
    ),
  );
  for (const [p, m] of machineOf) await createMachinePod(ctx.clients, namespace, p, app, m.name);
  const service = await createLeaderService(ctx.clients, namespace, app);
  await waitPodsReady(ctx.clients, namespace, pods);
  const g: MachineGroup = {
    namespace,
    app,
    service,
    nodeOf: new Map(pods.map((p) => [p, machineOf.get(p)?.name ?? ""])),
    machineOf,
    candidates: new Map(),
  };
  await beforeGroup?.(g);
  if (elector === "podium") {
    await createGroup(ctx.clients, namespace, app, { selector: { matchLabels: { app } }, ...spec });
    return g;
  }
  await createGroup(ctx.clients, namespace, app, {
    mode: "Observed",
    selector: { matchLabels: { app } },
    lease: {
      durationSeconds: CLIENT_GO_TIMING.lease,
      renewDeadlineSeconds: CLIENT_GO_TIMING.renew,
      retryPeriodSeconds: CLIENT_GO_TIMING.retry,
    },
  });
  for (const p of pods) await startClientGo(ctx, g, p);
  return g;
}

/** Starts (again) the client-go candidate of pod `id`; waits (bounded) for its first callback. */
export async function startClientGo(ctx: FleetContext, g: MachineGroup, id: string): Promise<void> {
  const c = startCandidate({
    kind: "client-go",
    kubeconfig: ctx.kubeconfig,
    namespace: g.namespace,
    leaseName: g.app,
    id,
    leaseDuration: `${String(CLIENT_GO_TIMING.lease)}s`,
    renewDeadline: `${String(CLIENT_GO_TIMING.renew)}s`,
    retryPeriod: `${String(CLIENT_GO_TIMING.retry)}s`,
    releaseOnCancel: true,
  });
  g.candidates.set(id, c);
  await until(() => (c.events.length > 0 ? true : undefined), 15_000);
}
