import type { CommandName } from "./args.ts";

/** A failure the plugin reports as one line on stderr, with its exit code. */
export class CliError extends Error {
  readonly exitCode: number;

  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = "CliError";
    this.exitCode = exitCode;
  }
}

/** Bad usage (unknown command or flag, missing argument): exit 2, with the command's usage. */
export class UsageError extends CliError {
  /** The command whose usage to print; undefined for the plugin's. */
  readonly topic: CommandName | undefined;

  constructor(message: string, topic?: CommandName) {
    super(message, 2);
    this.name = "UsageError";
    this.topic = topic;
  }
}
