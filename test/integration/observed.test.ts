import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import {
  LeaseRecorder,
  clientGoCandidateBinary,
  killAllCandidates,
  startCandidate,
} from "../support/candidates.ts";
import type { Candidate } from "../support/candidates.ts";
import { waitFor } from "../support/kube.ts";
import { createGroup, getGroup, readLease, waitForGroup } from "../support/groups.ts";
import { createBarePod, labelledPods, patchPodMetadata, waitForPods } from "../support/pods.ts";
import { percentile } from "../support/stats.ts";
import { SuiteNamespace } from "../support/suite-namespace.ts";

// Observed mode against the real client-go: the pods elect themselves with
// leaderelection.RunOrDie on the group's Lease (test/clientgo, one process per
// pod, --id = the pod's name) and podium only watches that Lease and moves
// role=leader to its valid holder. podium writes nothing to the Lease.

const GROUP_NAME = "og";
const PODS = ["og-a", "og-b", "og-c"] as const;
const SELECTOR = "app=og";
const LEASE_MS = 4000;
const RETRY_MS = 1000;
const TIMINGS = { leaseDuration: "4s", renewDeadline: "3s", retryPeriod: "1s" } as const;
/** client-go's field manager: the binary's name, from its user agent. */
const CLIENT_GO_MANAGER = "clientgo-candidate";
/** How late podium may remove the label after the Lease expired ("requeues itself at the expiry instant"). */
const EXPIRY_SLACK_MS = 1000;

describe("Observed mode: podium labels the holder of a client-go Lease", () => {
  const ns = new SuiteNamespace("observed");
  let leases: LeaseRecorder;
  const running = new Map<string, Candidate>();
  /** Lease change visible in the test's watch -> label visible in the test's pod watch, per holder change. */
  const labelLags: number[] = [];

  const candidate = (id: string, releaseOnCancel = true): Candidate => {
    const c = startCandidate({
      kind: "client-go",
      kubeconfig: inject("kubeconfig"),
      namespace: ns.namespace,
      leaseName: GROUP_NAME,
      id,
      releaseOnCancel,
      ...TIMINGS,
    });
    running.set(id, c);
    return c;
  };
  const stop = async (id: string, signal: "SIGKILL" | "SIGTERM"): Promise<number> => {
    const c = running.get(id);
    if (!c) throw new Error(`no running candidate ${id}`);
    running.delete(id);
    const at = Date.now();
    await c.stop(signal);
    return at;
  };
  /** Waits until the Lease (as the test's watch sees it) names a holder `accept` likes; returns it. */
  const waitForHolder = (what: string, accept: (holder: string) => boolean): Promise<string> =>
    waitFor(
      `the Lease holder to be ${what}`,
      async () => {
        const holder = leases.current()?.holder;
        return Promise.resolve(holder !== undefined && accept(holder) ? holder : undefined);
      },
      { timeoutMs: 3 * LEASE_MS + 5000, intervalMs: 20 },
    );
  /** When the test's Lease watch first saw `holder` as the holder (its latest such change). */
  const holderSince = (holder: string): number => {
    const obs = leases.observations;
    for (let i = obs.length - 1; i >= 0; i--) {
      const o = obs[i];
      if (o?.holder === holder && obs[i - 1]?.holder !== holder) return o.at;
    }
    throw new Error(`the Lease never named ${holder}`);
  };
  /** When the test's Lease watch last saw a write by `holder` (its last renewal). */
  const lastWriteBy = (holder: string): number => {
    const last = leases.observations.findLast((o) => o.holder === holder);
    if (!last) throw new Error(`the Lease never named ${holder}`);
    return last.at;
  };
  /** Waits until `pod` alone carries the label; records and returns the label lag. */
  const waitForLabel = async (pod: string): Promise<number> => {
    const since = holderSince(pod);
    const at = await waitFor(
      `${pod} alone labelled`,
      async () => Promise.resolve(ns.recorder.firstLed(pod, since)),
      { timeoutMs: 10_000, intervalMs: 20 },
    );
    const lag = at - since;
    labelLags.push(lag);
    return lag;
  };
  const expectEpochMatchesLease = async (): Promise<void> => {
    const lease = await readLease(ns.clients, ns.namespace, GROUP_NAME);
    const transitions = lease?.spec?.leaseTransitions ?? -1;
    const group = await waitForGroup(
      ns.clients,
      ns.namespace,
      GROUP_NAME,
      `status.epoch = leaseTransitions (${String(transitions)})`,
      (g) => g.status?.epoch === transitions,
      { timeoutMs: 5000 },
    );
    expect(group.status?.transitions).toBe(transitions);
  };

  beforeAll(async () => {
    clientGoCandidateBinary();
    await ns.open(["og"]);
    for (const pod of PODS) {
      await createBarePod(ns.clients, ns.namespace, pod, { labels: { app: "og" } });
    }
    await waitForPods(ns.clients, ns.namespace, PODS);
    await ns.startOperator();
    leases = new LeaseRecorder(ns.clients.kc, ns.namespace, GROUP_NAME);
    await leases.start();
    await createGroup(ns.clients, ns.namespace, GROUP_NAME, {
      mode: "Observed",
      selector: { matchLabels: { app: "og" } },
      lease: { durationSeconds: 4, renewDeadlineSeconds: 3, retryPeriodSeconds: 1 },
    });
  });

  afterAll(async () => {
    await killAllCandidates();
    await leases.stop();
    await ns.close();
  });

  it("labels the pod that client-go elected", async () => {
    for (const pod of PODS) candidate(pod);
    const holder = await waitForHolder("a pod of the group", (h) => PODS.some((p) => p === h));
    const lag = await waitForLabel(holder);
    console.log(`observed: ${holder} elected by client-go, labelled ${lag.toFixed(0)} ms later`);
    expect(await labelledPods(ns.clients, ns.namespace, SELECTOR)).toEqual([holder]);
    const group = await waitForGroup(
      ns.clients,
      ns.namespace,
      GROUP_NAME,
      `holder ${holder}`,
      (g) => {
        return g.status?.holder === holder;
      },
    );
    expect(group.status?.leaseName).toBe(GROUP_NAME);
    await expectEpochMatchesLease();
  });

  it("moves the label after the Lease of a SIGKILLed holder expires, old pod first", async () => {
    const old = await waitForHolder("a pod of the group", (h) => PODS.some((p) => p === h));
    const killedAt = await stop(old, "SIGKILL");
    const next = await waitForHolder(`another pod than ${old}`, (h) => h !== old && h !== "");
    const lag = await waitForLabel(next);
    const lastRenewal = lastWriteBy(old);
    const unlabelledAt = ns.recorder.observations.find(
      (o) => o.at >= killedAt && !o.labelled.includes(old),
    )?.at;
    const expiry = lastRenewal + LEASE_MS;
    console.log(
      `observed SIGKILL: ${old} -> ${next}; label left ${old} ${String((unlabelledAt ?? Number.NaN) - expiry)} ms after the Lease expired ` +
        `(last renewal + ${String(LEASE_MS)} ms); ${next} labelled ${lag.toFixed(0)} ms after the Lease named it, ` +
        `${String(Date.now() - killedAt)} ms after the kill`,
    );
    expect(unlabelledAt).toBeDefined();
    // Kept while the Lease was valid, dropped at its expiry (or at the takeover, whichever came first).
    expect(unlabelledAt ?? 0).toBeGreaterThanOrEqual(expiry - 200);
    expect(unlabelledAt ?? 0).toBeLessThanOrEqual(expiry + EXPIRY_SLACK_MS);
    expect(ns.recorder.violations()).toEqual([]);
    await expectEpochMatchesLease();
    const group = await getGroup(ns.clients, ns.namespace, GROUP_NAME);
    expect(group.status?.history?.[0]).toMatchObject({ to: next });
    candidate(old); // back in the fleet, as a restarted pod would be
  });

  it("moves the label within about a retry period after a SIGTERM with --release-on-cancel", async () => {
    const old = await waitForHolder("a pod of the group", (h) => PODS.some((p) => p === h));
    await waitFor(
      `${old} alone labelled`,
      async () => {
        const labelled = await labelledPods(ns.clients, ns.namespace, SELECTOR);
        return labelled.length === 1 && labelled[0] === old ? true : undefined;
      },
      { timeoutMs: 10_000 },
    );
    const termAt = await stop(old, "SIGTERM");
    const next = await waitForHolder(`another pod than ${old}`, (h) => h !== old && h !== "");
    const lag = await waitForLabel(next);
    const movedMs = (ns.recorder.firstLed(next, termAt) ?? Number.NaN) - termAt;
    console.log(
      `observed SIGTERM+release: ${old} -> ${next} labelled ${movedMs.toFixed(0)} ms after the SIGTERM (lease ${String(LEASE_MS)} ms, retry ${String(RETRY_MS)} ms); label lag ${lag.toFixed(0)} ms`,
    );
    expect(movedMs).toBeLessThan(LEASE_MS);
    expect(ns.recorder.violations()).toEqual([]);
    await expectEpochMatchesLease();
    const group = await getGroup(ns.clients, ns.namespace, GROUP_NAME);
    const history = group.status?.history ?? [];
    expect(history[0]).toMatchObject({ to: next });
    expect(history.some((h) => h.from === old || h.to === old)).toBe(true);
    candidate(old);
  });

  it("labels no pod while a holder that is no pod of the group leads", async () => {
    // Everybody steps down (releasing), then a stranger takes the released Lease.
    await Promise.all([...running.keys()].map((id) => stop(id, "SIGTERM")));
    await waitForHolder('released ("")', (h) => h === "");
    await waitFor(
      "no pod labelled after the release",
      async () =>
        (await labelledPods(ns.clients, ns.namespace, SELECTOR)).length === 0 ? true : undefined,
      { timeoutMs: 5000 },
    );
    candidate("stranger");
    await waitForHolder("stranger", (h) => h === "stranger");
    const since = holderSince("stranger");
    await new Promise((resolve) => setTimeout(resolve, 2 * RETRY_MS + 500));
    expect(ns.recorder.observations.filter((o) => o.at >= since && o.labelled.length > 0)).toEqual(
      [],
    );
    expect(await labelledPods(ns.clients, ns.namespace, SELECTOR)).toEqual([]);
    const group = await getGroup(ns.clients, ns.namespace, GROUP_NAME);
    console.log(`observed stranger: status.holder=${JSON.stringify(group.status?.holder)}`);
    expect(group.status?.holder ?? "").toBe("");
    await expectEpochMatchesLease();
  });

  it("removes the label when the Lease expires with no candidate left, and reaps stray labels", async () => {
    await stop("stranger", "SIGKILL");
    // og-a without release: it takes over once the stranger's record expires.
    candidate("og-a", false);
    await waitForHolder("og-a", (h) => h === "og-a");
    await waitForLabel("og-a");
    const killedAt = await stop("og-a", "SIGKILL");
    const unlabelledAt = await waitFor(
      "og-a to lose the label after the Lease expired",
      async () =>
        Promise.resolve(
          ns.recorder.observations.find((o) => o.at >= killedAt && o.labelled.length === 0)?.at,
        ),
      { timeoutMs: LEASE_MS + 5000, intervalMs: 20 },
    );
    const expiry = lastWriteBy("og-a") + LEASE_MS;
    console.log(
      `observed expiry: label removed ${String(unlabelledAt - expiry)} ms after the Lease expired (nobody wrote it)`,
    );
    expect(unlabelledAt).toBeGreaterThanOrEqual(expiry - 200);
    expect(unlabelledAt).toBeLessThanOrEqual(expiry + EXPIRY_SLACK_MS);
    // podium did not release or touch it: it still names the dead holder.
    expect((await readLease(ns.clients, ns.namespace, GROUP_NAME))?.spec?.holderIdentity).toBe(
      "og-a",
    );
    await waitForGroup(
      ns.clients,
      ns.namespace,
      GROUP_NAME,
      "no holder",
      (g) => (g.status?.holder ?? "") === "",
      {
        timeoutMs: 5000,
      },
    );

    // A stray label on a pod of the group, with no valid holder, is reaped.
    await patchPodMetadata(ns.clients, ns.namespace, "og-b", { labels: { role: "leader" } });
    await waitFor(
      "the stray label on og-b to be removed",
      async () =>
        (await labelledPods(ns.clients, ns.namespace, SELECTOR)).length === 0 ? true : undefined,
      { timeoutMs: 10_000 },
    );
  });

  it("never wrote the Lease, and never showed two labelled pods", () => {
    const managers = new Set(leases.observations.flatMap((o) => o.managers));
    const holders = new Set(leases.observations.map((o) => o.holder));
    console.log(
      `observed: ${String(leases.observations.length)} Lease versions, managers ${JSON.stringify([...managers])}, ` +
        `holders ${JSON.stringify([...holders])}; label lag (Lease change in a watch -> label in a pod watch) ` +
        `n=${String(labelLags.length)} p50=${percentile(labelLags, 50).toFixed(0)} ms max=${Math.max(...labelLags).toFixed(0)} ms`,
    );
    expect([...managers]).toEqual([CLIENT_GO_MANAGER]);
    expect(
      [...holders].every((h) => h === "" || h === "stranger" || PODS.some((p) => p === h)),
    ).toBe(true);
    expect(ns.recorder.violations()).toEqual([]);
  });
});
