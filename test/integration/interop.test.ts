import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import {
  LeaseRecorder,
  clientGoCandidateBinary,
  killAllCandidates,
  leaderlessGaps,
  leadingIntervals,
  overlaps,
  startCandidate,
} from "../support/candidates.ts";
import type { Candidate, CandidateKind } from "../support/candidates.ts";
import { connect, createNamespace, waitFor } from "../support/kube.ts";
import type { Clients } from "../support/kube.ts";
import { readLease } from "../support/groups.ts";
import { seededRandom } from "../support/random.ts";
import { percentile } from "../support/stats.ts";

// A mixed fleet on ONE Lease: two candidates on the real client-go
// (leaderelection.RunOrDie + resourcelock.LeaseLock, test/clientgo) and two on
// podium's own elector (test/support/node-candidate.ts), disrupted at random
// (seeded) with SIGKILL, SIGTERM and restarts. What it proves: podium's elector
// and client-go agree on the wire format and on the rules (expiry judged from
// the local observation time, release on cancel, leaseTransitions), so they
// never lead at the same time and always hand over.

const LEASE = "interop";
const LEASE_MS = 4000;
const RETRY_MS = 1000;
const TIMINGS = { leaseDuration: "4s", renewDeadline: "3s", retryPeriod: "1s" } as const;
/** client-go's acquire loop sleeps retryPeriod × [1, 2.2) (JitterUntil, factor 1.2). */
const MAX_POLL_MS = RETRY_MS * 2.2;
/**
 * After the leader dies, a live candidate saw its last renewal at most one
 * poll late, waits the lease duration from then, and acquires on its next
 * poll: leaseDuration + 2 jittered polls, plus 1 s for requests and scheduling.
 */
const RECOVERY_BOUND_MS = LEASE_MS + 2 * MAX_POLL_MS + 1000;
/** Process-exit timing as the parent measures it (a kill's interval ends when the parent sends it). */
const OVERLAP_TOLERANCE_MS = 100;
/** Watch delivery jitter allowed when checking takeovers against the Lease's own history. */
const WATCH_JITTER_MS = 100;
const CHAOS_MS = 60_000;
/** Time a (re)started process gets to install its signal handlers before it may be signalled. */
const STARTUP_GRACE_MS = 2000;

interface Member {
  kind: CandidateKind;
  id: string;
  releaseOnCancel: boolean;
}

const FLEET: readonly Member[] = [
  { kind: "client-go", id: "cg-1", releaseOnCancel: true },
  { kind: "client-go", id: "cg-2", releaseOnCancel: false },
  { kind: "node", id: "node-1", releaseOnCancel: true },
  { kind: "node", id: "node-2", releaseOnCancel: false },
];

const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, ms);
  });

type Disruption = "SIGKILL" | "SIGKILL+restart" | "SIGTERM+release" | "SIGTERM";

interface Recovery {
  victim: string;
  how: Disruption;
  at: number;
  ms: number;
  by: string;
}

describe("interop: client-go and podium's elector on one Lease", () => {
  let clients: Clients;
  let namespace: string;
  let removeNamespace: () => Promise<void>;
  let leaseRecorder: LeaseRecorder;

  beforeAll(async () => {
    clientGoCandidateBinary(); // builds it if missing (minutes when the Go cache is cold)
    clients = connect(inject("kubeconfig"));
    ({ name: namespace, remove: removeNamespace } = await createNamespace(clients, "interop"));
    leaseRecorder = new LeaseRecorder(clients.kc, namespace, LEASE);
    await leaseRecorder.start();
  });

  afterAll(async () => {
    await killAllCandidates();
    await leaseRecorder.stop();
    await removeNamespace();
  });

  it("never has two leaders, always recovers, and counts every transition", async () => {
    const seed = Number(process.env.PODIUM_INTEROP_SEED ?? Math.floor(Math.random() * 2 ** 31));
    const random = seededRandom(seed);
    const pick = <T>(items: readonly T[]): T => {
      const item = items[Math.floor(random() * items.length)];
      if (item === undefined) throw new Error("pick from an empty list");
      return item;
    };
    console.log(`interop seed: ${String(seed)} (replay with PODIUM_INTEROP_SEED=${String(seed)})`);

    const kubeconfig = inject("kubeconfig");
    const all: Candidate[] = [];
    const alive = new Map<string, Candidate>();
    const signalled = new Set<Candidate>();
    const start = (member: Member): Candidate => {
      const c = startCandidate({
        ...member,
        ...TIMINGS,
        kubeconfig,
        namespace,
        leaseName: LEASE,
      });
      all.push(c);
      alive.set(member.id, c);
      return c;
    };
    const leader = (): Candidate | undefined => [...alive.values()].find((c) => c.isLeading());
    /**
     * Restarts, as the kubelet would, a process that ended without being
     * asked: both client-go's RunOrDie and podium's elector return (and the
     * programs exit) when a renewal misses its deadline, which a starved
     * 2-core machine can cause. Such exits are checked at the end: each must
     * follow a stopped_leading and exit 0, never be a crash.
     */
    const unasked: Candidate[] = [];
    const reap = (): void => {
      for (const [id, c] of alive) {
        if (c.exit !== undefined && !signalled.has(c)) {
          alive.delete(id);
          unasked.push(c);
          const member = FLEET.find((m) => m.id === id);
          if (member) start(member);
          counts.restart++;
        }
      }
    };
    const recoveries: Recovery[] = [];
    const counts = { SIGKILL: 0, SIGTERM: 0, restart: 0, leaderDisruptions: 0 };

    /** Prints what every process and the Lease did since `since`, for a failure. */
    const diagnose = (since: number): void => {
      const lines = [`diagnosis since ${new Date(since).toISOString()}:`];
      for (const c of all.filter((x) => x.exit === undefined || x.exit.at >= since - 10_000)) {
        lines.push(
          `  ${c.kind} ${c.id} pid ${String(c.pid)} started ${String(c.startedAt - since)} ms, ` +
            `exit ${JSON.stringify(c.exit ? { ...c.exit, at: c.exit.at - since } : null)}`,
          ...c.events.map((e) => `    ${(e.t - since).toFixed(0)} ms ${e.event} ${e.leader ?? ""}`),
          ...c.stderr.slice(-15).map((l) => `    stderr: ${l}`),
        );
      }
      for (const o of leaseRecorder.observations.filter((x) => x.at >= since - 6000)) {
        lines.push(
          `  lease ${String(o.at - since)} ms rv=${o.resourceVersion} holder=${o.holder} ` +
            `transitions=${String(o.transitions)} duration=${String(o.leaseDurationSeconds)} renew=${o.renewTime}`,
        );
      }
      console.log(lines.join("\n"));
    };

    const t0 = Date.now();
    for (const member of FLEET) start(member);
    await waitFor("a first leader", async () => Promise.resolve(leader() ? true : undefined), {
      timeoutMs: RECOVERY_BOUND_MS,
    });

    const chaosEnd = Date.now() + CHAOS_MS;
    for (let step = 0; step < 200 && Date.now() < chaosEnd; step++) {
      reap();
      const dead = FLEET.filter((m) => !alive.has(m.id));
      if (dead.length > 0 && (random() < 0.45 || alive.size === 1)) {
        start(pick(dead));
        counts.restart++;
      } else if (alive.size >= 2) {
        const current = leader();
        // A process is disrupted only once it is up (it handles SIGTERM from then on).
        const others = [...alive.values()].filter(
          (c) => c !== current && Date.now() - c.startedAt >= STARTUP_GRACE_MS,
        );
        const target =
          current && (random() < 0.7 || others.length === 0)
            ? current
            : others.length > 0
              ? pick(others)
              : undefined;
        if (target === undefined) {
          await sleep(500);
          continue;
        }
        const signal = random() < 0.5 ? "SIGKILL" : "SIGTERM";
        const wasLeading = target.isLeading();
        const at = Date.now();
        signalled.add(target);
        alive.delete(target.id);
        counts[signal]++;
        await target.stop(signal);
        if (wasLeading) {
          counts.leaderDisruptions++;
          // Sometimes the killed leader comes straight back under the same
          // identity (a container restart): the Lease still names it, so it
          // renews at once without a transition (client-go's IsLeader rule).
          const comesBack = signal === "SIGKILL" && random() < 0.3;
          if (comesBack) {
            const member = FLEET.find((m) => m.id === target.id);
            if (member) start(member);
            counts.restart++;
          }
          const how: Disruption =
            signal === "SIGKILL"
              ? comesBack
                ? "SIGKILL+restart"
                : "SIGKILL"
              : target.releaseOnCancel
                ? "SIGTERM+release"
                : "SIGTERM";
          // Only candidates that were alive when the leader went are waited for:
          // restarts wait until leadership has recovered.
          const next = await waitFor(
            `a new leader after ${how} of ${target.id}`,
            async () => {
              reap();
              return Promise.resolve(leader());
            },
            { timeoutMs: RECOVERY_BOUND_MS + 5000, intervalMs: 20 },
          ).catch((err: unknown) => {
            diagnose(at);
            throw err;
          });
          const startedAt = next.events.findLast((e) => e.event === "started_leading")?.t ?? 0;
          recoveries.push({ victim: target.id, how, at, ms: startedAt - at, by: next.id });
        }
      }
      await sleep(500 + random() * 2500);
    }
    const chaosStopped = Date.now();

    // Leadership stands at the end too.
    await waitFor(
      "a leader after the chaos",
      async () => Promise.resolve(leader() ? true : undefined),
      {
        timeoutMs: RECOVERY_BOUND_MS,
      },
    );
    const stopAt = Date.now();
    await Promise.all(
      [...alive.values()].map(async (c) => {
        signalled.add(c);
        await c.stop("SIGTERM");
      }),
    );
    alive.clear();
    // The watch has caught up with the last write (the releases) before we judge it.
    const finalLease = await readLease(clients, namespace, LEASE);
    await waitFor("the Lease watch to catch up", async () =>
      Promise.resolve(
        leaseRecorder.current()?.resourceVersion === finalLease?.metadata?.resourceVersion
          ? true
          : undefined,
      ),
    );

    // 1. No two identities ever led at the same time.
    const intervals = leadingIntervals(all);
    const found = overlaps(intervals);
    const maxOverlap = found[0]?.ms ?? 0;
    const handovers = intervals
      .slice(1)
      .map((b, i) => ({ a: intervals[i], b }))
      .filter(({ a, b }) => a !== undefined && a.id !== b.id)
      .map(({ a, b }) => ({ from: a?.id ?? "", to: b.id, gapMs: b.start - (a?.end ?? 0) }));
    const closest = Math.min(...handovers.map((h) => h.gapMs));

    // 2. Leadership always came back within the bound.
    const gaps = leaderlessGaps(
      intervals.filter((i) => i.start <= stopAt),
      intervals[0]?.start ?? t0,
      stopAt,
    );
    const byHow = (how: Disruption): string => {
      const ms = recoveries.filter((r) => r.how === how).map((r) => r.ms);
      return ms.length === 0
        ? `${how}: none`
        : `${how}: n=${String(ms.length)} p50=${percentile(ms, 50).toFixed(0)} ms max=${Math.max(...ms).toFixed(0)} ms`;
    };

    // 3. leaseTransitions counts exactly the holder changes the watch saw,
    //    and every forced takeover waited the lease duration after the last renewal.
    const changes = leaseRecorder.holderChanges();
    const observations = leaseRecorder.observations.filter((o) => !o.deleted);
    const takeoverWaits: number[] = [];
    for (let i = 1; i < observations.length; i++) {
      const prev = observations[i - 1];
      const cur = observations[i];
      if (prev && cur && prev.holder !== "" && cur.holder !== "" && cur.holder !== prev.holder) {
        takeoverWaits.push(cur.at - prev.at);
      }
    }
    const sameIdentityAgain = intervals.filter((b, i) => intervals[i - 1]?.id === b.id).length;
    const collapse = (ids: string[]): string[] => ids.filter((id, i) => id !== ids[i - 1]);
    const leaseHolders = collapse(observations.map((o) => o.holder).filter((h) => h !== ""));
    const intervalHolders = collapse(intervals.map((i) => i.id));

    console.log(
      [
        `interop seed ${String(seed)}: ${String(Math.round((chaosStopped - t0) / 1000))} s, ` +
          `${String(counts.SIGKILL)} SIGKILL, ${String(counts.SIGTERM)} SIGTERM, ${String(counts.restart)} restarts, ` +
          `${String(counts.leaderDisruptions)} of them to the leader; ${String(intervals.length)} leading intervals, ` +
          `${String(sameIdentityAgain)} re-acquired by a restarted process of the same identity, ` +
          `${String(changes.length)} holder changes, leaseTransitions ${String(finalLease?.spec?.leaseTransitions ?? -1)}`,
        `  largest overlap between identities: ${maxOverlap.toFixed(1)} ms (tolerance ${String(OVERLAP_TOLERANCE_MS)} ms); ` +
          `closest hand-over: ${closest.toFixed(1)} ms from one leader's end to the next one's start`,
        `  recovery after a leader disruption (bound ${String(RECOVERY_BOUND_MS)} ms): ${byHow("SIGKILL")}; ${byHow("SIGKILL+restart")}; ${byHow("SIGTERM")}; ${byHow("SIGTERM+release")}`,
        `  longest leaderless gap: ${(gaps[0]?.ms ?? 0).toFixed(0)} ms; ` +
          `forced takeovers waited ${takeoverWaits.length === 0 ? "n/a" : `${Math.min(...takeoverWaits).toFixed(0)}-${Math.max(...takeoverWaits).toFixed(0)} ms`} ` +
          `after the old holder's last renewal (lease ${String(LEASE_MS)} ms)`,
        `  recoveries: ${recoveries.map((r) => `${r.how} ${r.victim}->${r.by} ${r.ms.toFixed(0)}ms`).join(", ")}`,
      ].join("\n"),
    );

    expect(found.filter((o) => o.ms > OVERLAP_TOLERANCE_MS)).toEqual([]);
    expect(counts.leaderDisruptions).toBeGreaterThanOrEqual(4);
    expect(new Set(intervals.map((i) => i.kind))).toEqual(new Set(["client-go", "node"]));
    for (const r of recoveries)
      expect(r.ms, `${r.how} of ${r.victim}`).toBeLessThanOrEqual(RECOVERY_BOUND_MS);
    expect(gaps[0]?.ms ?? 0).toBeLessThanOrEqual(RECOVERY_BOUND_MS);
    expect(finalLease?.spec?.leaseTransitions).toBe(changes.length);
    for (const [i, change] of changes.entries()) {
      // Each change adds exactly one; renewals and releases add none.
      expect(change.transitions, `change ${String(i)}: ${change.from} -> ${change.to}`).toBe(
        (changes[i - 1]?.transitions ?? observations[0]?.transitions ?? 0) + 1,
      );
    }
    for (const wait of takeoverWaits)
      expect(wait).toBeGreaterThanOrEqual(LEASE_MS - WATCH_JITTER_MS);
    expect(leaseHolders).toEqual(intervalHolders);
    expect(observations.every((o) => o.holder === "" || FLEET.some((m) => m.id === o.holder))).toBe(
      true,
    );
    // A process that stopped on its own did so by losing leadership, cleanly;
    // none crashed; SIGTERM exits 0.
    console.log(
      `  exits after a missed renewal (restarted): ${unasked.length === 0 ? "none" : unasked.map((c) => c.id).join(", ")}`,
    );
    for (const c of unasked) {
      expect(
        c.events.some((e) => e.event === "stopped_leading") && c.exit?.code === 0,
        `${c.id} (pid ${String(c.pid)}) exited unasked without losing leadership cleanly: ${JSON.stringify(c.exit)}`,
      ).toBe(true);
    }
    for (const c of all) {
      if (signalled.has(c) && c.killedAt === undefined) {
        expect(c.exit?.code, `${c.id} exit after SIGTERM`).toBe(0);
      }
    }
  }, 240_000);
});
