import { execFileSync } from "node:child_process";
import os from "node:os";

// What else runs on the machine while a benchmark measures: other local
// clusters (a kube-apiserver that is not ours), other benchmark or test runs,
// and the load average. Recorded at scenario boundaries, so the report can
// say whether a measurement shared the CPUs with another one.

export interface ActivitySnapshot {
  at: string;
  label: string;
  /** 1, 5 and 15 minute load averages. */
  load: number[];
  /** Other processes of interest: "pid %cpu rss(MiB) command". */
  others: string[];
}

/** Our own process tree: this process and every descendant. */
function ownTree(rows: { pid: number; ppid: number }[]): Set<number> {
  const own = new Set([process.pid]);
  for (let changed = true, i = 0; changed && i < 100; i++) {
    changed = false;
    for (const r of rows) {
      if (!own.has(r.pid) && own.has(r.ppid)) {
        own.add(r.pid);
        changed = true;
      }
    }
  }
  return own;
}

const INTERESTING =
  /kube-apiserver|etcd |kwok|test\/bench|bench\/|vitest|scale|clientgo-candidate|node-candidate|src\/main\.ts/;

let ownClusterDir: string | undefined;

/** The benchmark's own cluster directory: its processes are not "other activity". */
export function setOwnClusterDir(dir: string): void {
  ownClusterDir = dir;
}

/** The other benchmark-relevant processes running now (bounded: one `ps`, 10 s). */
export function snapshotActivity(label: string): ActivitySnapshot {
  const clusterDir = ownClusterDir;
  const snapshot: ActivitySnapshot = {
    at: new Date().toISOString(),
    label,
    load: os.loadavg().map((l) => Math.round(l * 100) / 100),
    others: [],
  };
  let text: string;
  try {
    text = execFileSync("ps", ["-eo", "pid=,ppid=,pcpu=,rss=,args="], {
      encoding: "utf8",
      timeout: 10_000,
      maxBuffer: 16 * 2 ** 20,
    });
  } catch (err) {
    snapshot.others.push(`ps failed: ${String(err)}`);
    return snapshot;
  }
  const rows = text
    .split("\n")
    .map((line) => /^\s*(\d+)\s+(\d+)\s+(\S+)\s+(\d+)\s+(.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({
      pid: Number(m[1]),
      ppid: Number(m[2]),
      cpu: m[3] ?? "",
      rssMiB: Number(m[4]) / 1024,
      args: m[5] ?? "",
    }));
  const own = ownTree(rows);
  for (const r of rows) {
    if (own.has(r.pid) || !INTERESTING.test(r.args)) continue;
    // Our own cluster's processes are started detached by hack/cluster.sh.
    if (clusterDir !== undefined && r.args.includes(`${clusterDir}/`)) continue;
    if (r.args.startsWith("ps ")) continue;
    snapshot.others.push(
      `${String(r.pid)} ${r.cpu}% ${r.rssMiB.toFixed(0)} MiB ${r.args.slice(0, 160)}`,
    );
  }
  return snapshot;
}
