import { execFile } from "node:child_process";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { connect, createNamespace, setPodReady } from "../support/kube.ts";
import type { Clients } from "../support/kube.ts";
import { root } from "../support/install.ts";
import { startOperator, stopAllOperators } from "../support/operator.ts";
import { createGroup, getGroup, teardown, waitForGroup, waitForLeader } from "../support/groups.ts";
import {
  createBarePod,
  deployApp,
  labelledPods,
  listPods,
  patchPodMetadata,
  waitForPods,
} from "../support/pods.ts";

interface PluginResult {
  code: number;
  stdout: string;
  stderr: string;
}

const PLUGIN = path.join(root, "src/cli/kubectl-podium.ts");

/** Runs `kubectl-podium` from source as a child process, as kubectl would run the plugin. */
async function plugin(kubeconfig: string, args: readonly string[]): Promise<PluginResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [PLUGIN, "--kubeconfig", kubeconfig, ...args],
      { timeout: 60_000, env: { ...process.env, KUBECONFIG: "" } },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** The line of the status output's pod table that starts with `pod`. */
function podLine(output: string, pod: string): string {
  return output.split("\n").find((l) => l.trimStart().startsWith(`${pod} `)) ?? "";
}

describe("kubectl-podium against a real API server with the operator running", () => {
  let clients: Clients;
  let kubeconfig: string;
  let namespace: string;
  let removeNamespace: () => Promise<void>;
  let leader: string;
  let notReady: string;
  let preferred: string;
  const outsider = "outsider";

  const run = (...args: string[]) => plugin(kubeconfig, args);

  beforeAll(async () => {
    kubeconfig = inject("kubeconfig");
    clients = connect(kubeconfig);
    ({ name: namespace, remove: removeNamespace } = await createNamespace(clients, "plugin"));
    await startOperator(inject("operatorKubeconfig"), { args: [`--namespace=${namespace}`] });
    await deployApp(clients, namespace, "web", 3);
    await createGroup(clients, namespace, "web", { selector: { matchLabels: { app: "web" } } });
    leader = await waitForLeader(clients, namespace, "web", "app=web");
    const others = (await listPods(clients, namespace, "app=web"))
      .map((p) => p.metadata?.name ?? "")
      .filter((n) => n !== leader)
      .sort();
    [notReady = "", preferred = ""] = others;
    await setPodReady(clients, namespace, notReady, false);
    await patchPodMetadata(clients, namespace, preferred, {
      annotations: { "podium.dev/priority": "10" },
    });
    await createBarePod(clients, namespace, outsider, { labels: { app: "other" } });
    await waitForPods(clients, namespace, [outsider]);
    await waitForGroup(clients, namespace, "web", "2 of 3 candidates ready", (g) => {
      return g.status?.readyCandidates === 2 && g.status.candidates === 3;
    });
  });

  afterAll(async () => {
    await teardown(clients, namespace, stopAllOperators, removeNamespace);
  });

  it("status shows the holder and, for each pod, why it may lead or not and its rank", async () => {
    const r = await run("status", "web", "-n", namespace);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^Holder:\\s+${leader}$`, "m"));
    expect(r.stdout).toMatch(/^Ready:\s+2\/3 candidates ready$/m);
    expect(podLine(r.stdout, leader)).toMatch(/\*.*leads; eligible; rank 2, after/);
    expect(podLine(r.stdout, preferred)).toMatch(/eligible; rank 1 \(priority 10 > 0\)/);
    expect(podLine(r.stdout, notReady)).toMatch(/False\s+Running.*NotReady since \d{4}-/);
    expect(r.stdout).not.toContain(outsider);
    expect(r.stdout).toMatch(
      new RegExp(`^Next holder:\\s+${preferred} \\(if ${leader} is lost\\)`, "m"),
    );
    expect(r.stdout).toMatch(new RegExp(`^Lease web:\\n  Holder:\\s+${leader}$`, "m"));
    expect(r.stdout).toMatch(/^ {2}Transitions:\s+1$/m);
    expect(r.stdout).toMatch(new RegExp(`<none>\\s+${leader}\\s+1\\s+Elected`));

    const json = await run("status", "web", "-n", namespace, "-o", "json");
    expect(json.code).toBe(0);
    const report = JSON.parse(json.stdout) as {
      holder: string;
      pods: { name: string; rank?: number; eligibility: { kind: string; since?: string } }[];
    };
    expect(report.holder).toBe(leader);
    expect(report.pods.find((p) => p.name === notReady)?.eligibility).toMatchObject({
      kind: "notReady",
    });
    expect(report.pods.find((p) => p.name === preferred)?.rank).toBe(1);
  });

  it("why explains the leader, a NotReady pod and a pod outside the selector", async () => {
    const lead = await run("why", "web", leader, "-n", namespace);
    expect(lead.code).toBe(0);
    expect(lead.stdout).toMatch(
      new RegExp(`^${leader} leads ElectionGroup ${namespace}/web in epoch 1`),
    );
    expect(lead.stdout).toContain(`if it is lost, ${preferred} takes over`);

    const down = await run("why", "web", notReady, "-n", namespace);
    expect(down.code).toBe(0);
    expect(down.stdout).toMatch(
      new RegExp(
        `^${notReady} does not lead ElectionGroup ${namespace}/web: it is NotReady since \\d{4}-`,
      ),
    );

    const ranked = await run("why", "web", preferred, "-n", namespace);
    expect(ranked.stdout).toMatch(/leadership is sticky/);
    expect(ranked.stdout).toMatch(/podium.dev\/priority 10/);

    const out = await run("why", "web", outsider, "-n", namespace);
    expect(out.code).toBe(0);
    expect(out.stdout).toContain(
      `${outsider} does not lead ElectionGroup ${namespace}/web: it does not match the selector app=web.`,
    );
    expect(out.stdout).toContain("Unmet: app=web (the pod has app=other).");

    const missing = await run("why", "web", "no-such-pod", "-n", namespace);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(new RegExp(`^error: pod ${namespace}/no-such-pod not found`));
  });

  it("switchover to a NotReady pod is refused with the pod and the reason, and changes nothing", async () => {
    const r = await run("switchover", "web", "--to", notReady, "-n", namespace);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(
      new RegExp(`switchover refused: pod ${notReady} is not a ready candidate .*NotReady since`),
    );
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect((await getGroup(clients, namespace, "web")).spec.preferredHolder).toBeUndefined();
    expect(await labelledPods(clients, namespace, "app=web")).toEqual([leader]);
  });

  it("switchover to a ready pod moves the label there and prints how long it took", async () => {
    const r = await run(
      "switchover",
      "web",
      "--to",
      preferred,
      "-n",
      namespace,
      "--timeout",
      "30s",
    );
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const match = /from (\S+) to (\S+) in (\d+\.\d+)s \(epoch (\d+)\)/.exec(r.stdout);
    expect(match?.slice(1, 3)).toEqual([leader, preferred]);
    const seconds = Number(match?.[3]);
    expect(Number.isFinite(seconds)).toBe(true);
    expect(seconds).toBeGreaterThanOrEqual(0);
    expect(seconds).toBeLessThan(30);
    expect(match?.[4]).toBe("2");
    expect(await labelledPods(clients, namespace, "app=web")).toEqual([preferred]);
    const group = await getGroup(clients, namespace, "web");
    expect(group.status?.holder).toBe(preferred);
    expect(group.spec.preferredHolder).toBe(preferred);
    expect(group.status?.history?.[0]).toMatchObject({
      from: leader,
      to: preferred,
      reason: "PreferredHolder",
    });

    const again = await run("why", "web", leader, "-n", namespace);
    expect(again.stdout).toMatch(/it is outranked by .* because of .*preferredHolder/);
  });

  it("status -A lists the group with its namespace, holder and conditions", async () => {
    const r = await run("status", "-A");
    expect(r.code).toBe(0);
    expect(r.stdout.split("\n")[0]).toMatch(/^NAMESPACE\s+NAME\s+MODE\s+HOLDER\s+EPOCH\s+READY/);
    const line = r.stdout.split("\n").find((l) => l.startsWith(`${namespace} `)) ?? "";
    expect(line).toMatch(
      new RegExp(`^${namespace}\\s+web\\s+Managed\\s+${preferred}\\s+2\\s+2/3\\s+\\S*Ready`),
    );
  });

  it("exits 2 with the usage for an unknown command, and 1 with one line for a missing group", async () => {
    const r = await run("frobnicate");
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: unknown command "frobnicate"/);
    expect(r.stderr).toContain("Usage:");

    const missing = await run("status", "nope", "-n", namespace);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(
      `error: ElectionGroup ${namespace}/nope: NotFound: electiongroups.podium.dev "nope" not found (HTTP 404)\n`,
    );
  });
});
