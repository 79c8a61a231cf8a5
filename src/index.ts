/**
 * podium as a library: the client-go-compatible Lease leader elector for Node
 * apps (see docs/leaderelection.md), and the ElectionGroup API types.
 */
export {
  JITTER_FACTOR,
  KubeLeaseLock,
  LeaderElector,
  LeaseLockError,
  systemClock,
} from "./leaderelection/index.ts";
export { prometheusMetrics } from "./leaderelection/prometheus.ts";
export type {
  KubeLeaseLockOptions,
  LeaderCallbacks,
  LeaderElectionClock,
  LeaderElectionLogger,
  LeaderElectionRecord,
  LeaderElectorOptions,
  LeaseLock,
  LeaseLockErrorKind,
  LeaseSnapshot,
} from "./leaderelection/index.ts";
export * as constants from "./api/constants.ts";
export type * from "./api/types.ts";
