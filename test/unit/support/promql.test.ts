import { describe, expect, it } from "vitest";
import { exposedSeriesNames, metricNames } from "../../support/promql.ts";

describe("metricNames", () => {
  it.each([
    ["up", ["up"]],
    ['up{job="a", instance=~"b.*"}', ["up"]],
    ['sum by (namespace, name) (podium_x{namespace=~"$namespace"})', ["podium_x"]],
    [
      "sum(rate(a_total[5m])) without (pod) / sum(rate(b_total[$__rate_interval]))",
      ["a_total", "b_total"],
    ],
    ["histogram_quantile(0.99, sum by (le) (rate(x_seconds_bucket[5m])))", ["x_seconds_bucket"]],
    ["count(a == 0) or vector(0)", ["a"]],
    ["a > bool 1 and on (pod) group_left (node) b unless c", ["a", "b", "c"]],
    ["max(a offset 1h30m) * 1e3", ["a"]],
    ['label_replace(a, "dst", "$1", "src", "(by|rate)")', ["a"]],
    ["rate(a[5m:30s]) + a", ["a"]],
    [
      'max(leader_election_master_status{name="x"}) < 1 or absent(leader_election_master_status)',
      ["leader_election_master_status"],
    ],
    ["sum(x) by (a) # a comment naming nothing_here", ["x"]],
    ["${ds_metric} + y", ["y"]],
    ["ns:metric:rate5m", ["ns:metric:rate5m"]],
  ])("reads %s", (expr, expected) => {
    expect(metricNames(expr)).toEqual(expected);
  });

  it.each(['a{job="x}', "sum(rate(a[5m)", "rate(a[5m"])(
    "refuses the broken expression %s",
    (expr) => {
      expect(() => metricNames(expr)).toThrow(/unterminated/);
    },
  );
});

describe("exposedSeriesNames", () => {
  it("names a histogram's series by their suffixes and counters and gauges by their own name", () => {
    const names = exposedSeriesNames(
      [
        "# HELP a_seconds A histogram.",
        "# TYPE a_seconds histogram",
        'a_seconds_bucket{le="1"} 0',
        "# TYPE b_total counter",
        "# TYPE c gauge",
        "# TYPE d summary",
      ].join("\n"),
    );
    expect([...names].sort()).toEqual(
      [
        "a_seconds_bucket",
        "a_seconds_count",
        "a_seconds_sum",
        "b_total",
        "c",
        "d",
        "d_count",
        "d_sum",
      ].sort(),
    );
    expect(names.has("a_seconds")).toBe(false);
  });
});
