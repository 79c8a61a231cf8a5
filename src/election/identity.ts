/**
 * Which pod a Lease's holderIdentity stands for, in Observed mode. Apps write
 * their identity in many formats: client-go examples the pod's name,
 * controller-runtime, kube-controller-manager and kube-scheduler
 * `os.Hostname() + "_" + uuid`, others the bare hostname or a name of their
 * own making. podium tries the formats below in order and stops at the first
 * that fits any pod; a holder that fits two pods (or none) names no pod:
 * podium never labels a guess.
 */
import type { IdentityFormat } from "../api/types.ts";
import type { PodView } from "./types.ts";

/** The format by which a holder was matched to its pod. */
export type IdentityRule = "podName" | "template" | "hostname" | "hostnameUUID";

/** What a holderIdentity maps to: one pod, or none with what was tried. */
export type HolderMapping =
  | { kind: "pod"; holder: string; pod: PodView; rule: IdentityRule; how: string }
  | {
      kind: "none";
      holder: string;
      /** Each format tried, as a phrase for a message ("no pod named x"). */
      tried: string[];
      /** The pods the first fitting format found, when it found more than one. */
      ambiguous?: string[];
    };

/** The longest hostname the kubelet gives a pod (a DNS label). */
const MAX_HOSTNAME_LENGTH = 63;
/** The uuid form of k8s.io/apimachinery's uuid.NewUUID, case-insensitive. */
const HOSTNAME_UUID =
  /^(.+)_([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$/;
const PLACEHOLDER = /\{(podName|hostname|uuid|any)\}/g;

/**
 * The hostname the kubelet gives a pod that does not use the host's network:
 * spec.hostname when set, else the pod's name; cut to 63 characters, then
 * without trailing '-' and '.' (the kubelet's truncatePodHostnameIfNeeded).
 */
export function kubeletHostname(pod: Pick<PodView, "name" | "hostname">): string {
  const hostname = pod.hostname ?? pod.name;
  if (hostname.length <= MAX_HOSTNAME_LENGTH) return hostname;
  return hostname.slice(0, MAX_HOSTNAME_LENGTH).replace(/[-.]+$/, "");
}

/**
 * Whether `hostname` is the hostname of node `nodeName`: equal, or one is the
 * other's first DNS label (a node registered under its FQDN whose hostname
 * is short, or the reverse). Case-insensitive, as DNS is.
 */
function isNodeHostname(hostname: string, nodeName: string): boolean {
  const h = hostname.toLowerCase();
  const n = nodeName.toLowerCase();
  return h === n || n.startsWith(`${h}.`) || h.startsWith(`${n}.`);
}

/** Whether `pod` runs under `hostname`: its kubelet hostname, or its node's when hostNetwork. */
function hasHostname(pod: PodView, hostname: string): boolean {
  if (pod.hostNetwork) return pod.nodeName !== undefined && isNodeHostname(hostname, pod.nodeName);
  return kubeletHostname(pod) === hostname;
}

/** The hostnames `{hostname}` stands for in a template, for one pod. */
function hostnamesOf(pod: PodView): string[] {
  if (!pod.hostNetwork) return [kubeletHostname(pod)];
  if (pod.nodeName === undefined) return [];
  const short = pod.nodeName.split(".")[0] ?? pod.nodeName;
  return short === pod.nodeName ? [pod.nodeName] : [pod.nodeName, short];
}

/**
 * One position of a template once a pod's name or hostname is in place: a
 * literal character, a character of a uuid (hex, or '-' where the uuid has
 * one), or `{any}` (any run of characters, empty included).
 */
type Token = { kind: "char"; char: string } | { kind: "uuid"; dash: boolean } | { kind: "any" };

/** uuid.NewUUID's form: 8-4-4-4-12 hex digits; the dashes sit at these offsets. */
const UUID_DASHES = new Set([8, 13, 18, 23]);
const UUID_LENGTH = 36;
const HEX = /^[0-9a-fA-F]$/;

/** One token per UTF-16 code unit: holder and names are compared unit by unit, consistently. */
function chars(text: string): Token[] {
  const tokens: Token[] = [];
  for (let i = 0; i < text.length; i++) tokens.push({ kind: "char", char: text.charAt(i) });
  return tokens;
}

/** The tokens of `template` with `hostname` for {hostname}, for one pod. */
function tokensFor(template: string, pod: PodView, hostname: string): Token[] {
  // split() with a capture group alternates literal text and placeholder names.
  return template.split(PLACEHOLDER).flatMap((part, i): Token[] => {
    if (i % 2 === 0) return chars(part);
    switch (part) {
      case "podName":
        return chars(pod.name);
      case "hostname":
        return chars(hostname);
      case "uuid":
        return Array.from({ length: UUID_LENGTH }, (_, at) => ({
          kind: "uuid",
          dash: UUID_DASHES.has(at),
        }));
      default:
        return [{ kind: "any" }];
    }
  });
}

function fitsChar(token: Token, char: string): boolean {
  if (token.kind === "char") return token.char === char;
  if (token.kind === "uuid") return token.dash ? char === "-" : HEX.test(char);
  return true;
}

/**
 * Whether `text` matches `tokens` as a whole: the wildcard matcher that
 * remembers only the last `{any}`, so it takes at most length × tokens steps
 * whatever the template. A regular expression with several `.*` can take
 * exponential time on a long holderIdentity that does not match, and the
 * operator must not stall on one group's template.
 */
function matches(tokens: readonly Token[], text: string): boolean {
  let t = 0;
  let i = 0;
  let anyAt = -1;
  let anyFrom = 0;
  while (i < text.length) {
    const token = tokens[t];
    const char = text.charAt(i);
    if (token !== undefined && token.kind !== "any" && fitsChar(token, char)) {
      t++;
      i++;
    } else if (token?.kind === "any") {
      anyAt = t;
      anyFrom = i;
      t++;
    } else if (anyAt >= 0) {
      // Let the last {any} take one more character and try again from there.
      t = anyAt + 1;
      anyFrom++;
      i = anyFrom;
    } else {
      return false;
    }
  }
  while (tokens[t]?.kind === "any") t++;
  return t === tokens.length;
}

/** Whether `holder` fits `template` for `pod` (with each hostname the pod may have). */
function fitsTemplate(template: string, pod: PodView, holder: string): boolean {
  const hostnames = template.includes("{hostname}") ? hostnamesOf(pod) : [""];
  return hostnames.some((h) => matches(tokensFor(template, pod, h), holder));
}

function names(pods: readonly PodView[]): string[] {
  return pods.map((p) => p.name).sort();
}

/**
 * Maps a holderIdentity to the pod of `pods` it stands for. Tried in order,
 * stopping at the first format that fits any pod:
 * 1. the pod's name (client-go's usual `--id=$(POD_NAME)`);
 * 2. `identity.template`, when the group declares one;
 * 3. the pod's hostname: {@link kubeletHostname}, or for a hostNetwork pod
 *    its node's (the group's only pod on that node);
 * 4. `<hostname>_<uuid>` (controller-runtime, kube-controller-manager,
 *    kube-scheduler): the hostname part as in 3.
 * A format that fits more than one pod ends the search with no pod: a later
 * format must not pick one of them, nor another pod.
 */
export function mapHolder(
  holder: string,
  pods: readonly PodView[],
  identity: IdentityFormat | undefined,
): HolderMapping {
  const tried: string[] = [];
  const found = (pod: PodView, rule: IdentityRule, how: string): HolderMapping => ({
    kind: "pod",
    holder,
    pod,
    rule,
    how,
  });
  const ambiguous = (fits: readonly PodView[], what: string): HolderMapping => ({
    kind: "none",
    holder,
    tried: [...tried, `${what} fits ${names(fits).join(", ")}: more than one pod`],
    ambiguous: names(fits),
  });

  const named = pods.find((p) => p.name === holder);
  if (named !== undefined) return found(named, "podName", "the pod's name");
  tried.push(`no pod named ${holder}`);

  if (identity !== undefined) {
    const fits = pods.filter((p) => fitsTemplate(identity.template, p, holder));
    const what = `spec.identity.template ${JSON.stringify(identity.template)}`;
    const [only] = fits;
    if (fits.length > 1) return ambiguous(fits, what);
    if (only !== undefined) return found(only, "template", what);
    tried.push(`${what} fits no pod`);
  } else {
    tried.push("spec.identity not set");
  }

  const byHostname = pods.filter((p) => hasHostname(p, holder));
  const [host] = byHostname;
  if (byHostname.length > 1) return ambiguous(byHostname, `hostname ${holder}`);
  if (host !== undefined) {
    return found(host, "hostname", host.hostNetwork ? "its node's hostname" : "its hostname");
  }
  tried.push(`no pod with hostname ${holder}`);

  const parts = HOSTNAME_UUID.exec(holder);
  const hostname = parts?.[1];
  if (hostname === undefined) {
    tried.push("not <hostname>_<uuid>");
    return { kind: "none", holder, tried };
  }
  const byPrefix = pods.filter((p) => hasHostname(p, hostname));
  const [prefixed] = byPrefix;
  if (byPrefix.length > 1)
    return ambiguous(byPrefix, `<hostname>_<uuid> with hostname ${hostname}`);
  if (prefixed !== undefined) {
    const of = prefixed.hostNetwork ? "its node's hostname" : "its hostname";
    return found(prefixed, "hostnameUUID", `<hostname>_<uuid> with ${of}`);
  }
  tried.push(`<hostname>_<uuid> with no pod with hostname ${hostname}`);
  return { kind: "none", holder, tried };
}

/**
 * The one-line account of a mapping for conditions, Events and the plugin:
 * "holder x: no pod named x, spec.identity not set, ..." when it names no
 * pod; "holder x is pod y (<hostname>_<uuid> with its hostname)" otherwise.
 */
export function describeMapping(mapping: HolderMapping): string {
  if (mapping.kind === "pod") {
    return mapping.rule === "podName"
      ? `holder ${mapping.holder} is pod ${mapping.pod.name}`
      : `holder ${mapping.holder} is pod ${mapping.pod.name} (${mapping.how})`;
  }
  return `holder ${mapping.holder}: ${mapping.tried.join(", ")}`;
}
