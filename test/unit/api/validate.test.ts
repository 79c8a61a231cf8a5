import { describe, expect, it } from "vitest";
import { leaseName } from "../../../src/api/defaults.ts";
import { validateSpec } from "../../../src/api/validate.ts";
import type { LeaseSettings } from "../../../src/api/types.ts";
import type { FieldError } from "../../../src/api/validate.ts";

const base = { selector: { matchLabels: { app: "web" } } };

function errorsOf(spec: unknown): FieldError[] {
  const result = validateSpec(spec);
  if (result.ok) throw new Error(`expected ${JSON.stringify(spec)} to be rejected`);
  return result.errors;
}

describe("validateSpec: lease timing defaults by mode", () => {
  const timings = (lease: LeaseSettings) => ({
    durationSeconds: lease.durationSeconds,
    renewDeadlineSeconds: lease.renewDeadlineSeconds,
    retryPeriodSeconds: lease.retryPeriodSeconds,
  });
  it.each([
    ["Managed, no timing: renew every 60 s, valid 90 s", {}, undefined, [90, 60, 2]],
    ["Managed stated explicitly, no timing", {}, "Managed", [90, 60, 2]],
    ["Observed, no timing: client-go's", {}, "Observed", [15, 10, 2]],
    [
      "Managed, explicit 15/10/2 (an object stored before) kept",
      { durationSeconds: 15, renewDeadlineSeconds: 10, retryPeriodSeconds: 2 },
      undefined,
      [15, 10, 2],
    ],
    [
      "Managed, only a duration: the rest as client-go's",
      { durationSeconds: 30 },
      undefined,
      [30, 10, 2],
    ],
    [
      "Managed, only a retry period: the rest as client-go's",
      { retryPeriodSeconds: 5 },
      undefined,
      [15, 10, 5],
    ],
    ["Managed, only a name: no timing stated", { name: "x" }, undefined, [90, 60, 2]],
    [
      "Observed, explicit timings kept",
      { durationSeconds: 120, renewDeadlineSeconds: 60, retryPeriodSeconds: 10 },
      "Observed",
      [120, 60, 10],
    ],
  ] as [string, Record<string, unknown>, string | undefined, number[]][])(
    "%s",
    (_, lease, mode, [durationSeconds, renewDeadlineSeconds, retryPeriodSeconds]) => {
      const result = validateSpec({ ...base, lease, ...(mode === undefined ? {} : { mode }) });
      if (!result.ok) throw new Error(JSON.stringify(result.errors));
      expect(timings(result.spec.lease)).toEqual({
        durationSeconds,
        renewDeadlineSeconds,
        retryPeriodSeconds,
      });
    },
  );

  it("checks client-go's rules against the timings a partial spec gets", () => {
    // The API server admits this (its rules skip an absent field); podium rejects it by name.
    expect(errorsOf({ ...base, lease: { durationSeconds: 5 } }).map((e) => e.field)).toContain(
      "spec.lease.renewDeadlineSeconds",
    );
  });
});

describe("validateSpec: defaults", () => {
  it("applies every default to a minimal spec, as the API server would", () => {
    expect(validateSpec(base)).toEqual({
      ok: true,
      spec: {
        selector: { matchLabels: { app: "web" } },
        mode: "Managed",
        lease: { durationSeconds: 90, renewDeadlineSeconds: 60, retryPeriodSeconds: 2 },
        leaderLabel: { key: "role", value: "leader" },
        notReadyToleranceSeconds: 0,
        paused: false,
        failureDetection: { nodeHeartbeatGraceSeconds: 18 },
        cutover: { mode: "Immediate", timeoutSeconds: 5 },
        handover: { mode: "OnRollout", settleSeconds: 0 },
      },
    });
  });

  it("fills a probe's defaults: 1 s period and timeout, 2 failures, GET / over HTTP", () => {
    const result = validateSpec({
      ...base,
      failureDetection: { probe: { httpGet: { port: "http" } } },
    });
    expect(result.ok && result.spec.failureDetection).toEqual({
      nodeHeartbeatGraceSeconds: 18,
      probe: {
        httpGet: { port: "http", path: "/", scheme: "HTTP" },
        periodSeconds: 1,
        timeoutSeconds: 1,
        failureThreshold: 2,
      },
    });
  });

  it("fills the nested defaults of a partly given lease and leader label", () => {
    const result = validateSpec({
      ...base,
      lease: { name: "web-lease", durationSeconds: 30 },
      leaderLabel: { key: "example.com/leader" },
    });
    expect(result.ok && result.spec.lease).toEqual({
      name: "web-lease",
      durationSeconds: 30,
      renewDeadlineSeconds: 10,
      retryPeriodSeconds: 2,
    });
    expect(result.ok && result.spec.leaderLabel).toEqual({
      key: "example.com/leader",
      value: "leader",
    });
  });

  it("treats null like absent and drops unknown fields (pruning)", () => {
    const result = validateSpec({ ...base, mode: null, lease: null, paused: null, bogus: 1 });
    expect(result.ok && result.spec.mode).toBe("Managed");
    expect(result.ok && result.spec.lease.durationSeconds).toBe(90);
    expect(result.ok && result.spec.paused).toBe(false);
    expect(result.ok && "bogus" in result.spec).toBe(false);
  });

  it("never mutates the caller's object", () => {
    const spec = { selector: { matchLabels: { app: "web" } }, lease: {}, extra: true };
    const before = structuredClone(spec);
    const result = validateSpec(spec);
    expect(result.ok).toBe(true);
    expect(spec).toEqual(before);
    expect(result.ok && result.spec.selector).not.toBe(spec.selector);
  });

  it("returns fresh defaults on each call", () => {
    const a = validateSpec(base);
    const b = validateSpec(base);
    expect(a.ok && b.ok && a.spec.lease).not.toBe(b.ok && b.spec.lease);
  });
});

describe("validateSpec: valid specs", () => {
  it("accepts the example of DESIGN §1", () => {
    const spec = {
      selector: { matchLabels: { app: "web" } },
      mode: "Managed",
      lease: { name: "web", durationSeconds: 15, renewDeadlineSeconds: 10, retryPeriodSeconds: 2 },
      leaderLabel: { key: "role", value: "leader" },
      preferredHolder: "web-0",
      notReadyToleranceSeconds: 0,
      paused: false,
      failureDetection: { nodeHeartbeatGraceSeconds: 18 },
      cutover: { mode: "Immediate", timeoutSeconds: 5 },
      handover: { mode: "OnRollout", settleSeconds: 0 },
    };
    expect(validateSpec(spec)).toEqual({ ok: true, spec });
  });

  it.each([
    ["Observed mode", { ...base, mode: "Observed" }],
    [
      "matchExpressions only",
      {
        selector: {
          matchExpressions: [
            { key: "app.kubernetes.io/name", operator: "In", values: ["web", "api"] },
            { key: "tier", operator: "NotIn", values: [""] },
            { key: "canary", operator: "DoesNotExist" },
            { key: "example.com/team", operator: "Exists", values: [] },
          ],
        },
      },
    ],
    [
      "empty matchLabels next to matchExpressions",
      { selector: { matchLabels: {}, matchExpressions: [{ key: "a", operator: "Exists" }] } },
    ],
    [
      "a prefixed leader label",
      { ...base, leaderLabel: { key: "podium.dev/role", value: "Primary_1.a" } },
    ],
    [
      "the tightest timings",
      { ...base, lease: { durationSeconds: 3, renewDeadlineSeconds: 2, retryPeriodSeconds: 1 } },
    ],
    [
      "the largest timings",
      {
        ...base,
        lease: { durationSeconds: 3600, renewDeadlineSeconds: 3599, retryPeriodSeconds: 600 },
        notReadyToleranceSeconds: 3600,
      },
    ],
    [
      "renewDeadline just above 1.2 x retry",
      { ...base, lease: { renewDeadlineSeconds: 7, retryPeriodSeconds: 5 } },
    ],
    ["a StatefulSet pod as preferred holder", { ...base, preferredHolder: "db-2", paused: true }],
    ["a 253-character prefix", { ...base, leaderLabel: { key: `${"a".repeat(253)}/x` } }],
  ])("accepts %s", (_name, spec) => {
    const result = validateSpec(spec);
    expect(result.ok ? [] : result.errors).toEqual([]);
  });
});

describe("validateSpec: invalid specs name the field", () => {
  const lease = (l: Record<string, unknown>) => ({ ...base, lease: l });
  const label = (l: Record<string, unknown>) => ({ ...base, leaderLabel: l });
  const expr = (e: Record<string, unknown>) => ({ selector: { matchExpressions: [e] } });

  it.each<[string, unknown, string]>([
    ["missing selector", {}, "spec.selector"],
    ["empty selector", { selector: {} }, "spec.selector"],
    [
      "selector with empty lists",
      { selector: { matchLabels: {}, matchExpressions: [] } },
      "spec.selector",
    ],
    ["selector of the wrong type", { selector: "app=web" }, "spec.selector"],
    [
      "renewDeadline equal to duration",
      lease({ durationSeconds: 10, renewDeadlineSeconds: 10 }),
      "spec.lease.renewDeadlineSeconds",
    ],
    [
      "renewDeadline above duration",
      lease({ durationSeconds: 5 }),
      "spec.lease.renewDeadlineSeconds",
    ],
    [
      "renewDeadline equal to retry (2 and 2)",
      lease({ renewDeadlineSeconds: 2, retryPeriodSeconds: 2 }),
      "spec.lease.renewDeadlineSeconds",
    ],
    [
      "renewDeadline exactly 1.2 x retry",
      lease({ renewDeadlineSeconds: 6, retryPeriodSeconds: 5 }),
      "spec.lease.renewDeadlineSeconds",
    ],
    ["zero duration", lease({ durationSeconds: 0 }), "spec.lease.durationSeconds"],
    [
      "negative renewDeadline",
      lease({ renewDeadlineSeconds: -1 }),
      "spec.lease.renewDeadlineSeconds",
    ],
    ["zero retry period", lease({ retryPeriodSeconds: 0 }), "spec.lease.retryPeriodSeconds"],
    ["huge duration", lease({ durationSeconds: 3601 }), "spec.lease.durationSeconds"],
    [
      "huge retry period",
      lease({ durationSeconds: 3600, renewDeadlineSeconds: 3000, retryPeriodSeconds: 601 }),
      "spec.lease.retryPeriodSeconds",
    ],
    ["fractional duration", lease({ durationSeconds: 15.5 }), "spec.lease.durationSeconds"],
    ["duration as a string", lease({ durationSeconds: "15" }), "spec.lease.durationSeconds"],
    [
      "negative tolerance",
      { ...base, notReadyToleranceSeconds: -1 },
      "spec.notReadyToleranceSeconds",
    ],
    [
      "huge tolerance",
      { ...base, notReadyToleranceSeconds: 86400 },
      "spec.notReadyToleranceSeconds",
    ],
    [
      "heartbeat grace below the kubelet's cadence",
      { ...base, failureDetection: { nodeHeartbeatGraceSeconds: 1 } },
      "spec.failureDetection.nodeHeartbeatGraceSeconds",
    ],
    [
      "a probe with neither tcpSocket nor httpGet",
      { ...base, failureDetection: { probe: {} } },
      "spec.failureDetection.probe",
    ],
    [
      "a probe with both tcpSocket and httpGet",
      { ...base, failureDetection: { probe: { tcpSocket: { port: 1 }, httpGet: { port: 1 } } } },
      "spec.failureDetection.probe",
    ],
    [
      "a probe timeout longer than its period",
      { ...base, failureDetection: { probe: { tcpSocket: { port: 80 }, timeoutSeconds: 2 } } },
      "spec.failureDetection.probe.timeoutSeconds",
    ],
    [
      "a probe port 0",
      { ...base, failureDetection: { probe: { tcpSocket: { port: 0 } } } },
      "spec.failureDetection.probe.tcpSocket.port",
    ],
    [
      "a probe port above 65535",
      { ...base, failureDetection: { probe: { httpGet: { port: 65536 } } } },
      "spec.failureDetection.probe.httpGet.port",
    ],
    [
      "a probe port name with a double hyphen",
      { ...base, failureDetection: { probe: { httpGet: { port: "my--port" } } } },
      "spec.failureDetection.probe.httpGet.port",
    ],
    [
      "a probe port name of digits only",
      { ...base, failureDetection: { probe: { tcpSocket: { port: "8080" } } } },
      "spec.failureDetection.probe.tcpSocket.port",
    ],
    [
      "a probe path without its slash",
      { ...base, failureDetection: { probe: { httpGet: { port: 80, path: "healthz" } } } },
      "spec.failureDetection.probe.httpGet.path",
    ],
    [
      "a probe scheme in lowercase",
      { ...base, failureDetection: { probe: { httpGet: { port: 80, scheme: "https" } } } },
      "spec.failureDetection.probe.httpGet.scheme",
    ],
    [
      "a probe failure threshold of 0",
      { ...base, failureDetection: { probe: { tcpSocket: { port: 80 }, failureThreshold: 0 } } },
      "spec.failureDetection.probe.failureThreshold",
    ],
    [
      "heartbeat grace as a string",
      { ...base, failureDetection: { nodeHeartbeatGraceSeconds: "15s" } },
      "spec.failureDetection.nodeHeartbeatGraceSeconds",
    ],
    ["unknown hand-over mode", { ...base, handover: { mode: "Always" } }, "spec.handover.mode"],
    [
      "negative hand-over settle time",
      { ...base, handover: { settleSeconds: -1 } },
      "spec.handover.settleSeconds",
    ],
    ["paused as a string", { ...base, paused: "true" }, "spec.paused"],
    ["unknown mode", { ...base, mode: "Elected" }, "spec.mode"],
    ["lowercase mode", { ...base, mode: "managed" }, "spec.mode"],
    ["bad lease name", lease({ name: "Web_Lease" }), "spec.lease.name"],
    ["lease name too long", lease({ name: "a".repeat(254) }), "spec.lease.name"],
    ["leader label key with a space", label({ key: "my role" }), "spec.leaderLabel.key"],
    ["leader label key with two slashes", label({ key: "a/b/c" }), "spec.leaderLabel.key"],
    [
      "leader label key with an uppercase prefix",
      label({ key: "Example.com/role" }),
      "spec.leaderLabel.key",
    ],
    ["leader label key name over 63", label({ key: "a".repeat(64) }), "spec.leaderLabel.key"],
    [
      "leader label key prefix over 253",
      label({ key: `${"a".repeat(254)}/x` }),
      "spec.leaderLabel.key",
    ],
    ["empty leader label key", label({ key: "" }), "spec.leaderLabel.key"],
    [
      "leader label key that is a matchLabels key of the selector",
      label({ key: "app", value: "leader" }),
      "spec.leaderLabel.key",
    ],
    [
      "leader label key that a matchExpressions requirement reads",
      {
        selector: { matchExpressions: [{ key: "tier", operator: "In", values: ["fe3"] }] },
        leaderLabel: { key: "tier", value: "fe3" },
      },
      "spec.leaderLabel.key",
    ],
    [
      "leader label key under kubernetes.io/",
      label({ key: "kubernetes.io/role" }),
      "spec.leaderLabel.key",
    ],
    [
      "leader label key under a kubernetes.io subdomain",
      label({ key: "statefulset.kubernetes.io/pod-name" }),
      "spec.leaderLabel.key",
    ],
    ["leader label key under k8s.io/", label({ key: "k8s.io/leader" }), "spec.leaderLabel.key"],
    [
      "leader label key pod-template-hash",
      label({ key: "pod-template-hash" }),
      "spec.leaderLabel.key",
    ],
    [
      "leader label key controller-revision-hash",
      label({ key: "controller-revision-hash" }),
      "spec.leaderLabel.key",
    ],
    ["empty leader label value", label({ value: "" }), "spec.leaderLabel.value"],
    ["leader label value ending in a dash", label({ value: "leader-" }), "spec.leaderLabel.value"],
    ["leader label value over 63", label({ value: "a".repeat(64) }), "spec.leaderLabel.value"],
    [
      "matchLabels value with a slash",
      { selector: { matchLabels: { app: "a/b" } } },
      "spec.selector.matchLabels.app",
    ],
    [
      "matchLabels value as a number",
      { selector: { matchLabels: { app: 1 } } },
      "spec.selector.matchLabels.app",
    ],
    [
      "matchLabels key that is no label key",
      { selector: { matchLabels: { "-app": "web" } } },
      "spec.selector.matchLabels.-app",
    ],
    [
      "bad operator",
      expr({ key: "app", operator: "Equals", values: ["web"] }),
      "spec.selector.matchExpressions[0].operator",
    ],
    [
      "In without values",
      expr({ key: "app", operator: "In" }),
      "spec.selector.matchExpressions[0].values",
    ],
    [
      "NotIn with empty values",
      expr({ key: "app", operator: "NotIn", values: [] }),
      "spec.selector.matchExpressions[0].values",
    ],
    [
      "Exists with values",
      expr({ key: "app", operator: "Exists", values: ["web"] }),
      "spec.selector.matchExpressions[0].values",
    ],
    [
      "DoesNotExist with values",
      expr({ key: "app", operator: "DoesNotExist", values: ["x"] }),
      "spec.selector.matchExpressions[0].values",
    ],
    [
      "expression without key",
      expr({ operator: "Exists" }),
      "spec.selector.matchExpressions[0].key",
    ],
    [
      "expression with a bad key",
      expr({ key: "app!", operator: "Exists" }),
      "spec.selector.matchExpressions[0].key",
    ],
    [
      "expression with a bad value",
      expr({ key: "app", operator: "In", values: ["we b"] }),
      "spec.selector.matchExpressions[0].values[0]",
    ],
    [
      "preferredHolder with uppercase",
      { ...base, preferredHolder: "Web-0" },
      "spec.preferredHolder",
    ],
    [
      "preferredHolder with underscore",
      { ...base, preferredHolder: "web_0" },
      "spec.preferredHolder",
    ],
    ["empty preferredHolder", { ...base, preferredHolder: "" }, "spec.preferredHolder"],
    ["preferredHolder as a number", { ...base, preferredHolder: 0 }, "spec.preferredHolder"],
    ["lease of the wrong type", { ...base, lease: 15 }, "spec.lease"],
    [
      "too many matchExpressions",
      {
        selector: {
          matchExpressions: Array.from({ length: 33 }, () => ({ key: "a", operator: "Exists" })),
        },
      },
      "spec.selector.matchExpressions",
    ],
  ])("rejects %s (%j) at %s", (_name, spec, field) => {
    expect(errorsOf(spec).map((e) => e.field)).toContain(field);
  });

  it("rejects what is not an object", () => {
    for (const spec of [undefined, null, "spec", 1, []]) {
      expect(errorsOf(spec)).toEqual([{ field: "spec", message: "must be an object" }]);
    }
  });

  it("reports the CEL messages of the CRD", () => {
    expect(errorsOf(lease({ renewDeadlineSeconds: 2, retryPeriodSeconds: 2 }))).toEqual([
      {
        field: "spec.lease.renewDeadlineSeconds",
        message: "renewDeadlineSeconds must be greater than 1.2 x retryPeriodSeconds",
      },
    ]);
    expect(errorsOf({ selector: {} })).toEqual([
      {
        field: "spec.selector",
        message:
          "selector must not be empty: set at least one matchLabels entry or matchExpressions requirement",
      },
    ]);
  });

  it("reports every error at once", () => {
    const fields = errorsOf({
      selector: {},
      lease: { durationSeconds: 10, renewDeadlineSeconds: 10 },
      preferredHolder: "X",
    }).map((e) => e.field);
    expect(fields).toEqual(
      expect.arrayContaining([
        "spec.selector",
        "spec.lease.renewDeadlineSeconds",
        "spec.preferredHolder",
      ]),
    );
  });

  it("skips the CEL rules after a type error, like the API server", () => {
    const errors = errorsOf({ selector: {}, paused: "yes" });
    expect(errors.map((e) => e.field)).toEqual(["spec.paused", "spec"]);
    expect(errors[1]?.message).toMatch(/some validation rules were not checked/);
  });

  it("names the supported values of an enum", () => {
    expect(errorsOf({ ...base, mode: "Elected" })).toEqual([
      { field: "spec.mode", message: 'Unsupported value: supported values: "Managed", "Observed"' },
      {
        field: "spec",
        message:
          "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
      },
    ]);
  });
});

describe("leaseName", () => {
  it("is spec.lease.name when set", () => {
    expect(leaseName({ metadata: { name: "web" }, spec: { lease: { name: "web-lock" } } })).toBe(
      "web-lock",
    );
  });

  it("is the group's name otherwise", () => {
    expect(leaseName({ metadata: { name: "web" }, spec: { lease: {} } })).toBe("web");
  });
});

describe("validateSpec: spec.identity", () => {
  const observed = { ...base, mode: "Observed" };
  it.each([
    "{hostname}-external-cert-manager-controller",
    "{podName}",
    "{hostname}_{uuid}",
    "worker/{podName}/{uuid}{any}",
  ])("accepts the template %s in Observed mode", (template) => {
    const result = validateSpec({ ...observed, identity: { template } });
    expect(result.ok && result.spec.identity).toEqual({ template });
  });

  it.each([
    ["no pod placeholder", "{uuid}-controller"],
    ["two pod placeholders", "{podName}-{hostname}"],
    ["an unknown placeholder", "{hostname}-{namespace}"],
    ["a stray brace", "{hostname}}"],
    ["empty", ""],
  ])("refuses a template with %s", (_, template) => {
    const errors = errorsOf({ ...observed, identity: { template } });
    expect(errors.some((e) => e.field === "spec.identity.template")).toBe(true);
  });

  it("refuses identity in Managed mode, naming the field", () => {
    expect(errorsOf({ ...base, identity: { template: "{podName}" } })).toContainEqual({
      field: "spec.identity",
      message:
        "identity applies to Observed mode only: in Managed mode podium writes the pod's name as holderIdentity",
    });
  });
});

describe("validateSpec: spec.service (EndpointSlice mode)", () => {
  const port = { name: "pg", port: 5432, targetPort: "postgres" };

  it("accepts a port by container port name or number and defaults the protocol to TCP", () => {
    const result = validateSpec({
      ...base,
      service: { name: "db", ports: [port, { name: "metrics", port: 9090, targetPort: 9187 }] },
    });
    expect(result.ok && result.spec.service).toEqual({
      name: "db",
      ports: [
        { ...port, protocol: "TCP" },
        { name: "metrics", port: 9090, targetPort: 9187, protocol: "TCP" },
      ],
    });
  });

  it.each([
    [
      "a Service name that is no RFC 1035 label",
      { name: "1db", ports: [port] },
      "spec.service.name",
    ],
    ["no port", { name: "db", ports: [] }, "spec.service.ports"],
    [
      "a port out of range",
      { name: "db", ports: [{ ...port, port: 70000 }] },
      "spec.service.ports[0].port",
    ],
    [
      "a target port number out of range",
      { name: "db", ports: [{ ...port, targetPort: 0 }] },
      "spec.service.ports[0].targetPort",
    ],
    [
      "a target port name that is no container port name",
      { name: "db", ports: [{ ...port, targetPort: "Postgres_SQL" }] },
      "spec.service.ports[0].targetPort",
    ],
    [
      "a port name used twice",
      { name: "db", ports: [port, { ...port, port: 1 }] },
      "spec.service.ports[1].name",
    ],
    [
      "the same port and protocol twice",
      { name: "db", ports: [port, { ...port, name: "other" }] },
      "spec.service.ports",
    ],
    [
      "an unknown protocol",
      { name: "db", ports: [{ ...port, protocol: "HTTP" }] },
      "spec.service.ports[0].protocol",
    ],
    [
      "a missing target port",
      { name: "db", ports: [{ name: "pg", port: 5432 }] },
      "spec.service.ports[0].targetPort",
    ],
  ])("refuses %s, naming the field", (_what, service, field) => {
    expect(errorsOf({ ...base, service }).map((e) => e.field)).toContain(field);
  });
});
