import type { CommandName } from "./args.ts";

const GLOBAL_FLAGS = `Global flags:
  --kubeconfig PATH     kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)
  --context NAME        kubeconfig context to use (default: the current context)
  -n, --namespace NS    namespace (default: the context's namespace, else "default")
  -h, --help            help for the plugin or a command`;

const PLUGIN = `kubectl podium: inspect and steer podium's ElectionGroups.

Usage:
  kubectl podium status [GROUP] [-A] [-o text|json]
  kubectl podium switchover GROUP --to POD [--timeout 30s]
  kubectl podium why GROUP POD
  kubectl podium version
  kubectl podium help [COMMAND]

Commands:
  status       the groups of a namespace, or one group with every pod, why it can or cannot
               lead and its rank as next holder, the Lease and the last transitions
  switchover   move leadership to a ready pod (sets spec.preferredHolder) and wait for it
  why          explain whether a pod leads a group and, if not, why not

${GLOBAL_FLAGS}

Exit status: 0 success, 1 error (API, refused switchover, timeout), 2 bad usage.
`;

const TOPICS: Record<CommandName, string> = {
  status: `Show ElectionGroups.

Usage:
  kubectl podium status [-n NS] [-A] [-o text|json]   every group of the namespace (or all)
  kubectl podium status GROUP [-n NS] [-o text|json]  one group in detail

For one group: mode, holder, epoch, ready/candidates and conditions; every pod matching the
selector with its readiness and why it is or is not eligible to lead (terminating, not Running,
NotReady since when, eligible) and its rank as next holder with the rule that ranks it
(preferredHolder, priority N, newest revision, ready longest, name); the Lease; the history.

Flags:
  -A, --all-namespaces  list the groups of every namespace
  -o, --output FORMAT   text (default) or json

${GLOBAL_FLAGS}
`,
  switchover: `Move a group's leadership to a ready pod.

Usage:
  kubectl podium switchover GROUP --to POD [--timeout 30s] [-n NS]

Refuses (exit 1) unless POD is a ready candidate of GROUP (matches the selector, Running,
Ready, not terminating) and podium may act on the group (Managed mode, not paused, valid
spec, no conflict). Otherwise merge-patches spec.preferredHolder to POD, waits until the
group's status names POD as holder and POD carries the leader label, and prints how long that
took. spec.preferredHolder stays set: podium returns leadership to POD whenever it is a ready
candidate again; remove the field to drop the preference.

Flags:
  --to POD          the pod that should lead (required)
  --timeout DUR     how long to wait, e.g. 10s, 1m (default 30s)

${GLOBAL_FLAGS}
`,
  why: `Explain whether a pod leads a group and, if not, why not.

Usage:
  kubectl podium why GROUP POD [-n NS]

Names the first reason that applies: the group is invalid, paused or in conflict; the pod does
not match the selector, is terminating, not Running or NotReady; or it is outranked by
another pod (and by which rule), or the holder keeps leadership because it is sticky.

${GLOBAL_FLAGS}
`,
  version: `Print the plugin's version.

Usage:
  kubectl podium version
`,
  help: `Show help for the plugin or a command.

Usage:
  kubectl podium help [COMMAND]
`,
};

/** The help text for `topic`, or the plugin's when undefined. */
export function usage(topic?: CommandName): string {
  return topic === undefined ? PLUGIN : TOPICS[topic];
}
