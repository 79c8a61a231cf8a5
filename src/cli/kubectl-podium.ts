#!/usr/bin/env node
/**
 * kubectl-podium: the kubectl plugin (`kubectl podium status|switchover|why`).
 * kubectl runs any executable named kubectl-<name> on PATH as `kubectl <name>`.
 */
import { run } from "./run.ts";

const code = await run(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
});
// Exit once the output is flushed: the API client's keep-alive sockets would hold the process open.
process.stdout.write("", () => {
  process.stderr.write("", () => process.exit(code));
});
