import { describe, expect, it } from "vitest";
import type { PodiumApi } from "../../../src/cli/client.ts";
import { CliError } from "../../../src/cli/errors.ts";
import { run } from "../../../src/cli/run.ts";

function capture() {
  const out = { stdout: "", stderr: "" };
  return {
    out,
    io: {
      stdout: (t: string) => (out.stdout += t),
      stderr: (t: string) => (out.stderr += t),
    },
  };
}

const noApi = (): PodiumApi => {
  throw new Error("no cluster in unit tests");
};

describe("run", () => {
  it("prints usage and exits 2 for an unknown command", async () => {
    const { out, io } = capture();
    expect(await run(["frobnicate"], io, noApi)).toBe(2);
    expect(out.stderr).toMatch(/^error: unknown command "frobnicate"\n\nkubectl podium:/);
  });

  it("prints help on stdout and exits 0", async () => {
    const { out, io } = capture();
    expect(await run(["switchover", "--help"], io, noApi)).toBe(0);
    expect(out.stdout).toMatch(/kubectl podium switchover GROUP --to POD/);
  });

  it("turns an API failure into one line and exit 1", async () => {
    const { out, io } = capture();
    const failing = (): PodiumApi => {
      throw new CliError("ElectionGroup shop/web: NotFound (HTTP 404)");
    };
    expect(await run(["status", "web"], io, failing)).toBe(1);
    expect(out.stderr).toBe("error: ElectionGroup shop/web: NotFound (HTTP 404)\n");
  });
});
