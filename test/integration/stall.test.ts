import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startFaultProxy } from "../support/fault-proxy.ts";
import type { FaultProxy } from "../support/fault-proxy.ts";
import { setPodReady, waitFor } from "../support/kube.ts";
import { startOperator } from "../support/operator.ts";
import type { OperatorProcess } from "../support/operator.ts";
import { createGroup, getGroup } from "../support/groups.ts";
import { deployApp, isCandidate, listPods, podsLabelled } from "../support/pods.ts";
import { metricValue } from "../support/prometheus.ts";
import { SuiteNamespace } from "../support/suite-namespace.ts";

const APP = "stall";
const SELECTOR = `app=${APP}`;
/**
 * podium's client-side watch inactivity deadline, shortened from its 90 s
 * default with --watch-inactivity-timeout. A watch may have heard its last
 * byte before the stall began, so the deadline passes at most this long into
 * the stall.
 */
const INACTIVITY_MS = 10_000;
/** After the deadline: a re-list and a fail-over take at most this. */
const ACT_AFTER_DEADLINE_MS = 15_000;
/** After the stall ends, the group has a ready leader again within this. */
const RECOVER_MS = 15_000;

interface Sample {
  at: number;
  /** podium_watch_restarts_total{resource="pods",reason="inactivity"} */
  podRestarts: number;
  labelled: string[];
  healthz: number;
  healthzBody: string;
}

// The silent watch stall (issue 7): the proxy between podium and the API
// server keeps podium's watch connections open but forwards nothing, and
// answers new watches with headers and then silence, while lists and writes
// pass. During the stall the leader turns NotReady. podium must notice at
// its watch inactivity deadline, re-list (lists work), and move the label;
// /healthz must not report healthy while podium is blind past the deadline;
// and once the stall ends everything converges.
describe("a silent watch stall", () => {
  const ns = new SuiteNamespace("stall");
  let proxy: FaultProxy;
  let operator: OperatorProcess;
  const samples: Sample[] = [];
  let from = "";
  let stalledAt = 0;
  /** When the pods watch was first restarted for inactivity; 0 if never. */
  let deadlineAt = 0;

  const labelled = (): Promise<string[]> =>
    podsLabelled(ns.clients, ns.namespace, SELECTOR, "role", "leader");
  const podRestarts = async (): Promise<number> =>
    metricValue(await operator.metrics(), "podium_watch_restarts_total", {
      resource: "pods",
      reason: "inactivity",
    }) ?? 0;
  const sample = async (): Promise<Sample> => {
    const [restarts, names, health] = await Promise.all([
      podRestarts(),
      labelled(),
      operator.probe("/healthz?verbose"),
    ]);
    const s = {
      at: Date.now(),
      podRestarts: restarts,
      labelled: names,
      healthz: health.status,
      healthzBody: health.body.trim().replaceAll("\n", " | "),
    };
    samples.push(s);
    return s;
  };
  /** One labelled pod, the group's holder, a candidate, and not `not`. */
  const leader = async (not?: string): Promise<string | undefined> => {
    const [group, pods] = await Promise.all([
      getGroup(ns.clients, ns.namespace, APP),
      listPods(ns.clients, ns.namespace, SELECTOR),
    ]);
    const holder = group.status?.holder ?? "";
    const withLabel = pods.filter((p) => p.metadata?.labels?.role === "leader");
    const pod = withLabel[0];
    return withLabel.length === 1 &&
      pod?.metadata?.name === holder &&
      holder !== not &&
      isCandidate(pod)
      ? holder
      : undefined;
  };

  beforeAll(async () => {
    await ns.open([APP]);
    await deployApp(ns.clients, ns.namespace, APP, 3);
    proxy = await startFaultProxy({
      kubeconfig: inject("operatorKubeconfig"),
      dir: mkdtempSync(path.join(tmpdir(), "podium-stall-")),
    });
    // The default --sync-period (10 min): no periodic re-list rescues the test.
    operator = await startOperator(proxy.kubeconfig, {
      args: [
        `--namespace=${ns.namespace}`,
        `--watch-inactivity-timeout=${String(INACTIVITY_MS / 1000)}s`,
      ],
      identity: "podium-stall",
    });
    await createGroup(ns.clients, ns.namespace, APP, { selector: { matchLabels: { app: APP } } });
    from = await waitFor("the first leader", () => leader(), { timeoutMs: 30_000 });
  });

  afterAll(async () => {
    proxy.clear();
    await ns.close();
    await proxy.close();
  });

  it(
    "notices at its inactivity deadline, re-lists and moves the label while watches stay stalled",
    async () => {
      expect((await operator.probe("/healthz")).status).toBe(200);
      const watchesBefore = proxy.stats().watches;
      stalledAt = Date.now();
      proxy.stallWatches(true);
      await setPodReady(ns.clients, ns.namespace, from, false);

      // Blind until the deadline: the label stays on the NotReady pod.
      const first = await waitFor(
        "podium to restart its pods watch for inactivity",
        async () => {
          const s = await sample();
          return s.podRestarts >= 1 ? s : undefined;
        },
        { timeoutMs: INACTIVITY_MS + 10_000, intervalMs: 1_000 },
      );
      deadlineAt = first.at;
      console.log(
        `pods watch restarted for inactivity ${String(deadlineAt - stalledAt)} ms into the stall; watches opened during the stall: ${String(proxy.stats().watches - watchesBefore)}`,
      );
      // The stall was real: before the deadline nothing moved.
      const before = samples.filter((s) => s.at < deadlineAt);
      expect(before.every((s) => s.labelled.join(",") === from)).toBe(true);

      // Lists still work: a re-list shows the NotReady leader and podium moves the label.
      let to: string | undefined;
      try {
        to = await waitFor(
          `a fail-over away from ${from} after the deadline, with watches still stalled`,
          async () => {
            await sample();
            return leader(from);
          },
          { timeoutMs: ACT_AFTER_DEADLINE_MS, intervalMs: 500 },
        );
      } finally {
        const last = samples.at(-1);
        console.log(
          `after the deadline: ${to === undefined ? "no fail-over" : `fail-over to ${to}`} ${String(Date.now() - stalledAt)} ms into the stall; labelled ${JSON.stringify(last?.labelled)}; /healthz ${String(last?.healthz)} (${last?.healthzBody ?? ""})`,
        );
      }
      expect(to).toBeDefined();
    },
    INACTIVITY_MS + 10_000 + ACT_AFTER_DEADLINE_MS + 10_000,
  );

  it("/healthz does not report healthy while podium is blind past its watch deadline", () => {
    if (deadlineAt === 0) throw new Error("needs the previous test's stall past the deadline");
    // Blind: past the deadline (with 5 s for a re-list to act), still labelling the NotReady pod.
    const blind = samples.filter(
      (s) => s.at >= deadlineAt + 5_000 && s.labelled.join(",") === from,
    );
    const healthyWhileBlind = blind.filter((s) => s.healthz === 200);
    console.log(
      `samples blind past the deadline: ${String(blind.length)}, of which /healthz 200: ${String(healthyWhileBlind.length)}`,
    );
    expect(
      healthyWhileBlind.map((s) => `${String(s.at - stalledAt)} ms: ${s.healthzBody}`),
    ).toEqual([]);
  });

  it("converges at once when the stall ends, with never two labelled pods", async () => {
    const endedAt = Date.now();
    proxy.stallWatches(false);
    const to = await waitFor("a ready leader after the stall", () => leader(from), {
      timeoutMs: RECOVER_MS,
    });
    console.log(`after the stall ended: leader ${to} within ${String(Date.now() - endedAt)} ms`);
    expect(ns.recorder.violations()).toEqual([]);
    expect((await operator.probe("/healthz")).status).toBe(200);
    await setPodReady(ns.clients, ns.namespace, from, true);
  });
});
