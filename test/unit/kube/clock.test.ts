import { describe, expect, it } from "vitest";
import { MAX_TIMER_MS, realClock } from "../../../src/kube/clock.ts";

describe("realClock.setTimeout", () => {
  it("holds a delay beyond Node's 2^31-1 ms limit instead of firing at once", async () => {
    let fired = 0;
    const warnings: string[] = [];
    const onWarning = (w: Error): void => {
      warnings.push(w.name);
    };
    process.on("warning", onWarning);
    try {
      // A renewTime in year 9999 makes a requeue this far away.
      const timer = realClock.setTimeout(() => fired++, 250_000_000_000_000);
      await new Promise((resolve) => setTimeout(resolve, 50));
      realClock.clearTimeout(timer);
    } finally {
      process.off("warning", onWarning);
    }
    expect(fired).toBe(0);
    expect(warnings).not.toContain("TimeoutOverflowWarning");
    expect(MAX_TIMER_MS).toBe(2_147_483_647);
  });
});
