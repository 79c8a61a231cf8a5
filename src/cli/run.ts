/** Dispatches a parsed command line; returns the exit code. Output goes through `io`. */
import { VERSION } from "../version.ts";
import { parseCommand } from "./args.ts";
import type { GlobalFlags } from "./args.ts";
import { connect } from "./client.ts";
import type { PodiumApi } from "./client.ts";
import { CliError, UsageError } from "./errors.ts";
import { runStatus } from "./status.ts";
import { runSwitchover } from "./switchover.ts";
import { usage } from "./usage.ts";
import { runWhy } from "./why.ts";

export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

/** Runs the plugin with `argv` (what follows `kubectl podium`); `api` builds the cluster client. */
export async function run(
  argv: readonly string[],
  io: Io,
  api: (flags: GlobalFlags) => PodiumApi = connect,
): Promise<number> {
  try {
    const command = parseCommand(argv);
    switch (command.kind) {
      case "help":
        io.stdout(usage(command.topic));
        return 0;
      case "version":
        io.stdout(`kubectl-podium ${VERSION}\n`);
        return 0;
      case "status": {
        const client = api(command.global);
        io.stdout(
          await runStatus(client, {
            namespace: client.namespace,
            allNamespaces: command.allNamespaces,
            output: command.output,
            ...(command.group === undefined ? {} : { group: command.group }),
          }),
        );
        return 0;
      }
      case "switchover": {
        const client = api(command.global);
        io.stdout(
          await runSwitchover(client, {
            namespace: client.namespace,
            group: command.group,
            to: command.to,
            timeoutMs: command.timeoutMs,
          }),
        );
        return 0;
      }
      case "why": {
        const client = api(command.global);
        io.stdout(await runWhy(client, client.namespace, command.group, command.pod));
        return 0;
      }
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`error: ${err.message}\n\n${usage(err.topic)}`);
      return err.exitCode;
    }
    if (err instanceof CliError) {
      io.stderr(`error: ${err.message}\n`);
      return err.exitCode;
    }
    io.stderr(`error: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
