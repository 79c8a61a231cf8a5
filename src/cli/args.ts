import { parseArgs } from "node:util";
import { UsageError } from "./errors.ts";

/** Flags every command takes: where the cluster is and which namespace. */
export interface GlobalFlags {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
}

export type OutputFormat = "text" | "json";

export type Command =
  | { kind: "help"; topic?: CommandName }
  | { kind: "version" }
  | {
      kind: "status";
      global: GlobalFlags;
      group?: string;
      allNamespaces: boolean;
      output: OutputFormat;
    }
  | { kind: "switchover"; global: GlobalFlags; group: string; to: string; timeoutMs: number }
  | { kind: "why"; global: GlobalFlags; group: string; pod: string };

export const COMMANDS = ["status", "switchover", "why", "version", "help"] as const;
export type CommandName = (typeof COMMANDS)[number];

const OPTIONS = {
  kubeconfig: { type: "string" },
  context: { type: "string" },
  namespace: { type: "string", short: "n" },
  "all-namespaces": { type: "boolean", short: "A" },
  output: { type: "string", short: "o" },
  to: { type: "string" },
  timeout: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;
type OptionName = keyof typeof OPTIONS;

const GLOBAL_OPTIONS: readonly OptionName[] = ["kubeconfig", "context", "namespace", "help"];
/** The flags each command accepts besides the global ones. */
const COMMAND_OPTIONS: Record<CommandName, readonly OptionName[]> = {
  status: ["all-namespaces", "output"],
  switchover: ["to", "timeout"],
  why: [],
  version: [],
  help: [],
};

const DEFAULT_SWITCHOVER_TIMEOUT_MS = 30_000;

function isCommandName(name: string): name is CommandName {
  return (COMMANDS as readonly string[]).includes(name);
}

/**
 * Parses the plugin's arguments (what follows `kubectl podium`). Flags may
 * come before or after the command, as with kubectl. Throws UsageError for
 * anything it cannot make sense of.
 */
export function parseCommand(argv: readonly string[]): Command {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: OPTIONS,
      strict: true,
      allowPositionals: true,
    });
  } catch (err) {
    const first = argv.find((a) => !a.startsWith("-"));
    const topic = first !== undefined && isCommandName(first) ? first : undefined;
    throw new UsageError(err instanceof Error ? err.message : String(err), topic);
  }
  const { values, positionals } = parsed;
  const [name, ...args] = positionals;
  if (name === undefined) {
    if (values.help === true) return { kind: "help" };
    throw new UsageError("no command given");
  }
  if (!isCommandName(name)) throw new UsageError(`unknown command "${name}"`);
  if (values.help === true) return { kind: "help", topic: name };

  const allowed = new Set<OptionName>([...GLOBAL_OPTIONS, ...COMMAND_OPTIONS[name]]);
  for (const key of Object.keys(values) as OptionName[]) {
    if (!allowed.has(key)) throw new UsageError(`${name} takes no --${key} flag`, name);
  }
  const global: GlobalFlags = {};
  if (values.kubeconfig !== undefined) global.kubeconfig = values.kubeconfig;
  if (values.context !== undefined) global.context = values.context;
  if (values.namespace !== undefined) {
    if (values.namespace === "") throw new UsageError("--namespace must not be empty", name);
    global.namespace = values.namespace;
  }
  const arity = (min: number, max: number, what: string): void => {
    if (args.length < min) throw new UsageError(`${name} needs ${what}`, name);
    if (args.length > max) {
      throw new UsageError(`${name}: unexpected argument "${args[max] ?? ""}"`, name);
    }
  };

  switch (name) {
    case "help": {
      arity(0, 1, "at most one command name");
      const topic = args[0];
      if (topic === undefined) return { kind: "help" };
      if (!isCommandName(topic)) throw new UsageError(`unknown command "${topic}"`);
      return { kind: "help", topic };
    }
    case "version":
      arity(0, 0, "no argument");
      return { kind: "version" };
    case "status": {
      arity(0, 1, "at most one group name");
      const output = values.output ?? "text";
      if (output !== "text" && output !== "json") {
        throw new UsageError(`--output must be text or json, not "${output}"`, name);
      }
      const allNamespaces = values["all-namespaces"] === true;
      const group = args[0];
      if (group !== undefined && allNamespaces) {
        throw new UsageError("a group name cannot be combined with --all-namespaces", name);
      }
      return group === undefined
        ? { kind: "status", global, allNamespaces, output }
        : { kind: "status", global, group, allNamespaces, output };
    }
    case "switchover": {
      arity(1, 1, "the group's name: switchover GROUP --to POD");
      const to = values.to;
      if (to === undefined || to === "") {
        throw new UsageError("switchover needs --to POD, the pod that should lead", name);
      }
      const timeoutMs =
        values.timeout === undefined
          ? DEFAULT_SWITCHOVER_TIMEOUT_MS
          : parseDurationFlag("--timeout", values.timeout, name);
      return { kind: "switchover", global, group: args[0] ?? "", to, timeoutMs };
    }
    case "why":
      arity(2, 2, "a group and a pod: why GROUP POD");
      return { kind: "why", global, group: args[0] ?? "", pod: args[1] ?? "" };
  }
}

function parseDurationFlag(flag: string, text: string, topic: CommandName): number {
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0) {
    throw new UsageError(
      `${flag} must be a positive duration such as 30s, 1m or 1m30s, not "${text}"`,
      topic,
    );
  }
  return ms;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses a Go-style duration (`500ms`, `30s`, `1m30s`, `1.5m`, `2h`) or a
 * bare number of seconds into milliseconds; undefined when malformed.
 */
export function parseDuration(text: string): number | undefined {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t) * 1000;
  if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(t)) return undefined;
  let total = 0;
  for (const [, value = "", unit = ""] of t.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) {
    total += Number(value) * (UNIT_MS[unit] ?? 0);
  }
  return Math.round(total);
}
