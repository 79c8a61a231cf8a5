/**
 * A leader-election candidate on podium's own elector (LeaderElector +
 * KubeLeaseLock), the Node twin of test/clientgo/main.go: the same flags, the
 * same JSON lines on stdout, the same exit. Run it as
 *
 *   node test/support/node-candidate.ts --kubeconfig=... --namespace=ns \
 *     --lease-name=lease --id=a --lease-duration=4s --renew-deadline=3s \
 *     --retry-period=1s [--release-on-cancel]
 *
 * Each callback prints one line with the wall time in Unix nanoseconds:
 * {"event":"started_leading","id":"a","t":...}, {"event":"stopped_leading",...},
 * {"event":"new_leader","id":"a","leader":"b","t":...}. SIGTERM or SIGINT
 * cancels the run; the process exits 0 once it has stopped leading.
 */
import { parseArgs } from "node:util";

const UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Parses a Go duration ("4s", "1500ms", "1m30s") into milliseconds; throws on anything else. */
export function parseGoDuration(text: string): number {
  const whole = /^(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h)/;
  if (text === "0") return 0;
  let rest = text;
  let total = 0;
  while (rest !== "") {
    const match = whole.exec(rest);
    if (!match) throw new RangeError(`invalid duration ${JSON.stringify(text)}`);
    const [, number = "", unit = ""] = /^([\d.]+)(\D+)$/.exec(match[0]) ?? [];
    total += Number(number) * (UNITS[unit] ?? Number.NaN);
    rest = rest.slice(match[0].length);
  }
  if (text === "" || !Number.isFinite(total)) {
    throw new RangeError(`invalid duration ${JSON.stringify(text)}`);
  }
  return total;
}

/** The wall time in Unix nanoseconds (microsecond precision), as an exact integer text. */
function unixNanos(): string {
  const micros = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000));
  return (micros * 1000n).toString();
}

function emit(event: string, id: string, leader?: string): void {
  const fields = [`"event":${JSON.stringify(event)}`, `"id":${JSON.stringify(id)}`];
  if (leader !== undefined) fields.push(`"leader":${JSON.stringify(leader)}`);
  fields.push(`"t":${unixNanos()}`);
  // Writes to a pipe are synchronous on Linux, so a SIGKILL loses no line.
  process.stdout.write(`{${fields.join(",")}}\n`);
}

async function main(cancel: AbortController): Promise<void> {
  // Loaded only now, after the signal handlers are in (loading takes hundreds
  // of milliseconds).
  const { CoordinationV1Api, KubeConfig } = await import("@kubernetes/client-node");
  const { KubeLeaseLock, LeaderElector } = await import("../../src/leaderelection/index.ts");
  const { values } = parseArgs({
    options: {
      kubeconfig: { type: "string", default: "" },
      namespace: { type: "string", default: "default" },
      "lease-name": { type: "string", default: "" },
      id: { type: "string", default: "" },
      "lease-duration": { type: "string", default: "15s" },
      "renew-deadline": { type: "string", default: "10s" },
      "retry-period": { type: "string", default: "2s" },
      "release-on-cancel": { type: "boolean", default: false },
    },
    strict: true,
  });
  const id = values.id;
  const leaseName = values["lease-name"];
  if (leaseName === "" || id === "") {
    process.stderr.write("--lease-name and --id are required\n");
    process.exit(2);
  }

  const kc = new KubeConfig();
  if (values.kubeconfig === "") kc.loadFromDefault();
  else kc.loadFromFile(values.kubeconfig);

  const elector = new LeaderElector({
    lock: new KubeLeaseLock({
      api: kc.makeApiClient(CoordinationV1Api),
      namespace: values.namespace,
      name: leaseName,
    }),
    identity: id,
    leaseDurationMs: parseGoDuration(values["lease-duration"]),
    renewDeadlineMs: parseGoDuration(values["renew-deadline"]),
    retryPeriodMs: parseGoDuration(values["retry-period"]),
    releaseOnCancel: values["release-on-cancel"],
    callbacks: {
      // Blocks until leadership ends, as `<-ctx.Done()` does in Go.
      onStartedLeading: (signal) => {
        emit("started_leading", id);
        return new Promise<void>((resolve) => {
          if (signal.aborted) resolve();
          else
            signal.addEventListener(
              "abort",
              () => {
                resolve();
              },
              { once: true },
            );
        });
      },
      onStoppedLeading: () => {
        emit("stopped_leading", id);
      },
      onNewLeader: (identity) => {
        emit("new_leader", id, identity);
      },
    },
  });
  await elector.run(cancel.signal);
  process.exit(0);
}

if (import.meta.main) {
  // A SIGTERM during start-up cancels the run (exit 0) instead of killing the
  // process, as in the Go program.
  const cancel = new AbortController();
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.once(signal, () => {
      cancel.abort(new Error(signal));
    });
  }
  main(cancel).catch((error: unknown) => {
    process.stderr.write(
      `${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  });
}
