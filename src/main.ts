#!/usr/bin/env node
import { CoordinationV1Api, KubeConfig } from "@kubernetes/client-node";
import { Manager } from "./controller/manager.ts";
import { createWriter } from "./controller/writer.ts";
import { createRouteWriter } from "./controller/route-writer.ts";
import { createApiClients } from "./kube/client.ts";
import { realClock } from "./kube/clock.ts";
import { KubeLeaseLock, LeaderElector } from "./leaderelection/index.ts";
import { prometheusMetrics } from "./leaderelection/prometheus.ts";
import { createEventRecorder } from "./observability/events.ts";
import { createLogger } from "./observability/logger.ts";
import type { Logger } from "./observability/logger.ts";
import { createMetrics } from "./observability/metrics.ts";
import { parseBindAddress, startMetricsServer, startProbeServer } from "./observability/server.ts";
import type { Endpoint } from "./observability/server.ts";
import { OptionsError, parseOptions, usage } from "./options.ts";
import type { Options } from "./options.ts";
import { VERSION } from "./version.ts";

/** How long a shutdown may take before the process exits anyway (below the pod's 10 s grace). */
const SHUTDOWN_TIMEOUT_MS = 8_000;

function loadKubeConfig(options: Options): KubeConfig {
  const kc = new KubeConfig();
  if (options.kubeconfig !== undefined) kc.loadFromFile(options.kubeconfig);
  else kc.loadFromDefault();
  return kc;
}

/**
 * Runs the operator until SIGTERM/SIGINT or, with --leader-elect, until this
 * replica loses its Lease; resolves to the process exit code.
 */
async function run(options: Options, logger: Logger): Promise<number> {
  const metrics = createMetrics();
  const kc = loadKubeConfig(options);
  const { make: makeClient, send } = createApiClients(kc, {
    qps: options.kubeApiQps,
    burst: options.kubeApiBurst,
    requestTimeoutMs: options.kubeApiTimeoutMs,
    userAgent: `podium/${VERSION} (${options.identity})`,
    registry: metrics.registry,
  });
  const recorder = createEventRecorder(makeClient, options.identity, logger);
  const manager = new Manager({
    kc,
    namespaces: options.namespaces,
    writer: createWriter(makeClient, send),
    routeWriter: createRouteWriter(makeClient),
    recorder,
    metrics,
    logger,
    clock: realClock,
    syncPeriodMs: options.syncPeriodMs,
    watchInactivityTimeoutMs: options.watchInactivityTimeoutMs,
    requestTimeoutMs: options.kubeApiTimeoutMs,
    concurrency: options.maxConcurrentReconciles,
    watchNodes: options.watchNodes,
    watchTraffic: options.watchTraffic,
  });

  const endpoints: Endpoint[] = [];
  const metricsBind = parseBindAddress(options.metricsBindAddress);
  if (metricsBind) endpoints.push(await startMetricsServer(metricsBind, metrics.registry));
  const probeBind = parseBindAddress(options.healthProbeBindAddress);
  if (probeBind) {
    endpoints.push(
      await startProbeServer(probeBind, {
        healthz: manager.livenessChecks(),
        readyz: manager.readinessChecks(),
      }),
    );
  }

  const shutdown = new AbortController();
  const onSignal = (sig: NodeJS.Signals): void => {
    logger.info({ signal: sig }, "shutting down");
    shutdown.abort();
    setTimeout(() => {
      logger.error("shutdown took too long; exiting");
      process.exit(1);
    }, SHUTDOWN_TIMEOUT_MS).unref();
  };
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);

  manager.start();
  logger.info(
    {
      version: VERSION,
      identity: options.identity,
      namespaces: options.namespaces.length > 0 ? options.namespaces : "all",
      leaderElect: options.leaderElect,
      nodeFailureDetection: options.watchNodes,
      trafficRouting: options.watchTraffic,
    },
    options.watchNodes
      ? "podium started"
      : "podium started; node failure detection is off (pods on dead nodes wait for Kubernetes to mark them NotReady)",
  );

  let code = 0;
  if (options.leaderElect) {
    const elector = new LeaderElector({
      lock: new KubeLeaseLock({
        api: makeClient(CoordinationV1Api),
        namespace: options.leaderElectionNamespace,
        name: options.leaderElectionId,
      }),
      identity: options.identity,
      leaseDurationMs: options.leaderElectionLeaseDurationMs,
      renewDeadlineMs: options.leaderElectionRenewDeadlineMs,
      retryPeriodMs: options.leaderElectionRetryPeriodMs,
      releaseOnCancel: true,
      name: options.leaderElectionId,
      metrics: prometheusMetrics(metrics.registry),
      logger: logger.child({ component: "leader-election" }),
      callbacks: {
        onStartedLeading: async (signal) => {
          logger.info({ lease: options.leaderElectionId }, "became leader; reconciling");
          await manager.run(signal);
        },
        onStoppedLeading: () => {
          logger.info("stopped leading");
        },
        onNewLeader: (identity) => {
          logger.info({ leader: identity }, "new operator leader observed");
        },
      },
    });
    await elector.run(shutdown.signal);
    if (!shutdown.signal.aborted) {
      // Like controller-runtime: a replica that lost its Lease exits so that
      // it restarts clean, rather than guess what it may still do.
      logger.error("leader election lost");
      code = 1;
    }
  } else {
    await manager.run(shutdown.signal);
  }

  await manager.stop();
  await recorder.flush();
  await Promise.all(endpoints.map((e) => e.close()));
  return code;
}

async function main(): Promise<void> {
  let options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (err) {
    if (err instanceof OptionsError) {
      process.stderr.write(`podium: ${err.message}\nRun podium --help for the flags.\n`);
      process.exit(2);
    }
    throw err;
  }
  if (options === "help") {
    process.stdout.write(usage());
    return;
  }
  if (options === "version") {
    process.stdout.write(`podium ${VERSION}\n`);
    return;
  }
  const logger = createLogger(options.logLevel);
  let code: number;
  try {
    code = await run(options, logger);
  } catch (err) {
    logger.fatal({ err }, "podium failed");
    code = 1;
  }
  logger.flush();
  process.exitCode = code;
  // Anything still holding the event loop (a stuck socket) must not keep a stopped operator alive.
  setTimeout(() => process.exit(code), 500).unref();
}

await main();
