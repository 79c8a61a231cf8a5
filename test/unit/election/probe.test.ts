import { describe, expect, it } from "vitest";
import type { ElectionGroupStatus, LeaderProbe } from "../../../src/api/types.ts";
import { isCandidate } from "../../../src/election/candidates.ts";
import { decideManaged } from "../../../src/election/managed.ts";
import {
  fillFailedProbes,
  fillProbeCondition,
  judgePodProbes,
  judgeProbe,
  planProbe,
  probeCondition,
  probeProblemText,
  probeRecordsFromStatus,
} from "../../../src/election/probe.ts";
import type { ProbeRecord } from "../../../src/election/probe.ts";
import { T0, lease, leader, pod, spec } from "./fixtures.ts";

const tcp = (port: number | string): LeaderProbe => ({
  tcpSocket: { port },
  periodSeconds: 1,
  timeoutSeconds: 1,
  failureThreshold: 2,
});

describe("judgeProbe: is a pod held back by its probe record", () => {
  const failing = (n: number): ProbeRecord => ({
    consecutiveFailures: n,
    failingSince: T0,
    lastError: "connection refused",
  });
  it.each<[string, ProbeRecord | undefined, number, boolean]>([
    ["never probed", undefined, 2, false],
    ["passing", { consecutiveFailures: 0, lastSuccessAt: T0 }, 2, false],
    ["one failure, threshold 2", failing(1), 2, false],
    ["two failures, threshold 2", failing(2), 2, true],
    ["five failures, threshold 2", failing(5), 2, true],
    ["one failure, threshold 1", failing(1), 1, true],
    ["passed again after failing (the run restarts at 0)", { consecutiveFailures: 0 }, 1, false],
    ["a threshold of 0 counts as 1", failing(1), 0, true],
  ])("%s", (_name, record, threshold, heldBack) => {
    expect(judgeProbe(record, threshold) !== undefined).toBe(heldBack);
  });

  it("names the failures, since when, and the last error", () => {
    expect(judgeProbe(failing(3), 2)).toEqual({
      failures: 3,
      since: T0,
      error: "connection refused",
    });
    expect(probeProblemText({ failures: 3, since: T0, error: "timed out" }, T0 + 4_400)).toBe(
      "failed its probe 3 times in a row for 4s (last: timed out)",
    );
  });
});

describe("the decision with probe results", () => {
  const records = new Map<string, ProbeRecord>([
    ["uid-web-0", { consecutiveFailures: 2, failingSince: T0, lastError: "timed out after 1s" }],
  ]);
  const judged = (pods: ReturnType<typeof pod>[]) =>
    judgePodProbes(pods, { failureThreshold: 2 }, (uid) => records.get(uid));

  it("a holder over the threshold loses leadership at once, reason ProbeFailed", () => {
    const pods = judged([leader("web-0", 1), pod("web-1")]);
    expect(isCandidate(pods[0] ?? pod("x"))).toBe(false);
    const d = decideManaged({ spec: spec(), pods, lease: lease("web-0", 1), now: T0 });
    expect(d.holder?.name).toBe("web-1");
    expect(d.transition).toEqual({ from: "web-0", to: "web-1", reason: "ProbeFailed", epoch: 2 });
    expect(d.removeLabel.map((p) => p.name)).toEqual(["web-0"]);
  });

  it("a holder under the threshold keeps leadership", () => {
    const once = new Map([["uid-web-0", { consecutiveFailures: 1, failingSince: T0 }]]);
    const pods = judgePodProbes([leader("web-0", 1), pod("web-1")], { failureThreshold: 2 }, (u) =>
      once.get(u),
    );
    const d = decideManaged({ spec: spec(), pods, lease: lease("web-0", 1), now: T0 });
    expect(d.holder?.name).toBe("web-0");
    expect(d.transition).toBeUndefined();
  });

  it("the only pod failing its probe leaves the group leaderless, the Lease released", () => {
    const d = decideManaged({
      spec: spec(),
      pods: judged([leader("web-0", 1)]),
      lease: lease("web-0", 1),
      now: T0,
    });
    expect(d.holder).toBeUndefined();
    expect(d.transition?.reason).toBe("ProbeFailed");
    expect(d.lease).toEqual({ kind: "release", transitions: 1 });
  });

  it("a former holder that passes again is a candidate again, and does not take over (no flapping)", () => {
    const passed = new Map([["uid-web-0", { consecutiveFailures: 0, lastSuccessAt: T0 }]]);
    const pods = judgePodProbes([pod("web-0"), leader("web-1", 2)], { failureThreshold: 2 }, (u) =>
      passed.get(u),
    );
    expect(pods.every(isCandidate)).toBe(true);
    const d = decideManaged({ spec: spec(), pods, lease: lease("web-1", 2), now: T0 });
    expect(d.holder?.name).toBe("web-1");
    expect(d.transition).toBeUndefined();
  });

  it("a failing pod is never elected", () => {
    const pods = judged([pod("web-0", { priorityAnnotation: "10" }), pod("web-1")]);
    const d = decideManaged({ spec: spec(), pods, lease: undefined, now: T0 });
    expect(d.holder?.name).toBe("web-1");
  });
});

describe("planProbe: the port and IP to dial", () => {
  const net = { ip: "10.244.0.7", ports: { http: 8080, metrics: 9090 } };
  it.each<[string, LeaderProbe, object]>([
    [
      "a TCP port number",
      tcp(5432),
      { ok: true, ip: "10.244.0.7", action: { kind: "tcp", port: 5432 } },
    ],
    ["a TCP port name", tcp("metrics"), { ok: true, action: { kind: "tcp", port: 9090 } }],
    [
      "an HTTPS GET by name",
      {
        httpGet: { port: "http", path: "/healthz", scheme: "HTTPS" },
        periodSeconds: 1,
        timeoutSeconds: 1,
        failureThreshold: 2,
      },
      { ok: true, action: { kind: "http", port: 8080, path: "/healthz", scheme: "HTTPS" } },
    ],
    [
      "a name the pod lacks",
      tcp("grpc"),
      {
        ok: false,
        reason: "PortNotFound",
        message:
          "pod web-0 has no container port named grpc (spec.failureDetection.probe.tcpSocket.port): it is not probed",
      },
    ],
    // An inherited key is no port name.
    ["a name that is an Object method", tcp("constructor"), { ok: false, reason: "PortNotFound" }],
  ])("%s", (_name, probe, expected) => {
    expect(planProbe(probe, "web-0", net)).toMatchObject(expected);
  });

  it("a pod without an IP is not probed, and says so", () => {
    expect(planProbe(tcp(80), "web-0", {})).toMatchObject({ ok: false, reason: "NoPodIP" });
    expect(probeCondition("web-0", planProbe(tcp(80), "web-0", {})).status).toBe("False");
  });
});

describe("status: ProbeConfigured and failedProbes", () => {
  it("writes the condition, and removes it when the probe goes", () => {
    const status: ElectionGroupStatus = {};
    const plan = planProbe(tcp("db"), "web-0", { ip: "10.244.0.1", ports: { db: 5432 } });
    fillProbeCondition(status, probeCondition("web-0", plan), 3, "2026-01-01T12:00:00Z");
    expect(status.conditions).toEqual([
      {
        type: "ProbeConfigured",
        status: "True",
        reason: "Probing",
        message: "podium probes the holder's TCP port 5432",
        observedGeneration: 3,
        lastTransitionTime: "2026-01-01T12:00:00Z",
      },
    ]);
    fillProbeCondition(status, undefined, 3, "2026-01-01T12:00:00Z");
    expect(status.conditions).toEqual([]);
  });

  it("lists the failing pods, and the plugin reads them back as failing", () => {
    const status: ElectionGroupStatus = {};
    const pods = judgePodProbes([pod("web-0"), pod("web-1")], { failureThreshold: 3 }, (uid) =>
      uid === "uid-web-1"
        ? { consecutiveFailures: 4, failingSince: T0, lastError: "HTTP 503" }
        : undefined,
    );
    fillFailedProbes(status, pods);
    expect(status.failedProbes).toEqual([
      { pod: "web-1", uid: "uid-web-1", since: new Date(T0).toISOString(), error: "HTTP 503" },
    ]);
    const again = judgePodProbes([pod("web-0"), pod("web-1")], { failureThreshold: 3 }, (uid) =>
      probeRecordsFromStatus(status, 3).get(uid),
    );
    expect(again.map((p) => p.probeProblem?.error)).toEqual([undefined, "HTTP 503"]);
    fillFailedProbes(
      status,
      judgePodProbes(pods, { failureThreshold: 3 }, () => undefined),
    );
    expect(status.failedProbes).toBeUndefined();
  });
});
