/**
 * EndpointSlice mode's reads and writes: the selectorless Service (created once, its ports
 * replaced when spec.service.ports change) and the one EndpointSlice, created or merge-patched
 * at the resourceVersion the decision saw, so that a switch is one write or none.
 */
import { CoreV1Api, DiscoveryV1Api, PatchStrategy } from "@kubernetes/client-node";
import type { V1EndpointSlice, V1Service } from "@kubernetes/client-node";
import {
  ENDPOINTSLICE_MANAGED_BY_LABEL,
  ENDPOINTSLICE_MANAGER,
  MANAGED_BY,
  MANAGED_BY_LABEL,
  SERVICE_NAME_LABEL,
} from "../api/constants.ts";
import type { ElectionGroup } from "../api/types.ts";
import type { DesiredSlice, RouteServicePort } from "../election/index.ts";
import { callOptions } from "../kube/client.ts";
import type { ClientFactory } from "../kube/client.ts";
import { toOwnedService, toOwnedSlice } from "../sources/owned-services.ts";
import type { OwnedService, OwnedSlice } from "../sources/owned-services.ts";
import { outcomeOf, ownerReferenceTo } from "./writer.ts";
import type { WriteOutcome } from "./writer.ts";

/** A slice write's outcome and, when it succeeded, the slice as written. */
export interface SliceWrite {
  outcome: WriteOutcome;
  written?: OwnedSlice;
}

/** The API calls of EndpointSlice mode, each tied to a signal that aborts on lost leadership. */
export interface RouteWriter {
  /** The Service as it is (404: undefined); read only when podium's cache has none of its own. */
  readService(
    namespace: string,
    name: string,
    signal: AbortSignal,
  ): Promise<OwnedService | undefined>;
  readSlice(namespace: string, name: string, signal: AbortSignal): Promise<OwnedSlice | undefined>;
  createService(
    group: ElectionGroup,
    name: string,
    ports: readonly RouteServicePort[],
    signal: AbortSignal,
  ): Promise<WriteOutcome>;
  updateServicePorts(
    namespace: string,
    name: string,
    resourceVersion: string,
    ports: readonly RouteServicePort[],
    signal: AbortSignal,
  ): Promise<WriteOutcome>;
  /** Creates the slice (no resourceVersion) or merge-patches it at `resourceVersion`. */
  writeSlice(
    group: ElectionGroup,
    slice: DesiredSlice,
    resourceVersion: string | undefined,
    signal: AbortSignal,
  ): Promise<SliceWrite>;
  deleteService(
    namespace: string,
    name: string,
    uid: string,
    signal: AbortSignal,
  ): Promise<WriteOutcome>;
  deleteSlice(namespace: string, name: string, signal: AbortSignal): Promise<WriteOutcome>;
}

async function attempt<T>(call: () => Promise<T>): Promise<{ outcome: WriteOutcome; value?: T }> {
  try {
    return { outcome: "ok", value: await call() };
  } catch (err) {
    return { outcome: outcomeOf(err) };
  }
}

/** The slice's endpoints and ports as the API takes them. */
function sliceBody(
  namespace: string,
  slice: DesiredSlice,
): Pick<V1EndpointSlice, "endpoints" | "ports"> {
  return {
    endpoints: slice.endpoints.map((e) => ({
      addresses: [...e.addresses],
      conditions: { ready: e.ready, serving: e.serving, terminating: e.terminating },
      ...(e.podName === undefined
        ? {}
        : {
            targetRef: {
              kind: "Pod",
              namespace,
              name: e.podName,
              ...(e.podUID === undefined ? {} : { uid: e.podUID }),
            },
          }),
      ...(e.nodeName === undefined ? {} : { nodeName: e.nodeName }),
    })),
    ports: slice.ports.map((p) => ({ name: p.name, port: p.port, protocol: p.protocol })),
  };
}

function sliceLabels(slice: DesiredSlice): Record<string, string> {
  return {
    [ENDPOINTSLICE_MANAGED_BY_LABEL]: ENDPOINTSLICE_MANAGER,
    [SERVICE_NAME_LABEL]: slice.serviceName,
    [MANAGED_BY_LABEL]: MANAGED_BY,
  };
}

/** The RouteWriter over the real API. */
export function createRouteWriter(makeClient: ClientFactory): RouteWriter {
  const core = makeClient(CoreV1Api);
  const discovery = makeClient(DiscoveryV1Api);
  const merge = (signal: AbortSignal) => callOptions(signal, PatchStrategy.MergePatch);
  const read = async <T>(call: () => Promise<T>): Promise<T | undefined> => {
    const { outcome, value } = await attempt(call);
    return outcome === "ok" ? value : undefined;
  };
  return {
    readService: async (namespace, name, signal) =>
      toOwnedService(
        await read(() => core.readNamespacedService({ namespace, name }, callOptions(signal))),
      ),

    readSlice: async (namespace, name, signal) =>
      toOwnedSlice(
        await read(() =>
          discovery.readNamespacedEndpointSlice({ namespace, name }, callOptions(signal)),
        ),
      ),

    createService: async (group, name, ports, signal) => {
      const { namespace } = group.metadata;
      const body: V1Service = {
        metadata: {
          name,
          namespace,
          labels: { [MANAGED_BY_LABEL]: MANAGED_BY },
          ownerReferences: [ownerReferenceTo(group)],
        },
        // No selector: the EndpointSlice controller leaves the Service to podium's slice.
        spec: { type: "ClusterIP", ports: ports.map((p) => ({ ...p })) },
      };
      return (
        await attempt(() => core.createNamespacedService({ namespace, body }, callOptions(signal)))
      ).outcome;
    },

    updateServicePorts: async (namespace, name, resourceVersion, ports, signal) =>
      (
        await attempt(() =>
          core.patchNamespacedService(
            {
              namespace,
              name,
              body: {
                metadata: { resourceVersion },
                spec: { ports: ports.map((p) => ({ ...p })) },
              },
            },
            merge(signal),
          ),
        )
      ).outcome,

    writeSlice: async (group, slice, resourceVersion, signal) => {
      const { namespace } = group.metadata;
      const content = sliceBody(namespace, slice);
      const result =
        resourceVersion === undefined
          ? await attempt(() =>
              discovery.createNamespacedEndpointSlice(
                {
                  namespace,
                  body: {
                    metadata: {
                      name: slice.name,
                      namespace,
                      labels: sliceLabels(slice),
                      ownerReferences: [ownerReferenceTo(group)],
                    },
                    addressType: slice.addressType,
                    ...content,
                  },
                },
                callOptions(signal),
              ),
            )
          : await attempt(() =>
              discovery.patchNamespacedEndpointSlice(
                {
                  namespace,
                  name: slice.name,
                  // resourceVersion in a patch is a precondition: 409 if the slice changed since.
                  // A merge patch replaces the lists whole: the old endpoint goes as the new comes.
                  body: {
                    metadata: { resourceVersion, labels: sliceLabels(slice) },
                    ...content,
                  },
                },
                merge(signal),
              ),
            );
      if (result.outcome !== "ok") return { outcome: result.outcome };
      const written = toOwnedSlice(result.value);
      return written === undefined ? { outcome: "ok" } : { outcome: "ok", written };
    },

    deleteService: async (namespace, name, uid, signal) =>
      (
        await attempt(() =>
          core.deleteNamespacedService(
            { namespace, name, body: { preconditions: { uid } } },
            callOptions(signal),
          ),
        )
      ).outcome,

    deleteSlice: async (namespace, name, signal) =>
      (
        await attempt(() =>
          discovery.deleteNamespacedEndpointSlice({ namespace, name }, callOptions(signal)),
        )
      ).outcome,
  };
}
