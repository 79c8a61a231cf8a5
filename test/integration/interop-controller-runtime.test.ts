import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { EventReason } from "../../src/api/constants.ts";
import {
  LeaseRecorder,
  clientGoCandidateBinary,
  controllerRuntimeManagerBinary,
  killAllCandidates,
  startCandidate,
} from "../support/candidates.ts";
import { percentile } from "../support/stats.ts";
import type { Candidate, CandidateKind } from "../support/candidates.ts";
import { InvariantChecker } from "../support/invariant-checker.ts";
import { connect, createNamespace, waitFor } from "../support/kube.ts";
import type { Clients } from "../support/kube.ts";
import { logLines, startOperator, stopAllOperators } from "../support/operator.ts";
import type { OperatorProcess } from "../support/operator.ts";
import {
  createGroup,
  getGroup,
  groupCondition,
  groupEvents,
  readLease,
  teardown,
  waitForGroup,
} from "../support/groups.ts";
import { LeaderLabelRecorder } from "../support/label-recorder.ts";
import { createBarePod, getPod, waitForPods } from "../support/pods.ts";

// Observed mode against the REAL controller-runtime: kubebuilder-style
// managers (test/controllerruntime: ctrl.NewManager, LeaderElection true),
// each in a UTS namespace whose hostname is its pod's name, so the Lease says
// `<pod>_<uuid>` exactly as in a cluster. podium maps that holder to the pod
// and moves role=leader; it never writes the Lease. Also: the seed article's
// 60/15/5 timings, a declared identity format (spec.identity, cert-manager's
// `<hostname>-external-cert-manager-controller`, written by client-go
// candidates) and a holder that is no pod (the HolderNotInGroup Event).

const UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
const CERT_MANAGER_SUFFIX = "-external-cert-manager-controller";
const LEASE_MS = 4000;
const RETRY_MS = 1000;
const TIMINGS = { leaseDuration: "4s", renewDeadline: "3s", retryPeriod: "1s" } as const;
/** The seed article's client-go timings: LeaseDuration 60 s, RenewDeadline 15 s, RetryPeriod 5 s. */
const SEED_TIMINGS = { leaseDuration: "60s", renewDeadline: "15s", retryPeriod: "5s" } as const;
/** How late podium may remove the label after the Lease expired ("requeues itself at the expiry instant"). */
const EXPIRY_SLACK_MS = 1000;
/** A candidate's acquire loop sleeps retryPeriod × [1, 2.2) (client-go's JitterUntil, factor 1.2). */
const POLL_FACTOR = 2.2;

interface GroupUnderTest {
  name: string;
  /** The Lease: the managers' LeaderElectionID, or the client-go candidates' --lease-name. */
  lease: string;
  pods: readonly string[];
  kind: CandidateKind;
  timings: { leaseDuration: string; renewDeadline: string; retryPeriod: string };
  /** The holderIdentity of a pod's candidate (controller-runtime: its hostname, the uuid is its own). */
  id: (pod: string) => string;
  recorder?: LeaderLabelRecorder;
  leases?: LeaseRecorder;
}

const CR: GroupUnderTest = {
  name: "cr",
  lease: "5e3b2f1a.podium.dev",
  pods: ["cr-7d9c8b6f5-qw2r8", "cr-7d9c8b6f5-x4k9z", "cr-7d9c8b6f5-m3n7p"],
  kind: "controller-runtime",
  timings: TIMINGS,
  id: (pod) => pod,
};
const SEED: GroupUnderTest = {
  name: "seed",
  lease: "seed.podium.dev",
  pods: ["seed-a", "seed-b"],
  kind: "controller-runtime",
  timings: SEED_TIMINGS,
  id: (pod) => pod,
};
const CERTS: GroupUnderTest = {
  name: "certs",
  lease: "cert-manager-controller",
  pods: ["cm-5d8f7-k2x9p", "cm-5d8f7-q8w4z"],
  kind: "client-go",
  timings: TIMINGS,
  id: (pod) => `${pod}${CERT_MANAGER_SUFFIX}`,
};

/** The pod a holder stands for, for the invariant checker (podium's own mapping is under test). */
const holderPod = (holder: string): string =>
  holder.replace(new RegExp(`_${UUID}$`), "").replace(new RegExp(`${CERT_MANAGER_SUFFIX}$`), "");

describe("Observed mode: podium labels the pod of a controller-runtime Lease holder", () => {
  let clients: Clients;
  let namespace: string;
  let removeNamespace: () => Promise<void>;
  let operator: OperatorProcess;
  let checker: InvariantChecker;
  const running = new Map<string, Candidate>();
  /** Lease change in the test's watch -> label in the test's pod watch, per holder change. */
  const labelLags: number[] = [];
  /** From the signal to the next pod labelled. */
  const moves: { group: string; how: string; ms: number }[] = [];

  const start = (g: GroupUnderTest, pod: string, releaseOnCancel = true): Candidate => {
    const c = startCandidate({
      kind: g.kind,
      kubeconfig: inject("kubeconfig"),
      namespace,
      leaseName: g.lease,
      id: g.id(pod),
      releaseOnCancel,
      ...g.timings,
    });
    running.set(pod, c);
    return c;
  };
  const stop = async (pod: string, signal: "SIGKILL" | "SIGTERM"): Promise<number> => {
    const c = running.get(pod);
    if (!c) throw new Error(`no running candidate for ${pod}`);
    running.delete(pod);
    const at = Date.now();
    await c.stop(signal);
    return at;
  };
  const leasesOf = (g: GroupUnderTest): LeaseRecorder => {
    if (!g.leases) throw new Error(`${g.name}: no Lease recorder`);
    return g.leases;
  };
  const recorderOf = (g: GroupUnderTest): LeaderLabelRecorder => {
    if (!g.recorder) throw new Error(`${g.name}: no label recorder`);
    return g.recorder;
  };
  /** Waits until the Lease names a holder that `accept` likes (bounded by a few lease durations). */
  const waitForHolder = (
    g: GroupUnderTest,
    what: string,
    accept: (holder: string) => boolean,
    timeoutMs = 3 * LEASE_MS + 5000,
  ): Promise<string> =>
    waitFor(
      `${g.name}: the Lease holder to be ${what}`,
      async () => {
        const holder = leasesOf(g).current()?.holder;
        return Promise.resolve(holder !== undefined && accept(holder) ? holder : undefined);
      },
      { timeoutMs, intervalMs: 20 },
    );
  /** A holder that stands for one of the group's pods; returns the pod. */
  const podOf = (g: GroupUnderTest, holder: string): string | undefined =>
    g.pods.find((p) => holderPod(holder) === p);
  /** When the test's Lease watch first saw `holder` (its latest such change). */
  const holderSince = (g: GroupUnderTest, holder: string): number => {
    const obs = leasesOf(g).observations;
    for (let i = obs.length - 1; i >= 0; i--) {
      const o = obs[i];
      if (o?.holder === holder && obs[i - 1]?.holder !== holder) return o.at;
    }
    throw new Error(`${g.name}: the Lease never named ${holder}`);
  };
  /** Waits until `pod` alone carries the label after the Lease named `holder`; records the lag. */
  const waitForLabel = async (g: GroupUnderTest, holder: string, pod: string): Promise<number> => {
    const since = holderSince(g, holder);
    const at = await waitFor(
      `${g.name}: ${pod} alone labelled`,
      async () => Promise.resolve(recorderOf(g).firstLed(pod, since)),
      { timeoutMs: 10_000, intervalMs: 20 },
    );
    labelLags.push(at - since);
    return at - since;
  };
  const expectEpochMatchesLease = async (g: GroupUnderTest): Promise<void> => {
    const transitions = (await readLease(clients, namespace, g.lease))?.spec?.leaseTransitions;
    await waitForGroup(
      clients,
      namespace,
      g.name,
      `status.epoch = leaseTransitions (${String(transitions)})`,
      (group) => group.status?.epoch === transitions && group.status?.transitions === transitions,
      { timeoutMs: 5000 },
    );
  };

  beforeAll(async () => {
    clientGoCandidateBinary();
    controllerRuntimeManagerBinary(); // builds both if missing (minutes with a cold Go cache)
    clients = connect(inject("kubeconfig"));
    ({ name: namespace, remove: removeNamespace } = await createNamespace(clients, "interop-cr"));
    checker = new InvariantChecker(clients.kc, namespace);
    await checker.start();
    for (const g of [CR, SEED, CERTS]) {
      for (const pod of g.pods) {
        await createBarePod(clients, namespace, pod, { labels: { app: g.name } });
      }
      await waitForPods(clients, namespace, g.pods);
      g.recorder = new LeaderLabelRecorder(clients, namespace, `app=${g.name}`);
      await g.recorder.start();
      g.leases = new LeaseRecorder(clients.kc, namespace, g.lease);
      await g.leases.start();
    }
    operator = await startOperator(inject("operatorKubeconfig"), {
      args: [`--namespace=${namespace}`],
    });
    const seconds = (d: string): number => Number(d.replace("s", ""));
    for (const g of [CR, SEED, CERTS]) {
      await createGroup(clients, namespace, g.name, {
        mode: "Observed",
        selector: { matchLabels: { app: g.name } },
        lease: {
          name: g.lease,
          durationSeconds: seconds(g.timings.leaseDuration),
          renewDeadlineSeconds: seconds(g.timings.renewDeadline),
          retryPeriodSeconds: seconds(g.timings.retryPeriod),
        },
        ...(g === CERTS ? { identity: { template: `{hostname}${CERT_MANAGER_SUFFIX}` } } : {}),
      });
    }
  });

  afterAll(async () => {
    await killAllCandidates();
    for (const g of [CR, SEED, CERTS]) {
      await g.recorder?.stop();
      await g.leases?.stop();
    }
    await checker.stop();
    await teardown(clients, namespace, stopAllOperators, removeNamespace);
  });

  it("labels the pod whose manager controller-runtime elected (<hostname>_<uuid>)", async () => {
    for (const pod of CR.pods) start(CR, pod);
    const holder = await waitForHolder(CR, "a manager of the group", (h) => !!podOf(CR, h));
    expect(holder).toMatch(new RegExp(`^cr-7d9c8b6f5-[a-z0-9]{5}_${UUID}$`));
    const pod = podOf(CR, holder) ?? "";
    const lag = await waitForLabel(CR, holder, pod);
    console.log(
      `controller-runtime: Lease ${holder} -> pod ${pod} labelled ${lag.toFixed(0)} ms later`,
    );
    const group = await waitForGroup(clients, namespace, CR.name, `holder ${pod}`, (g) => {
      return g.status?.holder === pod;
    });
    expect(groupCondition(group, "LeaderElected")?.message).toContain(
      `as ${holder} (<hostname>_<uuid> with its hostname)`,
    );
    await expectEpochMatchesLease(CR);
  });

  it("moves the label after the Lease of a SIGKILLed manager expires", async () => {
    const old = await waitForHolder(CR, "a manager of the group", (h) => !!podOf(CR, h));
    const oldPod = podOf(CR, old) ?? "";
    await waitForLabel(CR, old, oldPod);
    const killedAt = await stop(oldPod, "SIGKILL");
    const next = await waitForHolder(CR, `another pod than ${oldPod}`, (h) => {
      const p = podOf(CR, h);
      return p !== undefined && p !== oldPod;
    });
    const nextPod = podOf(CR, next) ?? "";
    const lag = await waitForLabel(CR, next, nextPod);
    const lastRenewal = leasesOf(CR).observations.findLast((o) => o.holder === old)?.at ?? 0;
    const expiry = lastRenewal + LEASE_MS;
    const unlabelledAt = recorderOf(CR).observations.find(
      (o) => o.at >= killedAt && !o.labelled.includes(oldPod),
    )?.at;
    const movedMs = (recorderOf(CR).firstLed(nextPod, killedAt) ?? Number.NaN) - killedAt;
    moves.push({ group: "cr", how: "SIGKILL", ms: movedMs });
    console.log(
      `controller-runtime SIGKILL: ${oldPod} -> ${nextPod}; label left ${oldPod} ${String((unlabelledAt ?? Number.NaN) - expiry)} ms after the Lease expired; ` +
        `${nextPod} labelled ${lag.toFixed(0)} ms after the Lease named it, ${movedMs.toFixed(0)} ms after the kill (lease ${String(LEASE_MS)} ms)`,
    );
    expect(unlabelledAt).toBeDefined();
    expect(unlabelledAt ?? 0).toBeGreaterThanOrEqual(expiry - 200);
    expect(unlabelledAt ?? 0).toBeLessThanOrEqual(expiry + EXPIRY_SLACK_MS);
    expect(recorderOf(CR).violations()).toEqual([]);
    await expectEpochMatchesLease(CR);
    start(CR, oldPod); // back, as the kubelet restarts a killed container
  });

  it("moves the label within about a retry period after a SIGTERM with LeaderElectionReleaseOnCancel", async () => {
    const old = await waitForHolder(CR, "a manager of the group", (h) => !!podOf(CR, h));
    const oldPod = podOf(CR, old) ?? "";
    await waitForLabel(CR, old, oldPod);
    const termAt = await stop(oldPod, "SIGTERM");
    const next = await waitForHolder(CR, `another pod than ${oldPod}`, (h) => {
      const p = podOf(CR, h);
      return p !== undefined && p !== oldPod;
    });
    const nextPod = podOf(CR, next) ?? "";
    const lag = await waitForLabel(CR, next, nextPod);
    const movedMs = (recorderOf(CR).firstLed(nextPod, termAt) ?? Number.NaN) - termAt;
    moves.push({ group: "cr", how: "SIGTERM+release", ms: movedMs });
    console.log(
      `controller-runtime SIGTERM+release: ${oldPod} -> ${nextPod} labelled ${movedMs.toFixed(0)} ms after the SIGTERM ` +
        `(retry ${String(RETRY_MS)} ms, lease ${String(LEASE_MS)} ms); label lag ${lag.toFixed(0)} ms`,
    );
    expect(movedMs).toBeLessThan(RETRY_MS * POLL_FACTOR + 1500);
    expect(recorderOf(CR).violations()).toEqual([]);
    await expectEpochMatchesLease(CR);
    const group = await getGroup(clients, namespace, CR.name);
    expect(group.status?.history?.[0]).toMatchObject({ to: nextPod });
    start(CR, oldPod);
  });

  it("a restarted manager of the same pod (a new uuid) leads that pod again in a new epoch", async () => {
    const old = await waitForHolder(CR, "a manager of the group", (h) => !!podOf(CR, h));
    const pod = podOf(CR, old) ?? "";
    await waitForLabel(CR, old, pod);
    // Only this pod's manager is left, so its restart is the one that takes over.
    for (const other of CR.pods.filter((p) => p !== pod)) await stop(other, "SIGTERM");
    const before = (await readLease(clients, namespace, CR.lease))?.spec?.leaseTransitions ?? -1;
    const entriesBefore = (await getGroup(clients, namespace, CR.name)).status?.history ?? [];
    await stop(pod, "SIGKILL");
    start(CR, pod);
    const renewed = await waitForHolder(
      CR,
      `${pod} under a new uuid`,
      (h) => h !== old && podOf(CR, h) === pod,
    );
    await waitForLabel(CR, renewed, pod);
    const lease = await readLease(clients, namespace, CR.lease);
    expect(lease?.spec?.leaseTransitions).toBe(before + 1);
    await expectEpochMatchesLease(CR);
    const labelled = await getPod(clients, namespace, pod);
    expect(labelled?.metadata?.annotations?.["podium.dev/epoch"]).toBe(String(before + 1));
    const group = await getGroup(clients, namespace, CR.name);
    const history = (group.status?.history ?? []).slice(0, 2);
    console.log(
      `controller-runtime restart: ${old} -> ${renewed}; leaseTransitions ${String(before)} -> ${String(before + 1)}; ` +
        `history ${JSON.stringify(history.map((h) => `${h.from || '""'}->${h.to || '""'} ${h.reason} @${String(h.epoch)}`))}`,
    );
    if (history[0]?.time === entriesBefore[0]?.time) {
      // podium did not see the gap (the new process acquired before podium
      // acted on the expiry, as on a starved machine): no entry, new epoch.
      expect(history[0]?.to).toBe(pod);
    } else {
      // The pod led, stopped leading when its Lease expired, and leads again.
      expect(history[0]).toMatchObject({ from: "", to: pod, epoch: before + 1 });
      expect(history[1]).toMatchObject({ from: pod, to: "", reason: "LeaseExpired" });
    }
    for (const other of CR.pods.filter((p) => p !== pod)) start(CR, other);
  });

  it("warns once, with what was tried, about a manager whose hostname is no pod's", async () => {
    // A manager run outside the cluster (kubebuilder's `make run` on a laptop)
    // takes the Lease once every pod's manager has stepped down.
    for (const pod of [...running.keys()].filter((p) => CR.pods.includes(p))) {
      await stop(pod, "SIGTERM");
    }
    await waitForHolder(CR, 'released ("")', (h) => h === "");
    start({ ...CR, id: () => "laptop" }, "laptop");
    const stranger = await waitForHolder(CR, "laptop_<uuid>", (h) => h.startsWith("laptop_"));
    const message =
      `Lease ${CR.lease} names no pod of this group: holder ${stranger}: no pod named ${stranger}, ` +
      `spec.identity not set, no pod with hostname ${stranger}, <hostname>_<uuid> with no pod with hostname laptop`;
    const group = await waitForGroup(
      clients,
      namespace,
      CR.name,
      "Ready=False HolderNotInGroup",
      (g) => groupCondition(g, "Ready")?.message === message,
      { timeoutMs: 10_000 },
    );
    expect(groupCondition(group, "Ready")).toMatchObject({
      status: "False",
      reason: "HolderNotInGroup",
    });
    expect(group.status?.holder ?? "").toBe("");
    // Several renewals (each a reconcile) later, still one Event and one log line.
    const renewalsSince = leasesOf(CR).observations.length;
    await waitFor(
      "3 renewals of the stranger's Lease",
      async () =>
        Promise.resolve(leasesOf(CR).observations.length >= renewalsSince + 3 ? true : undefined),
      { timeoutMs: 3 * RETRY_MS * POLL_FACTOR + 5000 },
    );
    const events = await groupEvents(clients, namespace, CR.name, EventReason.HolderNotInGroup);
    expect(events.map((e) => [e.type, e.note, e.series?.count ?? 1])).toEqual([
      ["Warning", message, 1],
    ]);
    expect(logLines(operator, message)).toHaveLength(1);
    expect(
      recorderOf(CR).observations.filter(
        (o) => o.at >= holderSince(CR, stranger) && o.labelled.length > 0,
      ),
    ).toEqual([]);
    await stop("laptop", "SIGTERM");
  });

  it("with the seed article's 60/15/5 timings, a released Lease moves the label within a retry period", async () => {
    for (const pod of SEED.pods) start(SEED, pod);
    const old = await waitForHolder(
      SEED,
      "a manager of the group",
      (h) => !!podOf(SEED, h),
      30_000,
    );
    const oldPod = podOf(SEED, old) ?? "";
    await waitForLabel(SEED, old, oldPod);
    const termAt = await stop(oldPod, "SIGTERM");
    const next = await waitForHolder(
      SEED,
      `another pod than ${oldPod}`,
      (h) => h !== old && !!podOf(SEED, h),
      30_000,
    );
    const nextPod = podOf(SEED, next) ?? "";
    await waitForLabel(SEED, next, nextPod);
    const movedMs = (recorderOf(SEED).firstLed(nextPod, termAt) ?? Number.NaN) - termAt;
    moves.push({ group: "seed", how: "SIGTERM+release", ms: movedMs });
    console.log(
      `controller-runtime 60/15/5 SIGTERM+release: ${oldPod} -> ${nextPod} labelled ${movedMs.toFixed(0)} ms after the SIGTERM (retry 5000 ms, lease 60000 ms)`,
    );
    expect(movedMs).toBeLessThan(5000 * POLL_FACTOR + 1500);
    await expectEpochMatchesLease(SEED);
    await stop(nextPod, "SIGTERM");
  });

  it("maps a declared format (spec.identity: cert-manager's {hostname}-external-cert-manager-controller)", async () => {
    for (const pod of CERTS.pods) start(CERTS, pod);
    const old = await waitForHolder(CERTS, "a candidate of the group", (h) => !!podOf(CERTS, h));
    const oldPod = podOf(CERTS, old) ?? "";
    expect(old).toBe(`${oldPod}${CERT_MANAGER_SUFFIX}`);
    await waitForLabel(CERTS, old, oldPod);
    await stop(oldPod, "SIGTERM");
    const next = await waitForHolder(
      CERTS,
      `another pod than ${oldPod}`,
      (h) => h !== old && h !== "",
    );
    const nextPod = podOf(CERTS, next) ?? "";
    await waitForLabel(CERTS, next, nextPod);
    const group = await waitForGroup(clients, namespace, CERTS.name, `holder ${nextPod}`, (g) => {
      return g.status?.holder === nextPod;
    });
    expect(groupCondition(group, "LeaderElected")?.message).toContain(
      `as ${next} (spec.identity.template "{hostname}${CERT_MANAGER_SUFFIX}")`,
    );
    await expectEpochMatchesLease(CERTS);
  });

  it("never wrote a Lease, and never showed two labelled pods of a group", async () => {
    await Promise.all([...running.keys()].map((pod) => stop(pod, "SIGTERM")));
    for (const g of [CR, SEED, CERTS]) {
      const managers = new Set(leasesOf(g).observations.flatMap((o) => o.managers));
      console.log(
        `${g.name}: ${String(leasesOf(g).observations.length)} Lease versions, field managers ${JSON.stringify([...managers])}`,
      );
      expect([...managers]).toEqual([
        g.kind === "client-go" ? "clientgo-candidate" : "controllerruntime-manager",
      ]);
      expect(recorderOf(g).violations()).toEqual([]);
    }
    const result = checker.check({ holderPod });
    expect(result.violations, InvariantChecker.format(result)).toEqual([]);
    const by = (how: string): string => {
      const ms = moves.filter((m) => m.how === how && m.group === "cr").map((m) => m.ms);
      return `${how} ${ms.map((m) => m.toFixed(0)).join(", ")} ms`;
    };
    console.log(
      `controller-runtime label lag (Lease change in a watch -> label in a pod watch) n=${String(labelLags.length)} ` +
        `p50=${percentile(labelLags, 50).toFixed(0)} ms max=${Math.max(...labelLags).toFixed(0)} ms; ` +
        `signal -> next pod labelled: ${by("SIGKILL")}; ${by("SIGTERM+release")} (lease 4 s, retry 1 s)`,
    );
  });
});
