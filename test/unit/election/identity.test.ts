import { describe, expect, it } from "vitest";
import { describeMapping, kubeletHostname, mapHolder } from "../../../src/election/identity.ts";
import type { IdentityFormat } from "../../../src/api/types.ts";
import type { PodView } from "../../../src/election/types.ts";
import { pod } from "./fixtures.ts";

const UUID = "0b4ea3ac-5c1e-4c27-9a2f-3f1d3c1f2e4a";
/** A pod name of 70 characters, whose kubelet hostname is cut to 63 and loses a trailing '-'. */
const LONG = `${"a".repeat(62)}-bcdefgh`;

interface Case {
  holder: string;
  pods: PodView[];
  identity?: IdentityFormat;
  /** The pod it maps to and by which rule; or undefined for none. */
  want: { pod: string; rule: string } | undefined;
  /** For none: phrases the message must contain. */
  tried?: string[];
  ambiguous?: string[];
}

const web = [pod("web-7c9f6-abcde"), pod("web-7c9f6-fghij")];

const cases: Record<string, Case> = {
  "the pod's name (client-go --id=$(POD_NAME))": {
    holder: "web-7c9f6-abcde",
    pods: web,
    want: { pod: "web-7c9f6-abcde", rule: "podName" },
  },
  "<hostname>_<uuid> (controller-runtime, kube-controller-manager, kube-scheduler)": {
    holder: `web-7c9f6-fghij_${UUID}`,
    pods: web,
    want: { pod: "web-7c9f6-fghij", rule: "hostnameUUID" },
  },
  "<hostname>_<uuid> with an upper-case uuid": {
    holder: `web-7c9f6-fghij_${UUID.toUpperCase()}`,
    pods: web,
    want: { pod: "web-7c9f6-fghij", rule: "hostnameUUID" },
  },
  "the bare hostname, from spec.hostname": {
    holder: "primary",
    pods: [pod("db-0", { hostname: "primary" }), pod("db-1", { hostname: "replica" })],
    want: { pod: "db-0", rule: "hostname" },
  },
  "spec.hostname over the pod's name for <hostname>_<uuid>": {
    holder: `primary_${UUID}`,
    pods: [pod("db-0", { hostname: "primary" }), pod("primary-x")],
    want: { pod: "db-0", rule: "hostnameUUID" },
  },
  "a long pod name as the kubelet cuts it (63 characters, trailing '-' removed)": {
    holder: `${"a".repeat(62)}_${UUID}`,
    pods: [pod(LONG), pod("other")],
    want: { pod: LONG, rule: "hostnameUUID" },
  },
  "a hostNetwork pod by its node's hostname": {
    holder: `node-2_${UUID}`,
    pods: [
      pod("agent-x", { hostNetwork: true, nodeName: "node-1" }),
      pod("agent-y", { hostNetwork: true, nodeName: "node-2" }),
    ],
    want: { pod: "agent-y", rule: "hostnameUUID" },
  },
  "a hostNetwork pod on a node registered under its FQDN": {
    holder: "ip-10-0-0-7",
    pods: [pod("agent-x", { hostNetwork: true, nodeName: "ip-10-0-0-7.ec2.internal" })],
    want: { pod: "agent-x", rule: "hostname" },
  },
  "two hostNetwork pods of the group on one node: ambiguous, no pod": {
    holder: `node-1_${UUID}`,
    pods: [
      pod("agent-x", { hostNetwork: true, nodeName: "node-1" }),
      pod("agent-y", { hostNetwork: true, nodeName: "node-1" }),
    ],
    want: undefined,
    ambiguous: ["agent-x", "agent-y"],
  },
  "a hostNetwork pod does not answer to its own name's hostname": {
    holder: `agent-x_${UUID}`,
    pods: [pod("agent-x", { hostNetwork: true, nodeName: "node-1" })],
    want: undefined,
  },
  "pods sharing one spec.hostname: ambiguous, no pod": {
    holder: `shared_${UUID}`,
    pods: [pod("a", { hostname: "shared" }), pod("b", { hostname: "shared" })],
    want: undefined,
    tried: ["fits a, b: more than one pod"],
    ambiguous: ["a", "b"],
  },
  "spec.identity with {hostname} (cert-manager's suffix)": {
    holder: "cm-5d8f7-k2x9p-external-cert-manager-controller",
    pods: [pod("cm-5d8f7-k2x9p"), pod("cm-5d8f7-q8w4z")],
    identity: { template: "{hostname}-external-cert-manager-controller" },
    want: { pod: "cm-5d8f7-k2x9p", rule: "template" },
  },
  "spec.identity with {podName}, {uuid} and {any}": {
    holder: `worker/web-1/${UUID}/v2`,
    pods: [pod("web-1"), pod("web-2")],
    identity: { template: "worker/{podName}/{uuid}{any}" },
    want: { pod: "web-1", rule: "template" },
  },
  "spec.identity that fits two pods through {any}: ambiguous, no pod": {
    holder: "web-10-x",
    pods: [pod("web-1"), pod("web-10")],
    identity: { template: "{podName}{any}" },
    want: undefined,
    ambiguous: ["web-1", "web-10"],
  },
  "an ambiguous template does not fall through to a later format": {
    holder: `web-1_${UUID}`,
    pods: [pod("web-1"), pod("web-1_")],
    identity: { template: "{podName}{any}" },
    want: undefined,
    ambiguous: ["web-1", "web-1_"],
  },
  "the exact name wins over a template": {
    holder: "web-1",
    pods: [pod("web-1"), pod("web")],
    identity: { template: "{podName}-1" },
    want: { pod: "web-1", rule: "podName" },
  },
  "a template that fits no pod, then the built-in formats": {
    holder: `web-2_${UUID}`,
    pods: [pod("web-1"), pod("web-2")],
    identity: { template: "{hostname}-external-cert-manager-controller" },
    want: { pod: "web-2", rule: "hostnameUUID" },
  },
  "a stranger: every format tried, said in the message": {
    holder: "stranger",
    pods: web,
    want: undefined,
    tried: [
      "holder stranger: no pod named stranger",
      "spec.identity not set",
      "no pod with hostname stranger",
      "not <hostname>_<uuid>",
    ],
  },
  "<hostname>_<uuid> whose hostname is no pod's": {
    holder: `gone-pod_${UUID}`,
    pods: web,
    want: undefined,
    tried: [`<hostname>_<uuid> with no pod with hostname gone-pod`],
  },
  "a suffix that is no uuid is not <hostname>_<uuid>": {
    holder: "web-7c9f6-abcde_1",
    pods: web,
    want: undefined,
    tried: ["not <hostname>_<uuid>"],
  },
  "a prefix of a pod's name is not its hostname": {
    holder: `web-7c9f6_${UUID}`,
    pods: web,
    want: undefined,
  },
  "no pods": {
    holder: "web-0",
    pods: [],
    want: undefined,
  },
};

describe("mapHolder", () => {
  for (const [name, c] of Object.entries(cases)) {
    it(name, () => {
      const mapping = mapHolder(c.holder, c.pods, c.identity);
      const message = describeMapping(mapping);
      if (c.want === undefined) {
        expect(mapping.kind, message).toBe("none");
      } else {
        expect(
          mapping.kind === "pod" ? { pod: mapping.pod.name, rule: mapping.rule } : message,
        ).toEqual(c.want);
      }
      for (const phrase of c.tried ?? []) expect(message).toContain(phrase);
      if (c.ambiguous) {
        expect(mapping.kind === "none" ? mapping.ambiguous : undefined).toEqual(c.ambiguous);
      }
    });
  }
});

describe("mapHolder with a template", () => {
  it("takes linear steps per {any}, not exponential, on a long holder that does not fit", () => {
    const template = `{podName}${"{any}-".repeat(12)}x`;
    const holder = `web-1${"-".repeat(20_000)}`;
    const mapping = mapHolder(holder, [pod("web-1")], { template });
    expect(mapping.kind).toBe("none");
  });

  it("matches {uuid} only where a uuid's hex digits and dashes are", () => {
    const identity = { template: "{podName}.{uuid}" };
    expect(mapHolder(`web-1.${UUID}`, [pod("web-1")], identity).kind).toBe("pod");
    expect(mapHolder(`web-1.${UUID.replace("-", "x")}`, [pod("web-1")], identity).kind).toBe(
      "none",
    );
    expect(mapHolder(`web-1.${UUID}0`, [pod("web-1")], identity).kind).toBe("none");
  });

  it("fits the short name of a hostNetwork pod's node", () => {
    const agent = pod("agent-x", { hostNetwork: true, nodeName: "ip-10-0-0-7.ec2.internal" });
    const identity = { template: "{hostname}-agent" };
    expect(mapHolder("ip-10-0-0-7-agent", [agent], identity)).toMatchObject({ rule: "template" });
    const unscheduled = pod("agent-y", { hostNetwork: true });
    expect(mapHolder("-agent", [unscheduled], identity).kind).toBe("none");
  });
});

describe("kubeletHostname", () => {
  it.each([
    ["web-0", undefined, "web-0"],
    ["web-0", "primary", "primary"],
    [LONG, undefined, "a".repeat(62)],
    [`${"b".repeat(62)}.c-d`, undefined, "b".repeat(62)],
    ["x".repeat(63), undefined, "x".repeat(63)],
  ])("pod %s with spec.hostname %s is %s", (name, hostname, want) => {
    expect(kubeletHostname(hostname === undefined ? { name } : { name, hostname })).toBe(want);
  });
});

describe("describeMapping", () => {
  it("names the rule unless it is the pod's name", () => {
    expect(describeMapping(mapHolder("web-0", [pod("web-0")], undefined))).toBe(
      "holder web-0 is pod web-0",
    );
    expect(describeMapping(mapHolder(`web-0_${UUID}`, [pod("web-0")], undefined))).toBe(
      `holder web-0_${UUID} is pod web-0 (<hostname>_<uuid> with its hostname)`,
    );
  });
});
