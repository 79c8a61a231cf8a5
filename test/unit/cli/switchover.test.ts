import { describe, expect, it } from "vitest";
import type { ElectionGroup } from "../../../src/api/types.ts";
import type { PodiumApi } from "../../../src/cli/client.ts";
import { CliError } from "../../../src/cli/errors.ts";
import { buildReport } from "../../../src/cli/explain.ts";
import { runSwitchover, switchoverRefusal } from "../../../src/cli/switchover.ts";
import { T0, group, leaderPod, rawLease, rawPod } from "./fixtures.ts";

const NOW = T0 + 60_000;

describe("switchoverRefusal", () => {
  const report = buildReport({
    group: group({}, "a"),
    pods: [leaderPod("a"), rawPod("b"), rawPod("n", { ready: false, since: T0 })],
    lease: rawLease("a", 1),
    now: NOW,
  });

  it("accepts a ready candidate", () => {
    expect(switchoverRefusal(report, "b", true, NOW)).toBeUndefined();
  });

  it("refuses a NotReady pod, a pod outside the selector, a missing pod, naming why", () => {
    expect(switchoverRefusal(report, "n", true, NOW)).toBe(
      "pod n is not a ready candidate of ElectionGroup shop/web: it is NotReady since 2026-01-01T12:00:00Z (60s ago)",
    );
    expect(switchoverRefusal(report, "x", true, NOW)).toMatch(
      /does not match the selector app=web/,
    );
    expect(switchoverRefusal(report, "x", false, NOW)).toBe("pod shop/x not found");
  });

  it("refuses a paused or Observed group", () => {
    const paused = buildReport({
      group: group({ paused: true }),
      pods: [rawPod("b")],
      lease: undefined,
      now: NOW,
    });
    expect(switchoverRefusal(paused, "b", true, NOW)).toMatch(/is paused/);
    const observed = buildReport({
      group: group({ mode: "Observed" }),
      pods: [rawPod("b")],
      lease: undefined,
      now: NOW,
    });
    expect(switchoverRefusal(observed, "b", true, NOW)).toMatch(/Observed mode/);
  });
});

/** A cluster in memory whose "operator" moves the label `afterPolls` polls after the patch. */
function fakeApi(afterPolls: number): PodiumApi & { patched: string[] } {
  let polls = -1;
  const patched: string[] = [];
  const g = group({}, "a");
  const pods = { a: leaderPod("a"), b: rawPod("b") };
  return {
    namespace: "shop",
    patched,
    getGroup() {
      if (polls >= 0) polls++;
      if (polls >= afterPolls && patched.length > 0) {
        return Promise.resolve({ ...g, status: { holder: "b", epoch: 2 } } as ElectionGroup);
      }
      return Promise.resolve(g);
    },
    listGroups: () => Promise.resolve([g]),
    listPods: () => Promise.resolve(Object.values(pods)),
    getPod(_ns, name) {
      if (name === "b" && polls >= afterPolls) return Promise.resolve(leaderPod("b"));
      return Promise.resolve(pods[name as "a" | "b"]);
    },
    getLease: () => Promise.resolve(rawLease("a", 1)),
    setPreferredHolder(_ns, _g, pod) {
      patched.push(pod);
      polls = 0;
      return Promise.resolve();
    },
  };
}

function fakeClock() {
  let t = 0;
  return {
    now: () => NOW,
    monotonic: () => t,
    sleep: (ms: number) => {
      t += ms;
      return Promise.resolve();
    },
  };
}

describe("runSwitchover", () => {
  it("patches spec.preferredHolder, waits for the holder and its label, and reports the time", async () => {
    const api = fakeApi(3);
    const out = await runSwitchover(
      api,
      { namespace: "shop", group: "web", to: "b", timeoutMs: 5000, pollMs: 100 },
      fakeClock(),
    );
    expect(api.patched).toEqual(["b"]);
    expect(out).toMatch(
      /^switched over ElectionGroup shop\/web from a to b in 0\.200s \(epoch 2\)/,
    );
  });

  it("fails with what it saw when the holder does not move in time", async () => {
    const api = fakeApi(1000);
    await expect(
      runSwitchover(
        api,
        { namespace: "shop", group: "web", to: "b", timeoutMs: 1000, pollMs: 100 },
        fakeClock(),
      ),
    ).rejects.toThrow(/timed out after 1\.0s: ElectionGroup shop\/web reports holder a/);
  });

  it("refuses a NotReady pod without patching", async () => {
    const api = fakeApi(0);
    const pods = [leaderPod("a"), rawPod("b", { ready: false, since: T0 })];
    api.listPods = () => Promise.resolve(pods);
    const run = runSwitchover(
      api,
      { namespace: "shop", group: "web", to: "b", timeoutMs: 1000 },
      fakeClock(),
    );
    await expect(run).rejects.toBeInstanceOf(CliError);
    await expect(run).rejects.toThrow(
      /switchover refused: pod b is not a ready candidate .*NotReady/,
    );
    expect(api.patched).toEqual([]);
  });
});
