/**
 * A client-go-compatible leader elector on a `coordination.k8s.io/v1` Lease:
 * podium's own high availability, and a library for Node apps (published as
 * `podium-elector`, see packages/elector/). Its metrics backed by prom-client
 * are apart, in ./prometheus.ts, so that this entry point never loads it.
 */
export {
  JITTER_FACTOR,
  LeaderElector,
  systemClock,
  type LeaderCallbacks,
  type LeaderElectionClock,
  type LeaderElectionLogger,
  type LeaderElectionMetrics,
  type LeaderElectorOptions,
} from "./elector.ts";
export {
  KubeLeaseLock,
  LeaseLockError,
  type KubeLeaseLockOptions,
  type LeaderElectionRecord,
  type LeaseLock,
  type LeaseLockErrorKind,
  type LeaseSnapshot,
} from "./lease-lock.ts";
