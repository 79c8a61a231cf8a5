/**
 * Returns the metric names a PromQL expression selects, in order of first appearance, without
 * duplicates. It is a scanner, not a parser: it skips string literals, label matchers `{...}`,
 * range and subquery brackets `[...]`, numbers and durations, Grafana variables (`$x`, `${x}`),
 * the label lists of `by`, `without`, `on`, `ignoring`, `group_left` and `group_right`, keywords,
 * and every name followed by `(` (functions and aggregations). What is left are the metric names.
 * Throws on an unterminated string or bracket, so a broken expression is never read as valid.
 */
export function metricNames(expr: string): string[] {
  const names: string[] = [];
  const identStart = /[A-Za-z_:]/;
  const identPart = /[A-Za-z0-9_:]/;
  let i = 0;

  const skipSpace = (from: number): number => {
    let j = from;
    while (j < expr.length && /\s/.test(expr.charAt(j))) j++;
    return j;
  };
  /** Index just past the string literal opening at `from`. */
  const skipString = (from: number): number => {
    const quote = expr.charAt(from);
    let j = from + 1;
    while (j < expr.length && expr.charAt(j) !== quote) j += expr.charAt(j) === "\\" ? 2 : 1;
    if (j >= expr.length) throw new Error(`unterminated string at ${String(from)} in: ${expr}`);
    return j + 1;
  };
  /** Index just past the bracket that closes the one opening at `from` (strings inside skipped). */
  const skipBracket = (from: number): number => {
    const open = expr.charAt(from);
    const close = ({ "{": "}", "[": "]", "(": ")" } as Record<string, string>)[open];
    let depth = 0;
    let j = from;
    while (j < expr.length) {
      const c = expr.charAt(j);
      if (c === '"' || c === "'" || c === "`") {
        j = skipString(j);
        continue;
      }
      if (c === open) depth++;
      if (c === close && --depth === 0) return j + 1;
      j++;
    }
    throw new Error(`unterminated ${open} at ${String(from)} in: ${expr}`);
  };

  while (i < expr.length) {
    const c = expr.charAt(i);
    if (c === '"' || c === "'" || c === "`") {
      i = skipString(i);
    } else if (c === "{" || c === "[") {
      i = skipBracket(i);
    } else if (c === "#") {
      // A comment runs to the end of the line.
      while (i < expr.length && expr.charAt(i) !== "\n") i++;
    } else if (c === "$") {
      // A Grafana variable: $name or ${name}.
      i = expr.charAt(i + 1) === "{" ? skipBracket(i + 1) : i + 1;
      while (i < expr.length && identPart.test(expr.charAt(i))) i++;
    } else if (/[0-9.]/.test(c)) {
      // A number or a duration (5m, 1h30m, 1e3, 0x1f).
      while (i < expr.length && /[0-9A-Za-z._]/.test(expr.charAt(i))) i++;
    } else if (identStart.test(c)) {
      let j = i;
      while (j < expr.length && identPart.test(expr.charAt(j))) j++;
      const word = expr.slice(i, j);
      const next = skipSpace(j);
      if (LABEL_LIST_KEYWORDS.has(word.toLowerCase())) {
        i = expr.charAt(next) === "(" ? skipBracket(next) : next;
      } else if (
        expr.charAt(next) === "(" ||
        KEYWORDS.has(word.toLowerCase()) ||
        AGGREGATIONS.has(word.toLowerCase())
      ) {
        i = j;
      } else {
        if (!names.includes(word)) names.push(word);
        i = j;
      }
    } else {
      i++;
    }
  }
  return names;
}

/** Keywords followed by a parenthesised list of label names. */
const LABEL_LIST_KEYWORDS = new Set([
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
]);
/** Keywords and literals that are not metric names. */
const KEYWORDS = new Set(["and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"]);
/** Aggregation operators, which may be followed by `by (...)` before their `(`. */
const AGGREGATIONS = new Set([
  "sum",
  "min",
  "max",
  "avg",
  "group",
  "stddev",
  "stdvar",
  "count",
  "count_values",
  "bottomk",
  "topk",
  "quantile",
  "limitk",
  "limit_ratio",
]);

/**
 * The metric families a Prometheus text exposition declares (`# TYPE name type`), each with the
 * sample names a query may use: a histogram `x` gives `x_bucket`, `x_sum` and `x_count`, a summary
 * `x` gives `x`, `x_sum` and `x_count`; others give their own name.
 */
export function exposedSeriesNames(exposition: string): Set<string> {
  const names = new Set<string>();
  for (const match of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, name = "", type] = match;
    if (type === "histogram") {
      for (const suffix of ["_bucket", "_sum", "_count"]) names.add(name + suffix);
    } else if (type === "summary") {
      for (const suffix of ["", "_sum", "_count"]) names.add(name + suffix);
    } else {
      names.add(name);
    }
  }
  return names;
}
