import type { AgentConfig } from "../config/types.js";
import type { LeadershipHandlers } from "../leader/election.js";
import type { Logger } from "../log.js";
import type { SlumberMetrics } from "../metrics/registry.js";
import { startHealthServer } from "../server/health.js";
import { CliError, ExitCode } from "./errors.js";

/** The reconciler as `slumber run` drives it. */
export interface RunnableReconciler {
  start(): void | Promise<void>;
  stop(): void | Promise<void>;
  isReady(): boolean;
}

export interface RunAgentOptions {
  config: AgentConfig;
  metricsPort: number;
  proxyPort: number;
  metrics: SlumberMetrics;
  reconciler: RunnableReconciler;
  logger: Logger;
  /** Resolves on the first SIGTERM/SIGINT (tests pass their own). */
  stopSignal?: Promise<string>;
  /** A stop that takes longer than this is abandoned: Kubernetes sends SIGKILL after 30s anyway. */
  stopTimeoutMs?: number;
  /**
   * Leader election (`--leader-elect`): the reconciler runs only while this replica leads. Without it the
   * process writes as if it were the only agent.
   */
  election?: Election;
  /** Starts the wake proxy before the reconciler: it listens at once and waits for the first pass's routes. */
  startProxy?: () => Promise<{ port: number; close(graceMs?: number): Promise<void> }>;
  /**
   * Run first on shutdown, before the reconciler stops and the lease is released: the wake proxy stops
   * accepting connections and finishes or rejects the requests it holds here.
   */
  drainHooks?: Array<() => Promise<void>>;
}

/** What runAgent needs of src/leader/election.ts. */
export interface Election {
  start(handlers: LeadershipHandlers): void;
  /** Stops campaigning; a leader releases the Lease. */
  stop(): Promise<void>;
  isLeader(): boolean;
}

/** Parses a TCP port flag; 0 means "any free port". */
export function parsePort(flag: string, value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65_535) {
    throw new CliError(`${flag}: "${value}" is not a TCP port (0-65535)`, ExitCode.usage);
  }
  return port;
}

/** Resolves with the name of the first SIGTERM or SIGINT; a second one exits at once. */
export function terminationSignal(logger: Logger): Promise<string> {
  return new Promise((resolve) => {
    let received = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (received) {
        logger.warn({ signal }, "second signal: exiting without finishing the stop");
        process.exit(ExitCode.failure);
      }
      received = true;
      resolve(signal);
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
}

/**
 * `slumber run`: serves /metrics, /healthz, /readyz, starts the reconciler (with --leader-elect: only
 * while leading), and on SIGTERM/SIGINT shuts down in this order: /readyz turns 503, drain hooks (the
 * proxy), the reconciler stops (finishing the step in flight), the lease is released, the server
 * closes. Losing the lease runs the same shutdown and exits 1, so the restarted process comes back as
 * a clean follower. Resolves to the process exit code.
 */
export async function runAgent(options: RunAgentOptions): Promise<ExitCode> {
  const { config, logger, reconciler, election } = options;
  logger.info(
    {
      dryRun: config.dryRun,
      resyncMs: config.resyncMs,
      defaultTimezone: config.policy.defaultTimezone,
      defaultSleepAfterMs: config.policy.defaultSleepAfterMs,
      manageAll: config.policy.manageAll,
      excludeNamespaces: config.excludeNamespaces.map(String),
      prices: config.prices,
      leaderElection: election !== undefined,
    },
    "starting slumber",
  );
  let stopping = false;
  const server = await startHealthServer({
    port: options.metricsPort,
    metrics: options.metrics,
    // A follower is ready (it serves metrics and, later, the proxy); the leader once its first pass is done.
    isReady: () => !stopping && (election && !election.isLeader() ? true : reconciler.isReady()),
    logger,
  });
  let reconcilerStarted = false;
  const startReconciler = (): void => {
    reconcilerStarted = true;
    Promise.resolve(reconciler.start()).catch((err: unknown) =>
      logger.error({ err: (err as Error).message }, "the reconciler failed to start"),
    );
  };
  let lost: (why: string) => void = () => {};
  const leadershipLost = new Promise<string>((resolve) => {
    lost = resolve;
  });
  let proxy: { close(graceMs?: number): Promise<void> } | undefined;
  try {
    // Listening before the first pass: a restarted agent must not refuse kubectl's TLS handshakes.
    if (options.startProxy) {
      try {
        proxy = await options.startProxy();
      } catch (error) {
        logger.error(
          { proxyPort: options.proxyPort, err: (error as Error).message },
          "cannot start the wake proxy",
        );
        return ExitCode.failure;
      }
    }
    if (election) {
      election.start({
        onStartedLeading: startReconciler,
        onStoppedLeading: (why) => {
          if (why === "lost") lost("leadership lost");
        },
      });
    } else {
      logger.info("leader election is off (--leader-elect not set): this process acts as the only agent");
      startReconciler();
    }
    const reason = await Promise.race([options.stopSignal ?? terminationSignal(logger), leadershipLost]);
    const leadershipWasLost = reason === "leadership lost";
    stopping = true;
    if (leadershipWasLost)
      logger.error("stopping: this replica lost the lease; exiting so that it restarts as a follower");
    else
      logger.info(
        { signal: reason },
        "stopping: draining, finishing the step in flight, releasing the lease",
      );
    const stopTimeoutMs = options.stopTimeoutMs ?? 20_000;
    let timer: NodeJS.Timeout | undefined;
    const shutdown = async () => {
      // Requests in flight get a few seconds; held ones are answered 503 (client-go retries).
      await proxy?.close(Math.min(5_000, stopTimeoutMs / 4));
      for (const drain of options.drainHooks ?? []) {
        await drain().catch((err: unknown) =>
          logger.error({ err: (err as Error).message }, "a drain hook failed"),
        );
      }
      if (reconcilerStarted) await reconciler.stop();
      // Released only after the reconciler stopped: no write of ours can land after a successor starts.
      if (election) await election.stop();
    };
    const finished = await Promise.race([
      shutdown().then(() => true),
      new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), stopTimeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (!finished) {
      logger.error({ stopTimeoutMs }, "the reconciler did not stop in time; exiting anyway");
      return ExitCode.failure;
    }
    logger.info("stopped");
    return leadershipWasLost ? ExitCode.failure : ExitCode.ok;
  } finally {
    await server.close();
  }
}
