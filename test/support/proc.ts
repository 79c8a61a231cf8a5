import { readFileSync, readdirSync } from "node:fs";

// What Linux's /proc says about a process: the benchmarks and the soak sample
// the operator (and the control plane's processes) this way, from outside.

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ, 100 on Linux). */
const CLK_TCK = 100;

/** One sample of a process, from /proc. */
export interface ProcSample {
  rssMiB: number;
  cpuSeconds: number;
}

/** RSS and CPU time (user + system) of a process, from /proc; undefined when it is gone. */
export function procSample(pid: number | undefined): ProcSample | undefined {
  if (pid === undefined) return undefined;
  try {
    const status = readFileSync(`/proc/${String(pid)}/status`, "utf8");
    const rss = /VmRSS:\s+(\d+) kB/.exec(status);
    const stat = readFileSync(`/proc/${String(pid)}/stat`, "utf8");
    // Fields after "(comm) ": state is field 3, utime 14, stime 15.
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(rest[11]) + Number(rest[12]);
    return { rssMiB: Number(rss?.[1] ?? 0) / 1024, cpuSeconds: ticks / CLK_TCK };
  } catch {
    return undefined;
  }
}

/** How many file descriptors a process has open (the entries of /proc/<pid>/fd); undefined when it is gone. */
export function openFds(pid: number): number | undefined {
  try {
    return readdirSync(`/proc/${String(pid)}/fd`).length;
  } catch {
    return undefined;
  }
}
