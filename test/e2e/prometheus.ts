// A real Prometheus (Debian's package) for the end-to-end suite: scrapes what it is told at a short
// interval, loads rule files, answers instant and range queries.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor } from "./harness.js";

export interface PrometheusProcess {
  url: string;
  stop(): void;
  child: ChildProcess;
}

export interface PrometheusOptions {
  port: number;
  /** job name → host:port targets */
  jobs: Record<string, string[]>;
  scrapeIntervalSeconds: number;
  /** Rule files' contents, written next to the config. */
  ruleFiles?: Record<string, string>;
}

export async function startPrometheus(options: PrometheusOptions): Promise<PrometheusProcess> {
  const dir = mkdtempSync(join(tmpdir(), "slumber-prom-"));
  const ruleNames = Object.keys(options.ruleFiles ?? {});
  for (const [name, text] of Object.entries(options.ruleFiles ?? {})) writeFileSync(join(dir, name), text);
  const interval = `${options.scrapeIntervalSeconds}s`;
  writeFileSync(
    join(dir, "prometheus.yml"),
    [
      `global: {scrape_interval: ${interval}, evaluation_interval: ${interval}}`,
      `rule_files: ${JSON.stringify(ruleNames.map((name) => join(dir, name)))}`,
      "scrape_configs:",
      ...Object.entries(options.jobs).flatMap(([job, targets]) => [
        `  - job_name: ${job}`,
        "    honor_labels: true",
        `    static_configs: [{targets: ${JSON.stringify(targets)}}]`,
      ]),
      "",
    ].join("\n"),
  );
  const child = spawn(
    "prometheus",
    [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${options.port}`,
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let log = "";
  child.stderr?.on("data", (c: Buffer) => {
    log += c.toString();
  });
  child.on("error", (err) => {
    log += `\ncannot start prometheus (.ci/run installs Debian's package): ${err.message}`;
  });
  const url = `http://127.0.0.1:${options.port}`;
  await waitFor("prometheus ready", 30_000, async () => {
    if (child.exitCode !== null || log.includes("cannot start")) throw new Error(`prometheus failed: ${log}`);
    return (await fetch(`${url}/-/ready`)).ok;
  });
  return { url, child, stop: () => child.kill("SIGTERM") };
}

export interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

interface ApiAnswer<T> {
  status: string;
  error?: string;
  errorType?: string;
  warnings?: string[];
  data: T;
}

async function api<T>(url: string): Promise<ApiAnswer<T>> {
  const res = await fetch(url);
  return (await res.json()) as ApiAnswer<T>;
}

/** Instant query at `time` (epoch seconds); throws with Prometheus's error on failure. */
export async function instantQuery(base: string, promql: string, time?: number): Promise<Sample[]> {
  const params = new URLSearchParams({ query: promql });
  if (time !== undefined) params.set("time", String(time));
  const body = await api<{ resultType: string; result: Sample[] | [number, string] }>(
    `${base}/api/v1/query?${params}`,
  );
  if (body.status !== "success") throw new Error(`${promql}: ${body.errorType}: ${body.error}`);
  if (body.data.resultType === "scalar") {
    return [{ metric: {}, value: body.data.result as [number, string] }];
  }
  return body.data.result as Sample[];
}

/** Range query; throws with Prometheus's error on failure. */
export async function rangeQuery(
  base: string,
  promql: string,
  start: number,
  end: number,
  stepSeconds: number,
): Promise<Array<{ metric: Record<string, string>; values: Array<[number, string]> }>> {
  const params = new URLSearchParams({
    query: promql,
    start: String(start),
    end: String(end),
    step: String(stepSeconds),
  });
  const body = await api<{
    result: Array<{ metric: Record<string, string>; values: Array<[number, string]> }>;
  }>(`${base}/api/v1/query_range?${params}`);
  if (body.status !== "success") throw new Error(`${promql}: ${body.errorType}: ${body.error}`);
  return body.data.result;
}

export interface RuleState {
  name: string;
  type: "recording" | "alerting";
  query: string;
  health: string;
  lastError?: string;
  lastEvaluation: string;
}

export async function ruleStates(base: string): Promise<RuleState[]> {
  const body = await api<{ groups: Array<{ rules: RuleState[] }> }>(`${base}/api/v1/rules`);
  if (body.status !== "success") throw new Error(`rules: ${body.error}`);
  return body.data.groups.flatMap((g) => g.rules);
}
