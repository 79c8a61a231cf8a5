/**
 * Part of `make demo`: deletes the current leader of an ElectionGroup and
 * reports how long podium took to label a new one (seen in a pod watch
 * stream) and how long until the Service's EndpointSlice listed only it.
 *
 *   node hack/demo-failover.ts [namespace] [group] [service]
 */
import { CoreV1Api, CustomObjectsApi, DiscoveryV1Api, KubeConfig } from "@kubernetes/client-node";
import { GROUP, PLURAL, VERSION } from "../src/api/constants.ts";
import type { ElectionGroup } from "../src/api/types.ts";
import { ListWatch } from "../src/kube/listwatch.ts";

const [namespace = "demo", groupName = "web", service = "web-leader"] = process.argv.slice(2);
const kc = new KubeConfig();
kc.loadFromDefault();
const core = kc.makeApiClient(CoreV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const discovery = kc.makeApiClient(DiscoveryV1Api);

const readGroup = async (): Promise<ElectionGroup> =>
  (await custom.getNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace,
    plural: PLURAL,
    name: groupName,
  })) as ElectionGroup;

const group = await readGroup();
const oldLeader = group.status?.holder ?? "";
if (oldLeader === "") {
  console.error(`ElectionGroup ${namespace}/${groupName} has no leader yet`);
  process.exit(1);
}
const selector = Object.entries(group.spec.selector.matchLabels ?? {})
  .map(([k, v]) => `${k}=${v}`)
  .join(",");
const labelKey = group.spec.leaderLabel.key;
const labelValue = group.spec.leaderLabel.value;

let newLeader: { name: string; at: number } | undefined;
let deletedAt = 0;
const pods = new ListWatch<{ name: string; leader: boolean }>({
  kc,
  name: "demo-pods",
  path: `/api/v1/namespaces/${namespace}/pods`,
  labelSelector: selector,
  transform: (raw) => {
    const meta = raw.metadata as { name: string; labels?: Record<string, string> };
    return { name: meta.name, leader: meta.labels?.[labelKey] === labelValue };
  },
  onEvent: (type, _key, pod) => {
    if (deletedAt > 0 && !newLeader && type !== "delete" && pod.leader && pod.name !== oldLeader) {
      newLeader = { name: pod.name, at: performance.now() };
    }
  },
});
pods.start();
await pods.waitForSync();

console.log(`deleting the leader, pod ${oldLeader} ...`);
const t0 = performance.now();
await core.deleteNamespacedPod({ name: oldLeader, namespace });
deletedAt = performance.now();

const deadline = Date.now() + 30_000;
while (!newLeader && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
if (!newLeader) {
  console.error("no new leader within 30 s; see the operator's log");
  process.exit(1);
}
const labelledMs = newLeader.at - t0;

let endpointMs: number | undefined;
while (endpointMs === undefined && Date.now() < deadline) {
  const slices = await discovery.listNamespacedEndpointSlice({
    namespace,
    labelSelector: `kubernetes.io/service-name=${service}`,
  });
  const ready = slices.items
    .flatMap((s) => s.endpoints ?? [])
    .filter((e) => e.conditions?.ready === true);
  if (ready.length === 1 && ready[0]?.targetRef?.name === newLeader.name) {
    endpointMs = performance.now() - t0;
  } else {
    await new Promise((r) => setTimeout(r, 10));
  }
}
await pods.stop();

const after = await readGroup();
const operatorMs = after.status?.history?.[0]?.durationMs;
console.log(
  `new leader ${newLeader.name} carried ${labelKey}=${labelValue} ${labelledMs.toFixed(0)} ms after the delete` +
    (operatorMs === undefined
      ? ""
      : ` (podium's own measure, detection to label: ${String(operatorMs)} ms)`),
);
if (endpointMs !== undefined) {
  console.log(
    `Service ${service} listed only the new leader ${endpointMs.toFixed(0)} ms after the delete`,
  );
}
