import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { load } from "js-yaml";
import { root } from "../support/install.ts";
import { startOperator, stopAllOperators } from "../support/operator.ts";
import type { OperatorProcess } from "../support/operator.ts";
import { exposedSeriesNames, metricNames } from "../support/promql.ts";

interface Target {
  expr?: string;
}
interface Panel {
  title: string;
  targets?: Target[];
  panels?: Panel[];
}
interface Dashboard {
  panels: Panel[];
  templating: { list: { name: string; query?: string | { query: string } }[] };
}

/** Every PromQL expression of the dashboard: panel targets and label_values() variables, by where they are. */
function dashboardExpressions(dashboard: Dashboard): [string, string][] {
  const out: [string, string][] = [];
  const visit = (panel: Panel): void => {
    for (const target of panel.targets ?? []) {
      if (target.expr) out.push([`panel "${panel.title}"`, target.expr]);
    }
    for (const child of panel.panels ?? []) visit(child);
  };
  for (const panel of dashboard.panels) visit(panel);
  for (const variable of dashboard.templating.list) {
    const query = typeof variable.query === "string" ? variable.query : variable.query?.query;
    // label_values(METRIC, LABEL): only METRIC is a metric; the label is not.
    const metric = /^label_values\(\s*([^,]+),/.exec(query ?? "")?.[1];
    if (metric) out.push([`variable $${variable.name}`, metric]);
  }
  return out;
}

// Every expression a user looks at (the dashboard) or is paged by (the alerts) must name
// series that a running operator exports; a renamed metric would otherwise leave a panel
// empty or an alert silent.
describe("the Grafana dashboard and the Prometheus alerts", () => {
  let operator: OperatorProcess;
  let exported: Set<string>;

  beforeAll(async () => {
    operator = await startOperator(inject("operatorKubeconfig"), {
      args: ["--leader-elect", "--leader-election-namespace=podium-system"],
    });
    exported = exposedSeriesNames(await operator.metrics());
  });

  afterAll(async () => {
    await stopAllOperators();
  });

  it("the operator exports its metric families (the check below is not vacuous)", () => {
    expect(exported.has("podium_electiongroup_transitions_total")).toBe(true);
    expect(exported.has("podium_failover_seconds_bucket")).toBe(true);
    expect(exported.has("process_resident_memory_bytes")).toBe(true);
  });

  it("names in config/grafana/podium-dashboard.json only series the operator exports", () => {
    const dashboard = JSON.parse(
      readFileSync(path.join(root, "config/grafana/podium-dashboard.json"), "utf8"),
    ) as Dashboard;
    const expressions = dashboardExpressions(dashboard);
    expect(expressions.length).toBeGreaterThan(20);
    const unknown = expressions.flatMap(([where, expr]) =>
      metricNames(expr)
        .filter((name) => !exported.has(name))
        .map((name) => `${where}: ${name} in ${expr}`),
    );
    expect(unknown).toEqual([]);
  });

  it("names in config/prometheus/rules.yaml only series the operator exports", () => {
    const rule = load(readFileSync(path.join(root, "config/prometheus/rules.yaml"), "utf8")) as {
      spec: { groups: { rules: { alert: string; expr: string }[] }[] };
    };
    const rules = rule.spec.groups.flatMap((g) => g.rules);
    expect(rules.length).toBeGreaterThan(0);
    const unknown = rules.flatMap((r) =>
      metricNames(r.expr)
        .filter((name) => !exported.has(name))
        .map((name) => `${r.alert}: ${name}`),
    );
    expect(unknown).toEqual([]);
  });
});
