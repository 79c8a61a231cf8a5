import type { LabelSelector, LabelSelectorRequirement } from "../api/types.ts";

/**
 * Reports whether `labels` satisfy `selector` with Kubernetes semantics:
 * every matchLabels pair and every matchExpressions requirement must hold.
 *
 * An empty selector matches nothing. Kubernetes reads it as "everything", but
 * for a group that would mean labelling any pod of the namespace; the API
 * refuses it, and this guard keeps a CRD installed without validation safe.
 */
export function matchesSelector(
  labels: Readonly<Record<string, string>> | undefined,
  selector: LabelSelector,
): boolean {
  // Callers also pass selectors of groups that have not been validated yet
  // (the cache's event routing); a malformed one matches nothing rather than
  // throwing and starving the well-formed groups next to it.
  if (!isWellFormedSelector(selector) || isEmptySelector(selector)) return false;
  const own = labels ?? {};
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (!Object.hasOwn(own, key) || own[key] !== value) return false;
  }
  return (selector.matchExpressions ?? []).every((req) => matchesRequirement(own, req));
}

function matchesRequirement(
  labels: Readonly<Record<string, string>>,
  req: LabelSelectorRequirement,
): boolean {
  const present = Object.hasOwn(labels, req.key);
  const value = labels[req.key];
  const values = req.values ?? [];
  switch (req.operator) {
    case "In":
      return present && value !== undefined && values.includes(value);
    case "NotIn":
      // Kubernetes: a pod without the key is "not in" any set of values.
      return !present || value === undefined || !values.includes(value);
    case "Exists":
      return present;
    case "DoesNotExist":
      return !present;
  }
}

/**
 * Reports whether `selector` has the shape of a metav1.LabelSelector:
 * matchLabels a map of strings, matchExpressions a list of requirements with
 * a string key, a known operator and, when present, a list of string values.
 * The API server guarantees it; a CRD installed without validation does not.
 */
export function isWellFormedSelector(selector: unknown): selector is LabelSelector {
  if (!isPlainObject(selector)) return false;
  const { matchLabels, matchExpressions } = selector;
  if (matchLabels !== undefined) {
    if (!isPlainObject(matchLabels)) return false;
    if (!Object.values(matchLabels).every((v) => typeof v === "string")) return false;
  }
  if (matchExpressions === undefined) return true;
  return (
    Array.isArray(matchExpressions) &&
    matchExpressions.every(
      (req: unknown) =>
        isPlainObject(req) &&
        typeof req.key === "string" &&
        typeof req.operator === "string" &&
        OPERATORS.has(req.operator) &&
        (req.values === undefined ||
          (Array.isArray(req.values) && req.values.every((v) => typeof v === "string"))),
    )
  );
}

const OPERATORS: ReadonlySet<string> = new Set(["In", "NotIn", "Exists", "DoesNotExist"]);

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** Reports whether `selector` has neither matchLabels entries nor matchExpressions. */
export function isEmptySelector(selector: LabelSelector): boolean {
  return (
    Object.keys(selector.matchLabels ?? {}).length === 0 &&
    (selector.matchExpressions ?? []).length === 0
  );
}

/**
 * A requirement pair that no object can satisfy: the API server has no
 * "nothing" selector, and an empty query string would list everything.
 */
const MATCH_NOTHING = "podium.dev/match-nothing,!podium.dev/match-nothing";

/**
 * Returns `selector` as a `labelSelector=` query string for list and watch
 * calls (`app=web,tier in (a,b),!foo`) that selects exactly the objects
 * {@link matchesSelector} accepts.
 *
 * Requirements are sorted by key and set values sorted, as the API server's
 * own rendering does, so equal selectors give equal strings (and cache keys).
 * Where the API server would refuse or misread the literal form, an
 * equivalent is sent instead: an empty selector or `In ()` becomes a pair that
 * matches nothing, and `NotIn ()` (true for every object) is left out.
 */
export function selectorToString(selector: LabelSelector): string {
  if (isEmptySelector(selector)) return MATCH_NOTHING;
  const parts: { key: string; text: string }[] = [];
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    parts.push({ key, text: `${key}=${value}` });
  }
  for (const req of selector.matchExpressions ?? []) {
    const values = [...new Set(req.values ?? [])].sort(compareStrings);
    switch (req.operator) {
      case "In":
        if (values.length === 0) return MATCH_NOTHING;
        parts.push({ key: req.key, text: `${req.key} in (${values.join(",")})` });
        break;
      case "NotIn":
        if (values.length > 0) {
          parts.push({ key: req.key, text: `${req.key} notin (${values.join(",")})` });
        }
        break;
      case "Exists":
        parts.push({ key: req.key, text: req.key });
        break;
      case "DoesNotExist":
        parts.push({ key: req.key, text: `!${req.key}` });
        break;
    }
  }
  // Stable sort: two requirements on one key keep their written order.
  return parts
    .sort((a, b) => compareStrings(a.key, b.key))
    .map((p) => p.text)
    .join(",");
}

/** Code-unit order, independent of the process locale. */
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
