/**
 * The operator's own check of an ElectionGroup spec: the same schema as the CRD, applied the way
 * the API server applies it, because a CRD can be installed without its schema or edited.
 *
 * Order, as in the API server: drop unknown fields and nulls (pruning), apply defaults, check the
 * OpenAPI schema (ajv, compiled once), then the CEL rules (re-implemented here, keyed by their
 * exact text) unless a value had the wrong type, in which case the API server skips CEL too.
 */
import { Ajv } from "ajv";
import {
  DEFAULT_LEASE_DURATION_SECONDS,
  DEFAULT_RENEW_DEADLINE_SECONDS,
  DEFAULT_RETRY_PERIOD_SECONDS,
  applyLeaseTimingDefaults,
} from "./defaults.ts";
import type { ErrorObject } from "ajv";
import {
  DNS_1035_LABEL_PATTERN,
  DNS_LABEL_PATTERN,
  DNS_SUBDOMAIN_PATTERN,
  IANA_SVC_NAME_PATTERN,
  IDENTITY_TEMPLATE_PATTERN,
  NON_EMPTY_LABEL_VALUE_PATTERN,
  QUALIFIED_NAME_PATTERN,
  QUALIFIED_NAME_PREFIX_PATTERN,
  RENEW_ABOVE_RETRY_RULE,
  RENEW_BELOW_DURATION_RULE,
  specSchema,
} from "./schema.ts";
import type { JSONSchemaProps } from "./schema.ts";
import type { ElectionGroupSpec } from "./types.ts";

/** One problem of a spec; `field` is the Kubernetes path, e.g. `spec.lease.renewDeadlineSeconds`. */
export interface FieldError {
  field: string;
  message: string;
}

export type ValidationResult =
  { ok: true; spec: ElectionGroupSpec } | { ok: false; errors: FieldError[] };

/**
 * Validates a spec and returns it with defaults applied, or every error found.
 *
 * Never mutates `spec`: it works on a clone. Unknown fields and null values are dropped, as the
 * API server's pruning does, rather than reported.
 */
export function validateSpec(spec: unknown): ValidationResult {
  if (!isObject(spec)) {
    return { ok: false, errors: [{ field: "spec", message: "must be an object" }] };
  }
  let copy: unknown;
  try {
    copy = structuredClone(spec);
  } catch {
    return { ok: false, errors: [{ field: "spec", message: "must be plain JSON data" }] };
  }
  prune(specSchema, copy);
  const schemaValid = compiledSpec(copy);
  // After ajv's defaults (spec.lease: {}, mode), before the CEL rules, which then see the timings.
  if (isObject(copy) && isObject(copy.lease)) applyLeaseTimingDefaults(copy.mode, copy.lease);
  const errors = (compiledSpec.errors ?? []).map(toFieldError);
  if ((compiledSpec.errors ?? []).some((e) => BLOCKING_KEYWORDS.has(e.keyword))) {
    errors.push({ field: "spec", message: RULES_NOT_CHECKED });
  } else {
    errors.push(
      ...checkRules(specSchema, copy, "spec"),
      ...checkMatchLabelKeys(copy),
      ...checkServicePorts(copy),
      ...checkProbePorts(copy),
    );
  }
  if (schemaValid && errors.length === 0) {
    return { ok: true, spec: copy as ElectionGroupSpec };
  }
  return { ok: false, errors: dedupe(errors) };
}

/**
 * Schema errors after which the API server does not run CEL rules (apiextensions-apiserver's
 * hasBlockingErr: wrong type, unsupported enum value, missing required field, too long, too many),
 * since the rules and their cost bounds assume a well-formed object.
 */
const BLOCKING_KEYWORDS = new Set([
  "type",
  "enum",
  "required",
  "maxLength",
  "maxItems",
  "maxProperties",
]);
const RULES_NOT_CHECKED =
  "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation";

// ---------------------------------------------------------------------------------------------
// CEL rules in TypeScript. Keys are the rules' exact text in schema.ts, so a rule edited there
// without its twin here is caught when this module loads (and by a unit test).

type RuleCheck = (self: unknown) => boolean;

const dnsSubdomain = new RegExp(DNS_SUBDOMAIN_PATTERN);
const qualifiedName = new RegExp(QUALIFIED_NAME_PATTERN);
const qualifiedNamePrefix = new RegExp(QUALIFIED_NAME_PREFIX_PATTERN);
const nonEmptyLabelValue = new RegExp(NON_EMPTY_LABEL_VALUE_PATTERN);
const identityTemplate = new RegExp(IDENTITY_TEMPLATE_PATTERN);
const dnsLabel = new RegExp(DNS_LABEL_PATTERN);
const dns1035Label = new RegExp(DNS_1035_LABEL_PATTERN);
const ianaSvcName = new RegExp(IANA_SVC_NAME_PATTERN);

const matches =
  (...patterns: RegExp[]): RuleCheck =>
  (self) =>
    typeof self === "string" && patterns.every((p) => p.test(self));

/** CEL `has(self.f) && size(self.f) > 0` for a list or map field. */
function nonEmpty(self: Record<string, unknown>, field: string): boolean {
  const v = self[field];
  if (Array.isArray(v)) return v.length > 0;
  return isObject(v) && Object.keys(v).length > 0;
}

function intField(self: Record<string, unknown>, field: string): number | undefined {
  const v = self[field];
  return typeof v === "number" ? v : undefined;
}

const onObject =
  (check: (self: Record<string, unknown>) => boolean): RuleCheck =>
  (self) =>
    isObject(self) && check(self);

export const celRules: Readonly<Record<string, RuleCheck>> = {
  [`self.matches('${QUALIFIED_NAME_PATTERN}') && self.matches('${QUALIFIED_NAME_PREFIX_PATTERN}')`]:
    matches(qualifiedName, qualifiedNamePrefix),
  [`self.matches('${DNS_SUBDOMAIN_PATTERN}')`]: matches(dnsSubdomain),
  [`self.matches('${NON_EMPTY_LABEL_VALUE_PATTERN}')`]: matches(nonEmptyLabelValue),
  [`self.matches('${IDENTITY_TEMPLATE_PATTERN}')`]: matches(identityTemplate),
  [`self.matches('${DNS_LABEL_PATTERN}')`]: matches(dnsLabel),
  [`self.matches('${DNS_1035_LABEL_PATTERN}')`]: matches(dns1035Label),
  "self.all(p, self.exists_one(q, q.port == p.port && q.protocol == p.protocol))": (self) =>
    Array.isArray(self) &&
    self.every(
      (p: unknown) =>
        isObject(p) &&
        self.filter((q: unknown) => isObject(q) && q.port === p.port && q.protocol === p.protocol)
          .length === 1,
    ),
  "!has(self.identity) || (has(self.mode) && self.mode == 'Observed')": onObject(
    (self) => self.identity === undefined || self.mode === "Observed",
  ),
  "!(self.operator in ['In', 'NotIn']) || (has(self.values) && size(self.values) > 0)": onObject(
    (self) => !(self.operator === "In" || self.operator === "NotIn") || nonEmpty(self, "values"),
  ),
  "!(self.operator in ['Exists', 'DoesNotExist']) || !has(self.values) || size(self.values) == 0":
    onObject(
      (self) =>
        !(self.operator === "Exists" || self.operator === "DoesNotExist") ||
        !nonEmpty(self, "values"),
    ),
  "!self.matches('^([a-z0-9.-]*[.])?(kubernetes|k8s)[.]io/')": (self) =>
    typeof self === "string" && !/^([a-z0-9.-]*[.])?(kubernetes|k8s)[.]io\//.test(self),
  "!(self in ['pod-template-hash', 'controller-revision-hash'])": (self) =>
    typeof self === "string" && self !== "pod-template-hash" && self !== "controller-revision-hash",
  "!has(self.selector) || !has(self.leaderLabel) || !has(self.leaderLabel.key) || ((!has(self.selector.matchLabels) || !(self.leaderLabel.key in self.selector.matchLabels)) && (!has(self.selector.matchExpressions) || self.selector.matchExpressions.all(e, e.key != self.leaderLabel.key)))":
    onObject((self) => {
      const { selector, leaderLabel } = self;
      if (!isObject(selector) || !isObject(leaderLabel) || typeof leaderLabel.key !== "string") {
        return true;
      }
      const key = leaderLabel.key;
      const labels = isObject(selector.matchLabels) ? selector.matchLabels : {};
      const expressions = Array.isArray(selector.matchExpressions) ? selector.matchExpressions : [];
      return !Object.hasOwn(labels, key) && expressions.every((e) => !isObject(e) || e.key !== key);
    }),
  "(has(self.matchLabels) && size(self.matchLabels) > 0) || (has(self.matchExpressions) && size(self.matchExpressions) > 0)":
    onObject((self) => nonEmpty(self, "matchLabels") || nonEmpty(self, "matchExpressions")),
  [RENEW_BELOW_DURATION_RULE]: onObject((self) => {
    const renew = intField(self, "renewDeadlineSeconds") ?? DEFAULT_RENEW_DEADLINE_SECONDS;
    const duration = intField(self, "durationSeconds") ?? DEFAULT_LEASE_DURATION_SECONDS;
    return renew < duration;
  }),
  [RENEW_ABOVE_RETRY_RULE]: onObject((self) => {
    const renew = intField(self, "renewDeadlineSeconds") ?? DEFAULT_RENEW_DEADLINE_SECONDS;
    const retry = intField(self, "retryPeriodSeconds") ?? DEFAULT_RETRY_PERIOD_SECONDS;
    return renew * 5 > retry * 6;
  }),
  "has(self.tcpSocket) != has(self.httpGet)": onObject(
    (self) => (self.tcpSocket !== undefined) !== (self.httpGet !== undefined),
  ),
  "!has(self.timeoutSeconds) || !has(self.periodSeconds) || self.timeoutSeconds <= self.periodSeconds":
    onObject((self) => {
      const timeout = intField(self, "timeoutSeconds");
      const period = intField(self, "periodSeconds");
      return timeout === undefined || period === undefined || timeout <= period;
    }),
};

/** Every CEL rule in `schema`, with the path of the node that carries it (for tests and docs). */
export function collectRules(
  schema: JSONSchemaProps,
  path = "",
): { path: string; rule: string; message: string; fieldPath?: string }[] {
  const out: { path: string; rule: string; message: string; fieldPath?: string }[] = [];
  for (const r of schema["x-kubernetes-validations"] ?? []) {
    out.push({ path, ...r });
  }
  for (const [name, child] of Object.entries(schema.properties ?? {})) {
    out.push(...collectRules(child, `${path}.${name}`));
  }
  if (schema.items) out.push(...collectRules(schema.items, `${path}[*]`));
  if (schema.additionalProperties) {
    out.push(...collectRules(schema.additionalProperties, `${path}[*]`));
  }
  return out;
}

for (const { path, rule } of collectRules(specSchema, "spec")) {
  if (!(rule in celRules)) {
    throw new Error(
      `src/api/validate.ts has no implementation of the CEL rule at ${path}: ${rule}`,
    );
  }
}

/** Runs the CEL rules of `schema` and its descendants over `value`, as the API server would. */
function checkRules(schema: JSONSchemaProps, value: unknown, path: string): FieldError[] {
  if (value === undefined) return [];
  const errors: FieldError[] = [];
  for (const r of schema["x-kubernetes-validations"] ?? []) {
    if (celRules[r.rule]?.(value) === false) {
      errors.push({ field: path + (r.fieldPath ?? ""), message: r.message });
    }
  }
  if (schema.properties && isObject(value)) {
    for (const [name, child] of Object.entries(schema.properties)) {
      errors.push(...checkRules(child, value[name], `${path}.${name}`));
    }
  }
  const items = schema.items;
  if (items && Array.isArray(value)) {
    value.forEach((item: unknown, i) => errors.push(...checkRules(items, item, `${path}[${i}]`)));
  }
  const additional = schema.additionalProperties;
  if (additional && isObject(value)) {
    for (const [key, v] of Object.entries(value)) {
      errors.push(...checkRules(additional, v, `${path}.${key}`));
    }
  }
  return errors;
}

/**
 * Operator-only: matchLabels keys must be qualified names, as in every built-in selector. The CRD
 * cannot say so: a structural schema has no propertyNames, and a CEL rule over map keys of
 * unbounded length exceeds the API server's cost limit. A key that is no label key can match no
 * pod, so refusing it here turns a silently empty group into an InvalidSpec event.
 */
function checkMatchLabelKeys(spec: unknown): FieldError[] {
  if (!isObject(spec) || !isObject(spec.selector) || !isObject(spec.selector.matchLabels)) {
    return [];
  }
  const isKey = matches(qualifiedName, qualifiedNamePrefix);
  return Object.keys(spec.selector.matchLabels)
    .filter((key) => !isKey(key))
    .map((key) => ({
      field: `spec.selector.matchLabels.${key}`,
      message: "key must be a qualified label key, e.g. app or app.kubernetes.io/name",
    }));
}

/**
 * Operator-only: spec.service.ports names are unique (the CRD's list-map key, which ajv does not
 * know) and each targetPort is a port number or a container port name. The CRD cannot check
 * targetPort with CEL: the cost of reading an IntOrString has no bound the API server accepts.
 */
function checkServicePorts(spec: unknown): FieldError[] {
  if (!isObject(spec) || !isObject(spec.service) || !Array.isArray(spec.service.ports)) return [];
  const errors: FieldError[] = [];
  const seen = new Set<unknown>();
  spec.service.ports.forEach((p: unknown, i) => {
    if (!isObject(p)) return;
    const field = `spec.service.ports[${String(i)}]`;
    if (seen.has(p.name)) errors.push({ field: `${field}.name`, message: "Duplicate value" });
    seen.add(p.name);
    const target = p.targetPort;
    if (typeof target === "number") {
      if (!Number.isInteger(target) || target < 1 || target > 65535) {
        errors.push({ field: `${field}.targetPort`, message: "must be between 1 and 65535" });
      }
    } else if (typeof target === "string" && !ianaSvcName.test(target)) {
      errors.push({
        field: `${field}.targetPort`,
        message:
          "must be a port number or a container port name: at most 15 lowercase alphanumeric characters or '-', with at least one letter, no '--', starting and ending with an alphanumeric character",
      });
    }
  });
  return errors;
}

/**
 * Operator-only: a probe's port is a number from 1 to 65535 or an IANA_SVC_NAME. The CRD cannot
 * say so cheaply: an IntOrString has no type for a CEL rule's cost estimate to bound, so the API
 * server accepts port 0 and the operator refuses it (InvalidSpec naming the field).
 */
function checkProbePorts(spec: unknown): FieldError[] {
  if (!isObject(spec) || !isObject(spec.failureDetection)) return [];
  const probe = spec.failureDetection.probe;
  if (!isObject(probe)) return [];
  const errors: FieldError[] = [];
  for (const handler of ["tcpSocket", "httpGet"] as const) {
    const h = probe[handler];
    if (!isObject(h)) continue;
    const field = `spec.failureDetection.probe.${handler}.port`;
    const port = h.port;
    if (typeof port === "number" && !(Number.isInteger(port) && port >= 1 && port <= 65535)) {
      errors.push({ field, message: "must be a port number from 1 to 65535 or a port name" });
    } else if (typeof port === "string" && !ianaSvcName.test(port)) {
      errors.push({
        field,
        message:
          "must be a port name (IANA_SVC_NAME: at most 15 lowercase letters, digits and '-', with a letter, no '--', no '-' at either end) or a number",
      });
    }
  }
  return errors;
}

// ---------------------------------------------------------------------------------------------
// Pruning: the API server drops fields the schema does not declare, and nulls of fields that are
// not nullable (before defaulting, so a null field gets its default).

function prune(schema: JSONSchemaProps, value: unknown): void {
  if (Array.isArray(value)) {
    const items = schema.items;
    if (items) for (const item of value) prune(items, item);
    return;
  }
  if (!isObject(value) || schema.type !== "object") return;
  for (const key of Object.keys(value)) {
    const child = schema.properties?.[key] ?? schema.additionalProperties;
    if (child === undefined || value[key] === null || value[key] === undefined) {
      // Computed keys are the only way to drop a field of a record we own (a fresh clone).
      // eslint-disable-next-line @typescript-eslint/no-dynamic-delete
      delete value[key];
    } else {
      prune(child, value[key]);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// ajv

/** A JSON Schema validator that knows the schema's Kubernetes keywords and formats. */
export function newSchemaAjv(): Ajv {
  const ajv = new Ajv({
    allErrors: true,
    useDefaults: true,
    strict: true,
    strictTypes: true,
    // The API server interprets the schema itself; these keywords matter to it, not to ajv.
    keywords: [
      "x-kubernetes-validations",
      "x-kubernetes-list-type",
      "x-kubernetes-list-map-keys",
      "x-kubernetes-map-type",
      "x-kubernetes-int-or-string",
    ],
  });
  ajv.addFormat("int32", {
    type: "number",
    validate: (n) => Number.isInteger(n) && n >= -2147483648 && n <= 2147483647,
  });
  ajv.addFormat("int64", { type: "number", validate: (n) => Number.isSafeInteger(n) });
  ajv.addFormat("date-time", {
    type: "string",
    validate: (s) =>
      /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/.test(s) &&
      !Number.isNaN(Date.parse(s)),
  });
  return ajv;
}

const compiledSpec = newSchemaAjv().compile(specSchema);

function toFieldError(e: ErrorObject): FieldError {
  const field = "spec" + instancePathToField(specSchema, e.instancePath);
  switch (e.keyword) {
    case "required": {
      const missing = (e.params as { missingProperty: string }).missingProperty;
      return { field: `${field}.${missing}`, message: "Required value" };
    }
    case "enum": {
      const allowed = (e.params as { allowedValues: unknown[] }).allowedValues;
      return {
        field,
        message: `Unsupported value: supported values: ${allowed.map((v) => JSON.stringify(v)).join(", ")}`,
      };
    }
    default:
      return { field, message: e.message ?? e.keyword };
  }
}

/** `/selector/matchExpressions/0/key` -> `.selector.matchExpressions[0].key`, as the API server writes it. */
function instancePathToField(schema: JSONSchemaProps, instancePath: string): string {
  if (instancePath === "") return "";
  let node: JSONSchemaProps | undefined = schema;
  let out = "";
  for (const raw of instancePath.slice(1).split("/")) {
    const segment = raw.replaceAll("~1", "/").replaceAll("~0", "~");
    if (node?.type === "array") {
      out += `[${segment}]`;
      node = node.items;
    } else if (node?.properties?.[segment]) {
      out += `.${segment}`;
      node = node.properties[segment];
    } else if (node?.additionalProperties) {
      out += `.${segment}`; // the API server's form for map entries, e.g. spec.selector.matchLabels.app
      node = node.additionalProperties;
    } else {
      out += `.${segment}`;
      node = undefined;
    }
  }
  return out;
}

function dedupe(errors: FieldError[]): FieldError[] {
  const seen = new Set<string>();
  return errors.filter((e) => {
    const key = `${e.field}\n${e.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
