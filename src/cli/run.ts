import type { AgentConfig } from "../config/types.js";
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
  /** Starts the wake proxy before the reconciler: it listens at once and waits for the first pass's routes. */
  startProxy?: () => Promise<{ port: number; close(graceMs?: number): Promise<void> }>;
  metrics: SlumberMetrics;
  reconciler: RunnableReconciler;
  logger: Logger;
  /** Resolves on the first SIGTERM/SIGINT (tests pass their own). */
  stopSignal?: Promise<string>;
  /** A stop that takes longer than this is abandoned: Kubernetes sends SIGKILL after 30s anyway. */
  stopTimeoutMs?: number;
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
 * `slumber run`: serves /metrics, /healthz, /readyz, starts the reconciler, and on SIGTERM/SIGINT stops
 * it (finishing the step in flight) and closes the server. Resolves to the process exit code.
 */
export async function runAgent(options: RunAgentOptions): Promise<ExitCode> {
  const { config, logger, reconciler } = options;
  logger.info(
    {
      dryRun: config.dryRun,
      resyncMs: config.resyncMs,
      defaultTimezone: config.policy.defaultTimezone,
      defaultSleepAfterMs: config.policy.defaultSleepAfterMs,
      manageAll: config.policy.manageAll,
      excludeNamespaces: config.excludeNamespaces.map(String),
      prices: config.prices,
    },
    "starting slumber",
  );
  const server = await startHealthServer({
    port: options.metricsPort,
    metrics: options.metrics,
    isReady: () => reconciler.isReady(),
    logger,
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
    await reconciler.start();
    const signal = await (options.stopSignal ?? terminationSignal(logger));
    logger.info({ signal }, "stopping: finishing the step in flight");
    const stopTimeoutMs = options.stopTimeoutMs ?? 20_000;
    // Requests in flight get a few seconds; held ones are answered 503 (client-go retries).
    await proxy?.close(Math.min(5_000, stopTimeoutMs / 4));
    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([
      Promise.resolve(reconciler.stop()).then(() => true),
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
    return ExitCode.ok;
  } finally {
    await server.close();
  }
}
