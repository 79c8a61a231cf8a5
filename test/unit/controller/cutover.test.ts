import { describe, expect, it } from "vitest";
import {
  Cutovers,
  CUTOVER_FOLLOW_MS,
  labelPhases,
  withCutover,
} from "../../../src/controller/cutover.ts";
import { renderPhases } from "../../../src/cli/status.ts";
import { createMetrics } from "../../../src/observability/metrics.ts";

const T = Date.UTC(2026, 0, 1);
const ep = (name: string, ready = true) => ({ name, uid: `uid-${name}`, ready });
const view = (names: [string, boolean][], changedAt: number) => ({
  services: [
    { name: "s", selector: { role: "leader" }, endpoints: names.map(([n, r]) => ep(n, r)) },
  ],
  changedAt,
});

describe("Cutovers: the endpoint steps of a transition", () => {
  it("times the old endpoint gone and the new one ready from the slices' change times", async () => {
    const metrics = createMetrics();
    const c = new Cutovers(metrics);
    const phases = labelPhases(T, {
      labelRemoved: T + 5,
      leaseWritten: T + 9,
      labelWritten: T + 14,
    });
    expect(phases).toEqual({ labelRemovedMs: 5, leaseWrittenMs: 9, labelWrittenMs: 14 });
    c.start("ns/g", { from: "a", to: "b", epoch: 2, detectedAt: T, phases });
    expect(c.advance("ns/g", view([["a", true]], T - 100), T + 15)).toEqual({
      recheckAt: T + CUTOVER_FOLLOW_MS,
    });
    c.advance("ns/g", view([], T + 40), T + 45);
    expect(c.inFlight("ns/g")?.phases.oldEndpointGoneMs).toBe(40);
    const done = c.advance("ns/g", view([["b", true]], T + 90), T + 95).done;
    expect(done?.phases).toEqual({ ...phases, oldEndpointGoneMs: 40, newEndpointReadyMs: 90 });
    expect(c.inFlight("ns/g")).toBeUndefined();
    const text = await metrics.registry.getSingleMetricAsString("podium_failover_phase_seconds");
    expect(text).toContain('podium_failover_phase_seconds_count{phase="newEndpointReady"} 1');
  });

  it("finishes at once without a leader Service, and at the deadline without the new endpoint", () => {
    const c = new Cutovers(createMetrics());
    c.start("ns/g", { from: "a", to: "b", epoch: 2, detectedAt: T, phases: {} });
    expect(c.advance("ns/g", { services: [], changedAt: 0 }, T + 10).done?.phases).toEqual({});
    c.start("ns/g", { from: "a", to: "b", epoch: 3, detectedAt: T, phases: {} });
    const late = c.advance("ns/g", view([["b", false]], T + 5), T + CUTOVER_FOLLOW_MS);
    expect(late.done?.phases).toEqual({ oldEndpointGoneMs: 5 });
  });

  it("writes the phases into the history entry of the same epoch and holder, copying it", () => {
    const entry = {
      from: "a",
      to: "b",
      epoch: 2,
      reason: "HolderDeleted",
      time: "t",
      durationMs: 9,
    };
    const older = { ...entry, epoch: 1, to: "a", from: "" };
    const history = [entry, older];
    const next = withCutover(history, {
      from: "a",
      to: "b",
      epoch: 2,
      detectedAt: T,
      phases: { labelWrittenMs: 9, newEndpointReadyMs: 30 },
      outcome: "Verified",
    });
    expect(next[0]).toEqual({
      ...entry,
      phases: { labelWrittenMs: 9, newEndpointReadyMs: 30 },
      cutover: "Verified",
    });
    expect(next[1]).toBe(older);
    expect(history[0]).not.toHaveProperty("phases");
    expect(renderPhases(next[0])).toBe(
      "Last transition's phases (cutover Verified): detected 0ms → new label written 9ms → new endpoint ready 30ms",
    );
    expect(renderPhases(older)).toBe("");
  });
});
