import {
  LeaseRecorder,
  clientGoCandidateBinary,
  controllerRuntimeManagerBinary,
  startCandidate,
} from "../support/candidates.ts";
import type { Candidate } from "../support/candidates.ts";
import type { Clients } from "../support/kube.ts";
import { createNamespace } from "../support/kube.ts";
import { createGroup, deleteGroup, groupExists } from "../support/groups.ts";
import { createLeaderService, createPod, log, waitPodsReady, waitSteady } from "./fixtures.ts";
import type { Stats } from "./report.ts";
import { summarize } from "./report.ts";
import type { LabelWatch, SliceWatch } from "./watch.ts";
import { now, sleep, until } from "./watch.ts";

// Scenario 2: the same fail-over with the pods electing themselves, the way
// most operators do today: three real client-go processes
// (leaderelection.RunOrDie with a LeaseLock, test/clientgo) whose identities
// are the names of three bare pods, and an ElectionGroup in Observed mode so
// podium labels whoever holds the Lease. The holder process is SIGKILLed (a
// crash: the others wait for the Lease to expire) or SIGTERMed with
// --release-on-cancel (a graceful stop: it releases the Lease).
//
// The same with the other half of the seed article: three kubebuilder-style
// controller-runtime managers (test/controllerruntime, LeaderElection true,
// LeaderElectionReleaseOnCancel), each in a UTS namespace whose hostname is
// its pod's name, so the Lease names `<pod>_<uuid>` and podium maps it.

/** Which real library elects: client-go's RunOrDie, or controller-runtime's manager. */
export type Library = "client-go" | "controller-runtime";

export interface Timing {
  /** Stable key, e.g. "15/10/2". */
  key: string;
  title: string;
  leaseSeconds: number;
  renewSeconds: number;
  retrySeconds: number;
  trials: number;
}

export type Stop = "kill" | "term";

export const STOP_TITLES: Record<Stop, string> = {
  kill: "SIGKILL of the holder",
  term: "SIGTERM, --release-on-cancel",
};

export interface ClientGoTrial {
  timing: string;
  stop: Stop;
  old: string;
  next: string | undefined;
  /** Epoch ms just before the signal was sent, and when the process's exit was seen. */
  sentAt: number;
  exitedAt: number;
  /** From the signal to the new holder's label in the pod watch. */
  labelMs: number | undefined;
  /** From the signal to the EndpointSlices listing only the new holder as ready. */
  sliceMs: number | undefined;
  /** From the signal to a watch of the Lease seeing another holder. */
  leaseMs: number | undefined;
}

export interface ClientGoCase {
  /** Absent in results written before controller-runtime was measured: client-go. */
  library?: Library;
  timing: Timing;
  stop: Stop;
  trials: ClientGoTrial[];
  label: Stats;
  slice: Stats;
  lease: Stats;
}

export interface ClientGoContext {
  clients: Clients;
  kubeconfig: string;
  labels: LabelWatch;
  slices: SliceWatch;
}

/** controller-runtime's defaults, and the seed article's 60/15/5 (scaled down ×5 in the quick run). */
export function timings(mode: "quick" | "full"): Timing[] {
  const defaults = {
    key: "15/10/2",
    title: "15/10/2 (controller-runtime defaults)",
    leaseSeconds: 15,
    renewSeconds: 10,
    retrySeconds: 2,
  };
  return mode === "quick"
    ? [
        { ...defaults, trials: 3 },
        {
          key: "12/3/1",
          title: "12/3/1 (the seed's 60/15/5 scaled ÷5)",
          leaseSeconds: 12,
          renewSeconds: 3,
          retrySeconds: 1,
          trials: 3,
        },
      ]
    : [
        { ...defaults, trials: 10 },
        {
          key: "60/15/5",
          title: "60/15/5 (the seed article's)",
          leaseSeconds: 60,
          renewSeconds: 15,
          retrySeconds: 5,
          trials: 5,
        },
      ];
}

/** controller-runtime's holderIdentity is `<hostname>_<uuid>`; the hostname is the pod's name here. */
const CR_UUID_SUFFIX = /_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

async function runTiming(
  ctx: ClientGoContext,
  timing: Timing,
  library: Library,
): Promise<ClientGoCase[]> {
  const { clients } = ctx;
  const short = library === "client-go" ? "cg" : "cr";
  const { name: ns, remove } = await createNamespace(clients, `bench-${short}`);
  const app = short;
  const pods = [0, 1, 2].map((i) => `${short}-${String(i)}`);
  /** The pod a holderIdentity stands for. */
  const podOf = (holder: string | undefined): string | undefined =>
    library === "client-go" ? holder : holder?.replace(CR_UUID_SUFFIX, "");
  for (const p of pods) await createPod(clients, ns, p, app);
  const service = await createLeaderService(clients, ns, app);
  await waitPodsReady(clients, ns, pods);
  const leases = new LeaseRecorder(clients.kc, ns, app);
  await leases.start();
  await createGroup(clients, ns, app, {
    mode: "Observed",
    selector: { matchLabels: { app } },
    lease: {
      durationSeconds: timing.leaseSeconds,
      renewDeadlineSeconds: timing.renewSeconds,
      retryPeriodSeconds: timing.retrySeconds,
    },
  });
  const running = new Map<string, Candidate>();
  const start = (id: string): Candidate => {
    const c = startCandidate({
      kind: library,
      kubeconfig: ctx.kubeconfig,
      namespace: ns,
      leaseName: app,
      id,
      leaseDuration: `${String(timing.leaseSeconds)}s`,
      renewDeadline: `${String(timing.renewSeconds)}s`,
      retryPeriod: `${String(timing.retrySeconds)}s`,
      releaseOnCancel: true,
    });
    running.set(id, c);
    return c;
  };
  const cases: ClientGoCase[] = [];
  try {
    for (const p of pods) start(p);
    // Bounds: a takeover needs at most a lease duration plus a jittered retry period.
    const takeoverMs = (timing.leaseSeconds + 2 * timing.retrySeconds) * 1000 + 15_000;
    for (const stop of ["kill", "term"] as const) {
      const trials: ClientGoTrial[] = [];
      for (let i = 0; i < timing.trials; i++) {
        const old = await waitSteady(ctx.labels, ctx.slices, ns, app, service, {
          timeoutMs: 2 * takeoverMs,
        });
        const holder = running.get(old);
        if (holder === undefined || podOf(leases.current()?.holder) !== old) {
          throw new Error(`${ns}: ${old} is labelled but its candidate does not hold the Lease`);
        }
        // A random point of the renewal cycle.
        await sleep(Math.random() * timing.retrySeconds * 1000);
        running.delete(old);
        const sentAt = now();
        const exit = await (stop === "kill" ? holder.kill() : holder.stop("SIGTERM", 30_000));
        const gained = await until(() => ctx.labels.gained(ns, app, old, sentAt), takeoverMs);
        const sliceAt =
          gained === undefined
            ? undefined
            : await until(() => ctx.slices.onlyReady(ns, service, gained.pod, sentAt), 30_000);
        const leaseAt = leases
          .holderChanges()
          .find((c) => c.at >= sentAt && podOf(c.to) !== old)?.at;
        const trial: ClientGoTrial = {
          timing: timing.key,
          stop,
          old,
          next: gained?.pod,
          sentAt,
          exitedAt: exit.at,
          labelMs: gained === undefined ? undefined : gained.at - sentAt,
          sliceMs: sliceAt === undefined ? undefined : sliceAt - sentAt,
          leaseMs: leaseAt === undefined ? undefined : leaseAt - sentAt,
        };
        trials.push(trial);
        const f = (v: number | undefined): string =>
          v === undefined ? "timeout" : `${v.toFixed(0)} ms`;
        log(
          `${library} ${timing.key} ${stop} ${String(i + 1)}/${String(timing.trials)}: ${old} -> ${trial.next ?? "?"}; ` +
            `Lease ${f(trial.leaseMs)}, label ${f(trial.labelMs)}, EndpointSlice ${f(trial.sliceMs)}`,
        );
        // The pod's process restarts (as a container would) and campaigns again.
        const again = start(old);
        await until(() => (again.events.length > 0 ? true : undefined), 15_000);
      }
      cases.push({
        library,
        timing,
        stop,
        trials,
        label: summarize(trials.map((t) => t.labelMs)),
        slice: summarize(trials.map((t) => t.sliceMs)),
        lease: summarize(trials.map((t) => t.leaseMs)),
      });
    }
  } finally {
    await Promise.all([...running.values()].map((c) => c.kill()));
    await leases.stop();
    await deleteGroup(clients, ns, app);
    const deadline = Date.now() + 30_000;
    while ((await groupExists(clients, ns, app)) && Date.now() < deadline) await sleep(200);
    await remove();
  }
  return cases;
}

export async function runClientGo(
  ctx: ClientGoContext,
  mode: "quick" | "full",
  library: Library = "client-go",
): Promise<ClientGoCase[]> {
  if (library === "client-go") clientGoCandidateBinary();
  else controllerRuntimeManagerBinary();
  const cases: ClientGoCase[] = [];
  for (const timing of timings(mode)) cases.push(...(await runTiming(ctx, timing, library)));
  return cases;
}
