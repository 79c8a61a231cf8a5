import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { OptionsError, parseDuration, parseOptions, usage } from "../../src/options.ts";
import type { Options } from "../../src/options.ts";

const parse = (argv: string[], env: NodeJS.ProcessEnv = {}): Options => {
  const result = parseOptions(argv, env);
  if (result === "help" || result === "version") throw new Error(`unexpected ${result}`);
  return result;
};

describe("parseDuration", () => {
  it.each([
    ["500ms", 500],
    ["15s", 15_000],
    ["10m", 600_000],
    ["1h30m", 5_400_000],
    ["1.5s", 1500],
  ])("%s is %d ms", (text, ms) => {
    expect(parseDuration(text, "x")).toBe(ms);
  });

  it.each([["15"], ["s"], ["-1s"], ["1d"], [""]])("refuses %j naming the flag", (text) => {
    expect(() => parseDuration(text, "sync-period")).toThrow(/--sync-period/);
  });
});

describe("parseOptions", () => {
  it("has controller-runtime's defaults", () => {
    const o = parse([]);
    expect(o).toMatchObject({
      metricsBindAddress: ":8080",
      healthProbeBindAddress: ":8081",
      leaderElect: false,
      leaderElectionId: "podium-leader",
      leaderElectionLeaseDurationMs: 15_000,
      leaderElectionRenewDeadlineMs: 10_000,
      leaderElectionRetryPeriodMs: 2_000,
      syncPeriodMs: 600_000,
      kubeApiTimeoutMs: 10_000,
      watchInactivityTimeoutMs: 90_000,
      namespaces: [],
      logLevel: "info",
    });
  });

  it("takes repeated --namespace flags and a comma list from the environment", () => {
    expect(parse(["--namespace=a", "--namespace", "b"]).namespaces).toEqual(["a", "b"]);
    expect(parse([], { PODIUM_NAMESPACE: "x, y" }).namespaces).toEqual(["x", "y"]);
  });

  it("lets flags win over the environment, and the environment over the file", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "podium-options-"));
    const file = path.join(dir, "podium.yaml");
    writeFileSync(file, "logLevel: debug\nkubeApiQps: 7\nleaderElect: true\n");
    const fromFile = parse([`--config=${file}`]);
    expect(fromFile).toMatchObject({ logLevel: "debug", kubeApiQps: 7, leaderElect: true });
    const fromEnv = parse([`--config=${file}`], { PODIUM_LOG_LEVEL: "warn" });
    expect(fromEnv.logLevel).toBe("warn");
    const fromFlag = parse([`--config=${file}`, "--log-level=error"], { PODIUM_LOG_LEVEL: "warn" });
    expect(fromFlag.logLevel).toBe("error");
  });

  it.each([
    [["--log-level=loud"], /--log-level/],
    [["--kube-api-qps=-1"], /--kube-api-qps/],
    [["--sync-period=soon"], /--sync-period/],
    [["--kube-api-timeout=500ms"], /--kube-api-timeout/],
    [["--watch-inactivity-timeout=1s"], /--watch-inactivity-timeout/],
    [["--max-concurrent-reconciles=0"], /--max-concurrent-reconciles/],
    [["--no-such-flag"], /no-such-flag/],
  ])("refuses %j with an error naming the flag", (argv, message) => {
    expect(() => parseOptions(argv, {})).toThrow(OptionsError);
    expect(() => parseOptions(argv, {})).toThrow(message);
  });

  it("refuses an unknown key in the config file, naming it", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "podium-options-"));
    const file = path.join(dir, "podium.yaml");
    writeFileSync(file, "logLevl: debug\n");
    expect(() => parseOptions([`--config=${file}`], {})).toThrow(/logLevl/);
  });

  it("answers --help with a usage text that lists every flag", () => {
    expect(parseOptions(["--help"], {})).toBe("help");
    for (const flag of ["--kubeconfig", "--namespace", "--leader-elect", "--kube-api-burst"]) {
      expect(usage()).toContain(flag);
    }
  });

  it("answers --version, which the image test runs first, before any other check", () => {
    expect(parseOptions(["--version"], {})).toBe("version");
    expect(parseOptions(["--version", "--log-level=nonsense"], {})).toBe("version");
    expect(usage()).toContain("--version");
  });
});
