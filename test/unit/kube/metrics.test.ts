import { Counter, Gauge, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { perRegistry, registeredMetric } from "../../../src/kube/metrics.ts";

const requests = perRegistry(
  (registry: Registry) =>
    new Counter({ name: "test_requests_total", help: "Requests", registers: [registry] }),
);

describe("perRegistry", () => {
  it("builds once per registry and returns that result to every later caller", () => {
    const registry = new Registry();
    expect(requests(registry)).toBe(requests(registry));
  });

  it("builds separately for each registry", () => {
    const a = new Registry();
    const b = new Registry();
    expect(requests(a)).not.toBe(requests(b));
    expect(a.getSingleMetric("test_requests_total")).toBe(requests(a));
    expect(b.getSingleMetric("test_requests_total")).toBe(requests(b));
  });

  it("lets metrics be asked for twice on one registry, which registering twice would refuse", async () => {
    const registry = new Registry();
    requests(registry).inc();
    expect(() => {
      requests(registry).inc();
    }).not.toThrow();
    expect((await registry.getSingleMetric("test_requests_total")?.get())?.values[0]?.value).toBe(
      2,
    );
    expect(
      () => new Counter({ name: "test_requests_total", help: "Requests", registers: [registry] }),
    ).toThrow(/already been registered/);
  });
});

describe("registeredMetric", () => {
  it("finds a metric of the asked kind registered by other code", () => {
    const registry = new Registry();
    const gauge = new Gauge({ name: "test_status", help: "Status", registers: [registry] });
    expect(registeredMetric(registry, "test_status", Gauge)).toBe(gauge);
  });

  it("is undefined for a missing metric or one of another kind", () => {
    const registry = new Registry();
    new Gauge({ name: "test_status", help: "Status", registers: [registry] });
    expect(registeredMetric(registry, "test_missing", Gauge)).toBeUndefined();
    expect(registeredMetric(registry, "test_status", Counter)).toBeUndefined();
  });
});
