import { execFile, execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createGroup } from "../support/groups.ts";
import { kubectlPath, root } from "../support/install.ts";
import { connect, createNamespace } from "../support/kube.ts";

// `kubectl podium` installed as a user installs it: `make install-plugin PREFIX=…` and, from
// `make plugin-archive`, `kubectl krew install --manifest --archive`; then found by kubectl's
// own plugin discovery on PATH and run against the test cluster.

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs kubectl with exactly `env` (no inherited PATH), as a shell of that user would. */
function kubectl(args: readonly string[], env: Record<string, string>): Promise<Result> {
  return new Promise((resolve) => {
    execFile(kubectlPath(), args, { env, timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

describe("installing the kubectl plugin", () => {
  let work: string;
  let namespace: string;
  let removeNamespace: (() => Promise<void>) | undefined;
  let kubeconfig: string;
  let archive: string;
  let manifest: string;

  beforeAll(async () => {
    work = mkdtempSync(path.join(os.tmpdir(), "podium-plugin-"));
    kubeconfig = inject("kubeconfig");
    // One make run: both targets share its `build`. `-o` keeps `deps` (a plain npm ci,
    // online) from running here; the plugin's own npm ci is --offline.
    execFileSync(
      "make",
      [
        "--no-print-directory",
        "-o",
        "node_modules/.podium-deps",
        "install-plugin",
        "plugin-archive",
        `PREFIX=${work}/prefix`,
      ],
      {
        cwd: root,
        env: { ...process.env, PLUGIN_BUILD_DIR: path.join(work, "build") },
        stdio: ["ignore", "ignore", "pipe"],
        timeout: 600_000,
      },
    );
    archive = path.join(work, "build", "kubectl-podium-v0.1.0.tar.gz");
    manifest = path.join(work, "build", "podium.yaml");
    const clients = connect(kubeconfig);
    ({ name: namespace, remove: removeNamespace } = await createNamespace(clients, "plugin-inst"));
    await createGroup(clients, namespace, "web", { selector: { matchLabels: { app: "web" } } });
  });

  afterAll(async () => {
    await removeNamespace?.();
    rmSync(work, { recursive: true, force: true });
  });

  /** A PATH with the system's directories (whose `node`, if any, may be older than 24) and `dirs` first. */
  const pathWith = (...dirs: string[]) => [...dirs, "/usr/local/bin", "/usr/bin", "/bin"].join(":");

  it("make install-plugin: kubectl finds kubectl-podium on PATH and it runs against the cluster", async () => {
    const bin = path.join(work, "prefix", "bin");
    // No Node >= 24 on this PATH: the launcher falls back to the Node that ran the install.
    const env = { PATH: pathWith(bin), HOME: work };
    const list = await kubectl(["plugin", "list"], env);
    expect(list.stdout).toContain(path.join(bin, "kubectl-podium"));

    const version = await kubectl(["podium", "version"], env);
    expect(version.stderr).toBe("");
    expect(version.stdout).toMatch(/^kubectl-podium \d+\.\d+\.\d+/);

    const status = await kubectl(["podium", "status", "-A", "--kubeconfig", kubeconfig], env);
    expect(status.stderr).toBe("");
    expect(status.code).toBe(0);
    expect(status.stdout.split("\n")[0]).toMatch(/^NAMESPACE\s+NAME\s+MODE\s+HOLDER/);
    expect(status.stdout).toMatch(new RegExp(`^${namespace}\\s+web\\s+Managed\\s`, "m"));

    const missing = await kubectl(
      ["podium", "why", "web", "nobody", "-n", namespace, "--kubeconfig", kubeconfig],
      env,
    );
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(new RegExp(`^error: pod ${namespace}/nobody not found`));
  });

  it("krew installs the archive with its manifest, offline, and the plugin says when it finds no Node >= 24", async () => {
    const krewBin = execFileSync(path.join(root, "hack/build-krew.sh"), {
      encoding: "utf8",
      timeout: 600_000,
    }).trim();
    const krewRoot = path.join(work, "krew");
    const env = {
      PATH: pathWith(path.join(krewRoot, "bin"), krewBin),
      HOME: work,
      KREW_ROOT: krewRoot,
    };
    const install = await kubectl(
      ["krew", "install", `--manifest=${manifest}`, `--archive=${archive}`],
      env,
    );
    expect(install.code, install.stderr).toBe(0);
    expect(existsSync(path.join(krewRoot, "bin", "kubectl-podium"))).toBe(true);

    const status = await kubectl(
      ["podium", "status", "web", "-n", namespace, "--kubeconfig", kubeconfig],
      {
        ...env,
        PODIUM_NODE: process.execPath,
      },
    );
    expect(status.stderr).toBe("");
    expect(status.stdout).toMatch(/^Holder:\s+<none>/m);

    // krew records no Node: with none on PATH (only what the launcher itself uses), it says so.
    const tools = path.join(work, "tools");
    mkdirSync(tools);
    for (const tool of ["readlink", "dirname", "cat"]) {
      const found = execFileSync("sh", ["-c", `command -v ${tool}`], { encoding: "utf8" }).trim();
      symlinkSync(found, path.join(tools, tool));
    }
    const noNode = await kubectl(["podium", "version"], {
      ...env,
      PATH: [path.join(krewRoot, "bin"), tools].join(":"),
    });
    expect(noNode.code).toBe(1);
    expect(noNode.stderr).toContain("kubectl-podium: needs Node >= 24");
  });
});
