import { readFileSync } from "node:fs";
import { Command, CommanderError, Option } from "commander";
import { systemClock } from "../clock.js";
import { type AgentFlags, ConfigError, loadAgentConfig } from "../config/load.js";
import type { AgentConfig } from "../config/types.js";
import type { KubeClient } from "../kube/types.js";
import { createLogger, LOG_LEVELS, type Logger, type LogLevel } from "../log.js";
import { LOG_FORMATS, type LogFormat, logDestination } from "../log-format.js";
import { parseDuration } from "../policy/duration.js";
import type { DesiredState } from "../policy/types.js";
import type { TargetRef } from "../targets/types.js";
import { CliError, EXIT_CODES_HELP, ExitCode } from "./errors.js";
import { runExplain } from "./explain.js";
import { DEFAULT_AGENT_NAMESPACE, DEFAULT_PROXY_TLS_SECRET, DEFAULT_PROXY_URL } from "./kubeconfig.js";
import { parsePort, runAgent } from "./run.js";
import { formatStatus, STATUS_OUTPUTS, type StatusOutput } from "./status.js";
import { wakeAll, wakeOrSleep } from "./wake-sleep.js";

/** Where a command's output goes; the real streams in main.ts, buffers in tests. */
export interface CliIo {
  out: (text: string) => void;
  err: (text: string) => void;
}

interface ClusterFlags extends AgentFlags {
  kubeconfig?: string;
  logLevel: LogLevel;
  logFormat: LogFormat;
}

const version = (): string => {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
};

function durationFlag(flag: string, value: string): number {
  const parsed = parseDuration(value);
  if (!parsed.ok) throw new CliError(`${flag}: ${parsed.message}`, ExitCode.usage);
  if (parsed.value <= 0) throw new CliError(`${flag}: must be longer than 0`, ExitCode.usage);
  return parsed.value;
}

/** Options every command that reads the cluster shares: credentials, and the policy settings of the agent. */
function withClusterOptions(command: Command, defaultLogLevel: LogLevel): Command {
  return command
    .option(
      "--kubeconfig <file>",
      "kubeconfig to use; default like kubectl: $KUBECONFIG, ~/.kube/config, then in-cluster service account",
    )
    .option("--config <file>", "agent config YAML: defaults:, manage: all, excludeNamespaces:")
    .addOption(
      new Option("--namespace <name>", "namespace the agent runs in (never managed)").env("POD_NAMESPACE"),
    )
    .option("--default-timezone <zone>", "IANA zone for targets that set none", "UTC")
    .option("--default-sleep-after <duration>", "idle time for targets that set no sleep-after", "1h")
    .option("--cpu-price <price>", "cost of one vCPU-hour (OpenCost default)", "0.031611")
    .option("--memory-price <price>", "cost of one GiB-hour of memory (OpenCost default)", "0.004237")
    .option("--currency <code>", "ISO 4217 currency of the prices", "USD")
    .option(
      "--cost-labels <keys>",
      "comma-separated label keys (e.g. team,cost-center) copied from the control plane, else its Namespace, onto slumber_target_info",
    )
    .addOption(
      new Option("--log-level <level>", "log level (stderr)").choices(LOG_LEVELS).default(defaultLogLevel),
    )
    .addOption(
      new Option(
        "--log-format <format>",
        "auto: one human line per event on a terminal, JSON lines otherwise",
      )
        .choices(LOG_FORMATS)
        .default("auto"),
    );
}

interface ClusterContext {
  config: AgentConfig;
  kube: KubeClient;
  kubeConfig: import("@kubernetes/client-node").KubeConfig;
  logger: Logger;
  /** API calls that failed so far; the reconciler logs and skips them, a one-shot command must not. */
  apiErrors: Error[];
}

/** Wraps every call of `kube` so that failures are remembered while still thrown to the caller. */
function recordingApiErrors(kube: KubeClient, apiErrors: Error[]): KubeClient {
  return new Proxy(kube, {
    get(target, property, receiver) {
      const member = Reflect.get(target, property, receiver);
      if (typeof member !== "function") return member;
      return (...args: unknown[]) => {
        const result = member.apply(target, args);
        if (!(result instanceof Promise)) return result;
        return result.catch((error: unknown) => {
          apiErrors.push(error instanceof Error ? error : new Error(String(error)));
          throw error;
        });
      };
    },
  });
}

/** Fails the command when an API call failed underneath a result that would otherwise look complete. */
function throwIfApiErrors(apiErrors: Error[], what: string): void {
  if (apiErrors.length === 0) return;
  const more = apiErrors.length > 1 ? ` (and ${apiErrors.length - 1} more)` : "";
  throw new CliError(`${what}: ${apiErrors[0]!.message}${more}`, ExitCode.failure);
}

/**
 * Connects to the cluster. client-node takes ~0.6 s to load, so only commands that need it import it.
 * `apiTimeoutMs`: each API request's timeout (`run --api-timeout`), client.ts's default when absent.
 */
async function clusterContext(flags: ClusterFlags, apiTimeoutMs?: number): Promise<ClusterContext> {
  const { ApiServerKubeClient, loadKubeConfig } = await import("../kube/client.js");
  const logger = createLogger(flags.logLevel, logDestination(flags.logFormat));
  let config: AgentConfig;
  try {
    config = loadAgentConfig(flags);
  } catch (error) {
    if (error instanceof ConfigError) throw new CliError(error.message, ExitCode.usage);
    throw error;
  }
  let kubeConfig: import("@kubernetes/client-node").KubeConfig;
  try {
    kubeConfig = loadKubeConfig(flags.kubeconfig);
  } catch (error) {
    throw new CliError(
      `cannot load kubeconfig${flags.kubeconfig ? ` ${flags.kubeconfig}` : ""}: ${(error as Error).message}`,
      ExitCode.failure,
    );
  }
  const apiErrors: Error[] = [];
  const kube = recordingApiErrors(
    new ApiServerKubeClient({ kubeConfig, logger, timeoutMs: apiTimeoutMs }),
    apiErrors,
  );
  return { config, kube, kubeConfig, logger, apiErrors };
}

interface RunProxyFlags {
  proxyPort: string;
  proxyBaseDomain?: string;
  proxyCertSecret?: string;
  wakeTimeout: string;
  maxHeld: string;
}

/** The wake proxy's flags, checked before anything connects. */
function parseProxyFlags(flags: RunProxyFlags) {
  const port = parsePort("--proxy-port", flags.proxyPort);
  const wakeTimeoutMs = durationFlag("--wake-timeout", flags.wakeTimeout);
  if (!/^\d+$/.test(flags.maxHeld) || Number(flags.maxHeld) < 1)
    throw new CliError(
      `--max-held: "${flags.maxHeld}" is not a whole number of requests (1 or more)`,
      ExitCode.usage,
    );
  let certSecret: { namespace: string; name: string } | undefined;
  if (flags.proxyCertSecret !== undefined) {
    const [namespace, name, extra] = flags.proxyCertSecret.split("/");
    if (!namespace || !name || extra !== undefined)
      throw new CliError(
        `--proxy-cert-secret: "${flags.proxyCertSecret}" is not NAMESPACE/NAME`,
        ExitCode.usage,
      );
    certSecret = { namespace, name };
  }
  const baseDomain = flags.proxyBaseDomain?.replace(/^\.|\.$/g, "");
  if (baseDomain !== undefined && !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/i.test(baseDomain))
    throw new CliError(`--proxy-base-domain: "${flags.proxyBaseDomain}" is not a DNS domain`, ExitCode.usage);
  return {
    port,
    wakeTimeoutMs,
    maxHeld: Number(flags.maxHeld),
    ...(certSecret ? { certSecret } : {}),
    ...(baseDomain ? { baseDomain } : {}),
  };
}

function wakeSleepCommand(
  program: Command,
  want: DesiredState,
  io: CliIo,
  setExitCode: (code: ExitCode) => void,
) {
  const verb = want === "awake" ? "wake" : "sleep";
  const description =
    want === "awake"
      ? "wake a target now: records slumber.dev/last-wake (the policy then keeps it awake for its idle time)"
      : "put a target to sleep now: records slumber.dev/manual-sleep (the next use wakes it as usual)";
  const command = program
    .command(`${verb} [target]`)
    .description(`${description}, and wait until it is ${want}`)
    .addHelpText(
      "after",
      `\n<target> is NAMESPACE/NAME: a virtual cluster's host namespace and name, or NS/NS for a namespace target.\n` +
        `The running agent (slumber run) carries out the change; this command records it and waits.` +
        (want === "awake"
          ? "\n--all wakes every managed target (before uninstalling: nothing wakes them once the agent is gone)."
          : ""),
    )
    .option("--for <duration>", `force ${want} for this long (slumber.dev/force + force-until) instead`)
    .option("--timeout <duration>", `how long to wait for the target to be ${want}`, "5m");
  if (want === "awake") command.option("--all", "every managed target instead of one", false);
  withClusterOptions(command, "warn").action(
    async (
      target: string | undefined,
      flags: ClusterFlags & { for?: string; timeout: string; all?: boolean },
    ) => {
      if (flags.all && target !== undefined)
        throw new CliError(`${verb}: give either a target or --all, not both`, ExitCode.usage);
      if (!flags.all && target === undefined)
        throw new CliError(
          `${verb}: missing NAMESPACE/NAME${want === "awake" ? " (or --all)" : ""}`,
          ExitCode.usage,
        );
      const forMs = flags.for === undefined ? undefined : durationFlag("--for", flags.for);
      const timeoutMs = durationFlag("--timeout", flags.timeout);
      const { config, kube, apiErrors } = await clusterContext(flags);
      const { inspectTarget, listTargetViews, requestSleep, requestWake, resolveTargetRef } = await import(
        "../reconciler/index.js"
      );
      const request = want === "awake" ? requestWake : requestSleep;
      const inspect = async (ref: TargetRef, now: number) => {
        apiErrors.length = 0;
        const view = await inspectTarget(kube, config, ref, now);
        throwIfApiErrors(apiErrors, `cannot read ${ref.namespace}/${ref.name}`);
        return view;
      };
      const common = {
        clock: systemClock,
        delay: (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)),
        progress: (line: string) => io.err(`${line}\n`),
      };
      if (flags.all) {
        setExitCode(
          await wakeAll(
            { forMs, timeoutMs },
            {
              ...common,
              actions: {
                list: async (now) => {
                  apiErrors.length = 0;
                  const views = await listTargetViews(kube, config, now);
                  throwIfApiErrors(apiErrors, "cannot list every target");
                  return views;
                },
                request: (ref, now, requestedForMs) => request(kube, ref, now, requestedForMs),
                inspect,
              },
            },
          ),
        );
        return;
      }
      const code = await wakeOrSleep(
        { want, target: target!, forMs, timeoutMs },
        {
          ...common,
          actions: {
            resolve: async (namespace, name) => {
              try {
                return await resolveTargetRef(kube, namespace, name);
              } catch (error) {
                throw new CliError((error as Error).message, ExitCode.failure);
              }
            },
            request: (ref, now, requestedForMs) => request(kube, ref, now, requestedForMs),
            inspect,
          },
        },
      );
      setExitCode(code);
    },
  );
}

/** `slumber kubeconfig NS/NAME` (src/cli/kubeconfig.ts): only credentials, no policy flags. */
function kubeconfigCommand(program: Command, io: CliIo, setExitCode: (code: ExitCode) => void) {
  program
    .command("kubeconfig <target>")
    .description("print a tenant kubeconfig for a virtual cluster that goes through the wake proxy")
    .option("--kubeconfig <file>", "kubeconfig to read the Secrets with; default like kubectl")
    .option("--proxy-url <url>", "the proxy's base URL; /vcluster/NS/NAME is appended", DEFAULT_PROXY_URL)
    .option(
      "--proxy-ca-file <file>",
      "PEM CA the tenant trusts for the proxy, instead of the proxy's TLS Secret",
    )
    .addOption(
      new Option("--namespace <name>", "the agent's namespace (where the proxy's TLS Secret is)")
        .env("POD_NAMESPACE")
        .default(DEFAULT_AGENT_NAMESPACE),
    )
    .option(
      "--proxy-tls-secret <name>",
      "the proxy's TLS Secret; its ca.crt is trusted",
      DEFAULT_PROXY_TLS_SECRET,
    )
    .addHelpText(
      "after",
      "\n<target> is NAMESPACE/NAME: the virtual cluster's host namespace and name. The credential is the one\n" +
        "vcluster stores in Secret vc-NAME (key config). The output holds that credential: keep it private.\n" +
        "Example:\n  slumber kubeconfig team-a/team-a > team-a.kubeconfig && kubectl --kubeconfig team-a.kubeconfig get ns",
    )
    .action(
      async (
        target: string,
        flags: {
          kubeconfig?: string;
          proxyUrl: string;
          proxyCaFile?: string;
          namespace: string;
          proxyTlsSecret: string;
        },
      ) => {
        const { tenantKubeconfig } = await import("./kubeconfig.js");
        const { ApiServerKubeClient, loadKubeConfig, readSecretData } = await import("../kube/client.js");
        let kubeConfig: import("@kubernetes/client-node").KubeConfig | undefined;
        const cluster = () => {
          try {
            kubeConfig ??= loadKubeConfig(flags.kubeconfig);
            return kubeConfig;
          } catch (error) {
            throw new CliError(
              `cannot load kubeconfig${flags.kubeconfig ? ` ${flags.kubeconfig}` : ""}: ${(error as Error).message}`,
              ExitCode.failure,
            );
          }
        };
        const failure = (error: unknown): never => {
          if (error instanceof CliError) throw error;
          throw new CliError((error as Error).message, ExitCode.failure);
        };
        const result = await tenantKubeconfig(
          {
            target,
            proxyUrl: flags.proxyUrl,
            proxyCaFile: flags.proxyCaFile,
            agentNamespace: flags.namespace,
            proxyTlsSecret: flags.proxyTlsSecret,
          },
          {
            getControlPlane: (namespace, release) =>
              new ApiServerKubeClient({ kubeConfig: cluster(), logger: createLogger("silent") })
                .getControlPlane(namespace, release)
                .catch(failure),
            readSecret: (namespace, name) => readSecretData(cluster(), namespace, name).catch(failure),
            readFile: (path) => readFileSync(path, "utf8"),
          },
        );
        for (const warning of result.warnings) io.err(`slumber: warning: ${warning}\n`);
        io.out(result.yaml);
        setExitCode(ExitCode.ok);
      },
    );
}

/** The `slumber` command line. Actions report their exit code through `setExitCode`. */
export function buildProgram(io: CliIo, setExitCode: (code: ExitCode) => void): Command {
  const program = new Command("slumber")
    .description(
      "Puts idle vcluster virtual clusters and namespaces to sleep, wakes them on schedule or on demand, " +
        "and exports the money sleeping saved as Prometheus metrics.",
    )
    .version(version())
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .exitOverride()
    .showHelpAfterError("(run with --help for usage)")
    .addHelpText("after", EXIT_CODES_HELP);

  withClusterOptions(
    program
      .command("run")
      .description("run the agent: reconciler and /metrics, /healthz, /readyz")
      .option("--metrics-port <port>", "port for /metrics, /healthz and /readyz", "8080")
      .option("--proxy-port <port>", "HTTPS port of the wake proxy (SPEC §7)", "8443")
      .option(
        "--proxy-base-domain <domain>",
        "also route by host: NAME.NAMESPACE.<domain> (path routing /vcluster/NAMESPACE/NAME always works)",
      )
      .option(
        "--proxy-cert-secret <namespace/name>",
        "Secret with the proxy's serving certificate (tls.crt, tls.key, ca.crt; cert-manager's layout), followed for renewals; default: generated once into <agent namespace>/slumber-proxy-tls",
      )
      .option(
        "--wake-timeout <duration>",
        "how long the proxy holds a request for a waking cluster before 504",
        "120s",
      )
      .option(
        "--max-held <count>",
        "requests held per waking cluster (and waiting for the first pass) before 503 with Retry-After",
        "1000",
      )
      .option(
        "--resync <duration>",
        "full re-evaluation interval; bounds how late a time-based transition can be",
        "30s",
      )
      .option(
        "--api-timeout <duration>",
        "how long one API request may take before it is abandoned (reads are then retried); watches excepted",
        "30s",
      )
      .option("--dry-run", "decide and report (logs, metrics) without writing anything to the cluster", false)
      .option(
        "--prices-from-prometheus <url>",
        "read OpenCost's node_cpu_hourly_cost / node_ram_hourly_cost (averaged over nodes) from this Prometheus; the price flags apply when it fails",
      )
      .option("--prices-refresh <duration>", "how often to re-read --prices-from-prometheus", "10m")
      .option(
        "--leader-elect",
        "run the reconciler only while holding the Lease `slumber` (for several replicas; the install sets it)",
        false,
      )
      .option(
        "--leader-election-namespace <name>",
        "namespace of the leader-election Lease (default: --namespace / $POD_NAMESPACE)",
      ),
    "info",
  ).action(
    async (
      flags: ClusterFlags &
        RunProxyFlags & {
          metricsPort: string;
          pricesFromPrometheus?: string;
          pricesRefresh: string;
          leaderElect: boolean;
          leaderElectionNamespace?: string;
          apiTimeout: string;
        },
    ) => {
      const metricsPort = parsePort("--metrics-port", flags.metricsPort);
      const apiTimeoutMs = durationFlag("--api-timeout", flags.apiTimeout);
      const proxy = parseProxyFlags(flags);
      const pricesRefreshMs = durationFlag("--prices-refresh", flags.pricesRefresh);
      if (flags.pricesFromPrometheus !== undefined && !/^https?:\/\/[^/]/.test(flags.pricesFromPrometheus)) {
        throw new CliError(
          `--prices-from-prometheus: "${flags.pricesFromPrometheus}" is not an http(s) URL`,
          ExitCode.usage,
        );
      }
      const leaseNamespace = flags.leaderElectionNamespace ?? flags.namespace ?? process.env.POD_NAMESPACE;
      if (flags.leaderElect && !leaseNamespace)
        throw new CliError(
          "--leader-elect needs the Lease's namespace: --leader-election-namespace, --namespace or $POD_NAMESPACE",
          ExitCode.usage,
        );
      const { config, kube: direct, logger, kubeConfig } = await clusterContext(flags, apiTimeoutMs);
      // The agent reads through an informer-fed cache: no LIST per pass (issue 9); CLI commands read directly.
      const { withCache } = await import("../kube/cache.js");
      const kube = withCache(direct, kubeConfig, logger, { timeoutMs: apiTimeoutMs });
      const { SlumberMetrics } = await import("../metrics/registry.js");
      const { Reconciler } = await import("../reconciler/index.js");
      const { startTracing, TracingObserver, tracedReconcileAll } = await import("../tracing/setup.js");
      const stopTracing = await startTracing(process.env, logger);
      const metrics = new SlumberMetrics({ costLabels: config.costLabels ?? [] });
      const flagPrices = config.prices;
      metrics.pricesInEffect(flagPrices, "flags");
      let stopPrices = () => {};
      if (flags.pricesFromPrometheus !== undefined) {
        const { startPricePoller } = await import("../metrics/prices-from-prometheus.js");
        stopPrices = await startPricePoller({
          url: flags.pricesFromPrometheus,
          fallback: flagPrices,
          apply: (prices) => {
            config.prices = prices;
          },
          metrics,
          logger,
          intervalMs: pricesRefreshMs,
        });
      }
      let election: import("./run.js").Election | undefined;
      let reconcilerKube = kube;
      if (flags.leaderElect && leaseNamespace) {
        const { leaderElection } = await import("../leader/index.js");
        const setup = leaderElection({ kube, kubeConfig, namespace: leaseNamespace, logger });
        election = setup.election;
        reconcilerKube = setup.fencedKube;
      }
      const observer = new TracingObserver(metrics);
      const core = new Reconciler({ kube: reconcilerKube, config, clock: systemClock, observer, logger });
      const reconciler = tracedReconcileAll(core);
      const { startWakeProxy } = await import("../proxy/index.js");
      // Every replica serves the proxy. With leader election its routes come from a reconciler that only
      // decides (dry run, no metrics): a follower's passes keep routes and readiness current without
      // writing, and its wakes are handed to the leader through the API (src/leader/handoff.ts).
      let routes = core.routes;
      let wakePort: import("../proxy/port.js").WakePort = core;
      let routeKeeper: InstanceType<typeof Reconciler> | undefined;
      if (election) {
        const leader = election;
        const { FollowerWakePort, leaderAwareWakePort } = await import("../leader/handoff.js");
        const { nullObserver } = await import("../reconciler/observer.js");
        routeKeeper = new Reconciler({
          kube,
          config: { ...config, dryRun: true },
          clock: systemClock,
          observer: nullObserver,
          logger: logger.child({ component: "routes" }, { level: "warn" }),
        });
        routes = routeKeeper.routes;
        const follower = new FollowerWakePort(kube, systemClock, logger);
        routes.subscribe((namespace, name) => {
          if (!routes.get(namespace, name)) follower.forget({ namespace, name });
        });
        wakePort = leaderAwareWakePort(() => leader.isLeader(), core, follower);
      }
      const startProxy = async () => {
        await routeKeeper?.start();
        const server = await startWakeProxy({
          ...proxy,
          kube,
          routes,
          wakePort,
          observer: metrics,
          clock: systemClock,
          logger,
          agentNamespace: config.agentNamespace,
          dryRun: config.dryRun,
        });
        return {
          port: server.port,
          close: async (graceMs?: number) => {
            await server.close(graceMs);
            await routeKeeper?.stop();
          },
        };
      };
      try {
        setExitCode(
          await runAgent({
            config,
            metricsPort,
            proxyPort: proxy.port,
            metrics,
            reconciler,
            logger,
            election,
            startProxy,
          }),
        );
      } finally {
        stopPrices();
        await stopTracing();
      }
    },
  );

  withClusterOptions(
    program
      .command("status")
      .description("show every target: state, reason, since, next transition, hourly cost, saved so far")
      .addOption(
        new Option("-o, --output <format>", "output format").choices(STATUS_OUTPUTS).default("table"),
      )
      .option("--by <label>", "totals per value of this label key (e.g. team), read like --cost-labels"),
    "warn",
  ).action(async (flags: ClusterFlags & { output: StatusOutput; by?: string }) => {
    // --by reads its label like a cost label, so it needs no separate --cost-labels.
    const labelFlags =
      flags.by === undefined
        ? flags
        : { ...flags, costLabels: [flags.costLabels, flags.by].filter(Boolean).join(",") };
    const { config, kube, apiErrors } = await clusterContext(labelFlags);
    const { listTargetViews } = await import("../reconciler/index.js");
    const now = systemClock.now();
    const views = await listTargetViews(kube, config, now);
    throwIfApiErrors(apiErrors, "cannot list every target");
    if (flags.by !== undefined) {
      const { formatTotalsCsv, formatTotalsTable, totalsByLabel } = await import("./status-report.js");
      const totals = totalsByLabel(views, flags.by);
      if (flags.output === "json") io.out(`${JSON.stringify({ by: flags.by, totals }, null, 2)}\n`);
      else if (flags.output === "csv") io.out(formatTotalsCsv(totals, flags.by));
      else io.out(formatTotalsTable(totals, flags.by));
    } else {
      const keys = (config.costLabels ?? []).map((label) => label.key);
      io.out(formatStatus(views, flags.output, now, keys));
    }
    setExitCode(ExitCode.ok);
  });

  wakeSleepCommand(program, "awake", io, setExitCode);
  wakeSleepCommand(program, "asleep", io, setExitCode);
  kubeconfigCommand(program, io, setExitCode);

  program
    .command("explain")
    .description(
      "print the sleep/wake decision for a set of annotations at a time, as JSON; no cluster needed",
    )
    .requiredOption("--at <time>", "RFC 3339 instant to decide at, e.g. 2026-03-06T19:30:00+01:00")
    .option("--default-timezone <zone>", "the agent's --default-timezone", "UTC")
    .option("--default-sleep-after <duration>", "the agent's --default-sleep-after", "1h")
    .option(
      "--annotation <key=value>",
      "an annotation of the target, repeatable; recorded state too (slumber.dev/last-activity, last-wake, manual-sleep)",
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .addHelpText(
      "after",
      '\nExample:\n  slumber explain --at 2026-03-06T21:00:00Z --annotation "slumber.dev/awake-hours=Mon-Fri 08:00-19:00"',
    )
    .action(
      (flags: { at: string; defaultTimezone: string; defaultSleepAfter: string; annotation: string[] }) => {
        const result = runExplain({
          at: flags.at,
          defaultTimezone: flags.defaultTimezone,
          defaultSleepAfter: flags.defaultSleepAfter,
          annotations: flags.annotation,
        });
        io.out(result.stdout);
        io.err(result.stderr);
        setExitCode(result.exitCode as ExitCode);
      },
    );

  return program;
}

/** Runs `slumber` with `argv` (without node and script); resolves to the exit code, never throws. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<ExitCode> {
  let exitCode: ExitCode = ExitCode.ok;
  const program = buildProgram(io, (code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync([...argv], { from: "user" });
    return exitCode;
  } catch (error) {
    // Commander already printed its message; help and --version end with code 0.
    if (error instanceof CommanderError) return error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    if (error instanceof CliError) {
      io.err(`slumber: ${error.message}\n`);
      return error.exitCode;
    }
    io.err(`slumber: ${(error as Error).message ?? String(error)}\n`);
    return ExitCode.failure;
  }
}
