import { execFileSync } from "node:child_process";
import os from "node:os";
import { root } from "./install.ts";

// The machine and the software a measurement ran on, as the benchmark and soak
// reports state them: a figure means little without them.

export interface Machine {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  os: string;
  node: string;
  kubernetes: string;
  podiumCommit: string;
}

/** This machine, this Node, the given Kubernetes version and podium commit. */
export function describeMachine(kubernetes: string, podiumCommit: string): Machine {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? "unknown",
    memoryGiB: os.totalmem() / 2 ** 30,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.versions.node,
    kubernetes,
    podiumCommit,
  };
}

/**
 * The short hash of the checkout's HEAD, marked when the tree has uncommitted
 * changes (only those under `dir` when given, e.g. "src"); "unknown" outside git.
 */
export function podiumCommit(dir?: string): string {
  try {
    const sha = execFileSync("git", ["rev-parse", "--short", "HEAD"], {
      cwd: root,
      encoding: "utf8",
    });
    const status = ["status", "--porcelain", ...(dir === undefined ? [] : ["--", dir])];
    const dirty = execFileSync("git", status, { cwd: root, encoding: "utf8" });
    if (dirty.trim() === "") return sha.trim();
    return `${sha.trim()} (with uncommitted changes${dir === undefined ? "" : ` in ${dir}/`})`;
  } catch {
    return "unknown";
  }
}
