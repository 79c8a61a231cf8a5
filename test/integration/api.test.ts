import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { dump } from "js-yaml";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { kubectl, kubectlPath } from "../support/install.ts";
import { connect, createNamespace } from "../support/kube.ts";
import type { Clients } from "../support/kube.ts";
import { startOperator, stopAllOperators } from "../support/operator.ts";
import { getGroup, teardown, waitForLeader } from "../support/groups.ts";
import { deployApp } from "../support/pods.ts";

// What a user sees of the ElectionGroup API through kubectl alone: the
// validation the API server applies (schema + CEL), the defaults it fills in,
// the printer columns, the category, `kubectl explain` and `kubectl wait`.
describe("the ElectionGroup API through kubectl", () => {
  let clients: Clients;
  let kubeconfig: string;
  let namespace: string;
  let removeNamespace: () => Promise<void>;

  const manifest = (name: string, spec: Record<string, unknown>): string =>
    dump({
      apiVersion: "podium.dev/v1alpha1",
      kind: "ElectionGroup",
      metadata: { name, namespace },
      spec,
    });

  /** Runs kubectl; returns its exit status and what it printed. */
  const run = (args: string[], input?: string): { ok: boolean; out: string } => {
    try {
      return { ok: true, out: kubectl(kubeconfig, args, input) };
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string };
      return { ok: false, out: `${e.stdout ?? ""}${e.stderr ?? ""}` };
    }
  };

  beforeAll(async () => {
    kubeconfig = inject("kubeconfig");
    clients = connect(kubeconfig);
    ({ name: namespace, remove: removeNamespace } = await createNamespace(clients, "api"));
  });

  afterAll(async () => {
    // teardown needs an operator to process the finalizers of the groups it deletes.
    await startOperator(inject("operatorKubeconfig"), { args: [`--namespace=${namespace}`] });
    await teardown(clients, namespace, stopAllOperators, removeNamespace);
  });

  const selector = { matchLabels: { app: "web" } };
  const badSpecs: { what: string; spec: Record<string, unknown>; field: string; says: RegExp }[] = [
    {
      what: "renewDeadlineSeconds >= durationSeconds",
      spec: { selector, lease: { durationSeconds: 10, renewDeadlineSeconds: 10 } },
      field: "spec.lease.renewDeadlineSeconds",
      says: /less than durationSeconds/,
    },
    {
      what: "renewDeadlineSeconds not > 1.2 x retryPeriodSeconds (2 vs 2)",
      spec: { selector, lease: { renewDeadlineSeconds: 2, retryPeriodSeconds: 2 } },
      field: "spec.lease.renewDeadlineSeconds",
      says: /1\.2 x retryPeriodSeconds/,
    },
    {
      what: "an empty selector",
      spec: { selector: {} },
      field: "spec.selector",
      says: /must not be empty/,
    },
    {
      what: "a selector with only empty maps",
      spec: { selector: { matchLabels: {}, matchExpressions: [] } },
      field: "spec.selector",
      says: /must not be empty/,
    },
    {
      what: "a bad leaderLabel.key",
      spec: { selector, leaderLabel: { key: "-role/" } },
      field: "spec.leaderLabel.key",
      says: /qualified label key/,
    },
    {
      what: "a bad leaderLabel.value",
      spec: { selector, leaderLabel: { value: "-leader" } },
      field: "spec.leaderLabel.value",
      says: /label value/,
    },
    {
      what: "an empty leaderLabel.value",
      spec: { selector, leaderLabel: { value: "" } },
      field: "spec.leaderLabel.value",
      says: /at least 1|non-empty/,
    },
    {
      what: "durationSeconds 0",
      spec: { selector, lease: { durationSeconds: 0, renewDeadlineSeconds: 1 } },
      field: "spec.lease.durationSeconds",
      says: /greater than or equal to 1/,
    },
    {
      what: "durationSeconds 100000",
      spec: { selector, lease: { durationSeconds: 100000 } },
      field: "spec.lease.durationSeconds",
      says: /less than or equal to/,
    },
    {
      what: "an unknown mode",
      spec: { selector, mode: "Elected" },
      field: "spec.mode",
      says: /supported values: "Managed", "Observed"/,
    },
    {
      what: "operator In without values",
      spec: { selector: { matchExpressions: [{ key: "app", operator: "In" }] } },
      field: "spec.selector.matchExpressions[0].values",
      says: /non-empty when operator is In or NotIn/,
    },
    {
      what: "operator Exists with values",
      spec: {
        selector: { matchExpressions: [{ key: "app", operator: "Exists", values: ["web"] }] },
      },
      field: "spec.selector.matchExpressions[0].values",
      says: /must be empty when operator is Exists/,
    },
    {
      what: "a bad preferredHolder",
      spec: { selector, preferredHolder: "Web_0" },
      field: "spec.preferredHolder",
      says: /RFC 1123 subdomain/,
    },
    {
      what: "a negative notReadyToleranceSeconds",
      spec: { selector, notReadyToleranceSeconds: -1 },
      field: "spec.notReadyToleranceSeconds",
      says: /greater than or equal to 0/,
    },
    {
      what: "no selector",
      spec: { mode: "Managed" },
      field: "spec.selector",
      says: /Required value/,
    },
  ];

  it.each(badSpecs)("kubectl apply refuses $what, naming $field", ({ spec, field, says }) => {
    const res = run(["apply", "-f", "-"], manifest("bad", spec));
    expect(res.ok, res.out).toBe(false);
    // The error line names the field and says what is wrong with it.
    const line = res.out.split("\n").find((l) => l.includes(`${field}:`));
    expect(line, res.out).toBeDefined();
    expect(res.out).toMatch(says);
    expect(run(["get", "eg", "bad", "-n", namespace]).ok).toBe(false);
  });

  it("accepts the tightest valid lease (renewDeadline 2 > 1.2 x retry 1, < duration 3)", () => {
    const lease = { durationSeconds: 3, renewDeadlineSeconds: 2, retryPeriodSeconds: 1 };
    const spec = { selector, lease };
    const res = run(["apply", "--dry-run=server", "-f", "-"], manifest("edge", spec));
    expect(res.ok, res.out).toBe(true);
  });

  it("fills in every default on the API server but the lease timings, which podium defaults by mode", () => {
    const res = run(
      ["apply", "-f", "-"],
      manifest("defaults", { selector: { matchLabels: { app: "nothing" } } }),
    );
    expect(res.ok, res.out).toBe(true);
    const spec = JSON.parse(
      kubectl(kubeconfig, ["get", "eg", "defaults", "-n", namespace, "-o", "jsonpath={.spec}"]),
    ) as Record<string, unknown>;
    expect(spec).toEqual({
      selector: { matchLabels: { app: "nothing" } },
      mode: "Managed",
      // No stored timing: a Managed group gets 90/60/2 from podium (docs/semantics.md, Renewal).
      lease: {},
      leaderLabel: { key: "role", value: "leader" },
      notReadyToleranceSeconds: 0,
      paused: false,
      failureDetection: { nodeHeartbeatGraceSeconds: 18 },
      cutover: { mode: "Immediate", timeoutSeconds: 5 },
      handover: { mode: "OnRollout", settleSeconds: 0 },
    });
  });

  it("explains every spec field", () => {
    const out = kubectl(kubeconfig, ["explain", "electiongroup.spec"]);
    for (const field of [
      "selector",
      "mode",
      "lease",
      "leaderLabel",
      "preferredHolder",
      "notReadyToleranceSeconds",
      "paused",
      "failureDetection",
    ]) {
      // Each field is listed with its type and followed by a description.
      expect(out).toMatch(new RegExp(`^  ${field}\\t<\\w+>.*\\n(  enum: .*\\n)?    \\S`, "m"));
    }
    const lease = kubectl(kubeconfig, ["explain", "eg.spec.lease"]);
    for (const field of ["name", "durationSeconds", "renewDeadlineSeconds", "retryPeriodSeconds"]) {
      expect(lease).toMatch(new RegExp(`^  ${field}\\t<\\w+>`, "m"));
    }
  });

  it("shows MODE LEADER READY EPOCH AGE, lists the group in category podium, and kubectl wait sees Ready", async () => {
    await deployApp(clients, namespace, "web", 2);
    const res = run(["apply", "-f", "-"], manifest("web", { selector }));
    expect(res.ok, res.out).toBe(true);

    // No operator yet: no leader, not Ready, and kubectl wait says so.
    const before = kubectl(kubeconfig, ["get", "eg", "web", "-n", namespace]).split("\n");
    expect(before[0]?.split(/\s+/)).toEqual(["NAME", "MODE", "LEADER", "READY", "EPOCH", "AGE"]);
    expect(before[1]?.split(/\s+/).slice(0, 2)).toEqual(["web", "Managed"]);
    const early = run(["wait", "--for=condition=Ready", "--timeout=1s", "eg/web", "-n", namespace]);
    expect(early.ok, early.out).toBe(false);

    // A waiter started before the operator returns once the operator has elected.
    const waited = promisify(execFile)(kubectlPath(), [
      "--kubeconfig",
      kubeconfig,
      "wait",
      "--for=condition=Ready",
      "--timeout=60s",
      "eg/web",
      "-n",
      namespace,
    ]);
    await startOperator(inject("operatorKubeconfig"), { args: [`--namespace=${namespace}`] });
    const holder = await waitForLeader(clients, namespace, "web", "app=web");
    expect((await waited).stdout).toContain("electiongroup.podium.dev/web condition met");

    const group = await getGroup(clients, namespace, "web");
    const rows = kubectl(kubeconfig, ["get", "eg", "-n", namespace]).trim().split("\n");
    expect(rows[0]?.split(/\s+/)).toEqual(["NAME", "MODE", "LEADER", "READY", "EPOCH", "AGE"]);
    const web = rows.find((r) => r.startsWith("web "))?.split(/\s+/);
    expect(web?.slice(0, 5)).toEqual([
      "web",
      "Managed",
      holder,
      "2/2",
      String(group.status?.epoch),
    ]);
    expect(group.status?.epoch).toBe(1);
    expect(web?.[5]).toMatch(/^\d+s$/);

    // A spec change is acknowledged the way kstatus (Flux, Argo CD) reads it:
    // status.observedGeneration and the Ready condition's follow the generation.
    const patched = run([
      "patch",
      "eg/web",
      "-n",
      namespace,
      "--type=merge",
      "-p",
      '{"spec":{"notReadyToleranceSeconds":1}}',
    ]);
    expect(patched.ok, patched.out).toBe(true);
    const acked = run([
      "wait",
      "--for=jsonpath={.status.observedGeneration}=2",
      "--timeout=10s",
      "eg/web",
      "-n",
      namespace,
    ]);
    expect(acked.ok, acked.out).toBe(true);
    const ready = (await getGroup(clients, namespace, "web")).status?.conditions?.find(
      (c) => c.type === "Ready",
    );
    expect(ready).toMatchObject({ status: "True", observedGeneration: 2 });

    // The category lists every ElectionGroup of the namespace.
    const podium = kubectl(kubeconfig, ["get", "podium", "-n", namespace, "-o", "name"]);
    expect(podium.trim().split("\n").sort()).toEqual([
      "electiongroup.podium.dev/defaults",
      "electiongroup.podium.dev/web",
    ]);
  });
});
