import { describe, expect, it } from "vitest";
import { parseCommand, parseDuration } from "../../../src/cli/args.ts";
import { UsageError } from "../../../src/cli/errors.ts";

describe("parseCommand", () => {
  it("reads each command with its arguments and the global flags, before or after it", () => {
    expect(parseCommand(["status"])).toEqual({
      kind: "status",
      global: {},
      allNamespaces: false,
      output: "text",
    });
    expect(parseCommand(["-n", "shop", "status", "web", "-o", "json", "--context=c"])).toEqual({
      kind: "status",
      global: { namespace: "shop", context: "c" },
      group: "web",
      allNamespaces: false,
      output: "json",
    });
    expect(parseCommand(["status", "-A"])).toMatchObject({ allNamespaces: true });
    expect(
      parseCommand([
        "switchover",
        "web",
        "--to",
        "web-1",
        "--timeout",
        "1m30s",
        "--kubeconfig",
        "k",
      ]),
    ).toEqual({
      kind: "switchover",
      global: { kubeconfig: "k" },
      group: "web",
      to: "web-1",
      timeoutMs: 90_000,
    });
    expect(parseCommand(["switchover", "web", "--to", "p"])).toMatchObject({ timeoutMs: 30_000 });
    expect(parseCommand(["why", "web", "web-1", "--namespace", "x"])).toEqual({
      kind: "why",
      global: { namespace: "x" },
      group: "web",
      pod: "web-1",
    });
  });

  it("gives help for the plugin and for each command", () => {
    expect(parseCommand(["--help"])).toEqual({ kind: "help" });
    expect(parseCommand(["status", "-h"])).toEqual({ kind: "help", topic: "status" });
    expect(parseCommand(["help", "why"])).toEqual({ kind: "help", topic: "why" });
  });

  it.each([
    [[], undefined, /no command/],
    [["bogus"], undefined, /unknown command "bogus"/],
    [["status", "--to", "x"], "status", /takes no --to/],
    [["status", "web", "-A"], "status", /cannot be combined/],
    [["status", "-o", "yaml"], "status", /text or json/],
    [["switchover", "web"], "switchover", /--to POD/],
    [["switchover", "web", "--to", "p", "--timeout", "soon"], "switchover", /positive duration/],
    [["why", "web"], "why", /a group and a pod/],
    [["why", "web", "a", "b"], "why", /unexpected argument "b"/],
    [["status", "--bogus"], "status", /bogus/],
  ])("refuses %j with a usage error", (argv, topic, message) => {
    let error: unknown;
    try {
      parseCommand(argv);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).exitCode).toBe(2);
    expect((error as UsageError).topic).toBe(topic);
    expect((error as UsageError).message).toMatch(message);
  });
});

describe("parseDuration", () => {
  it.each([
    ["30s", 30_000],
    ["500ms", 500],
    ["1m30s", 90_000],
    ["1.5m", 90_000],
    ["2h", 7_200_000],
    ["10", 10_000],
    ["soon", undefined],
    ["1x", undefined],
    ["", undefined],
  ])("%s -> %s", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });
});
