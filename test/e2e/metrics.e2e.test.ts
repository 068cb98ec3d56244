// The agent's /metrics as Prometheus itself sees it: promtool's lint, then a real scrape and queries.
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import {
  type Admin,
  type AgentProcess,
  adminClients,
  createVcluster,
  freePort,
  idleForHours,
  metricsText,
  namespaces,
  readStatefulSet,
  startAgent,
  vclusterAsleep,
  waitFor,
} from "./harness.js";

const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

let admin: Admin;
let agent: AgentProcess;
const scenarioNamespaces = namespaces(() => admin);
let stopPrometheus: (() => void) | undefined;

beforeAll(async () => {
  admin = adminClients(inject("adminKubeconfig"));
  agent = await startAgent({ kubeconfig: inject("agentKubeconfig") });
});
afterAll(async () => {
  stopPrometheus?.();
  await agent?.stop();
  await scenarioNamespaces.removeAll();
});

/** Debian's prometheus, scraping the agent every second, on a free loopback port. */
async function startPrometheus(metricsPort: number): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "slumber-prom-"));
  const port = await freePort();
  writeFileSync(
    join(dir, "prometheus.yml"),
    [
      "global: {scrape_interval: 1s, evaluation_interval: 1s}",
      "scrape_configs:",
      "  - job_name: slumber",
      `    static_configs: [{targets: ["127.0.0.1:${metricsPort}"]}]`,
      "",
    ].join("\n"),
  );
  const child = spawn(
    "prometheus",
    [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let log = "";
  child.stderr.on("data", (c: Buffer) => {
    log += c.toString();
  });
  child.on("error", (err) => {
    log += `\ncannot start prometheus (.ci/run installs Debian's package): ${err.message}`;
  });
  stopPrometheus = () => child.kill("SIGTERM");
  const base = `http://127.0.0.1:${port}`;
  await waitFor("prometheus ready", 30_000, async () => {
    if (child.exitCode !== null) throw new Error(`prometheus exited ${child.exitCode}: ${log}`);
    return (await fetch(`${base}/-/ready`)).ok;
  });
  return base;
}

async function query(
  base: string,
  promql: string,
): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> {
  const res = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(promql)}`);
  const body = (await res.json()) as {
    status: string;
    data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> };
  };
  if (body.status !== "success") throw new Error(`query ${promql}: ${JSON.stringify(body)}`);
  return body.data.result;
}

describe("metrics", () => {
  it("pass promtool's lint and reach Prometheus: asleep gauge, cost, savings growing while asleep", async () => {
    const ns = await scenarioNamespaces.create("metrics");
    await createVcluster(admin, { namespace: ns, name: "finance", replicas: 1, syncedPods: 1 });
    await waitFor("finance running", 90_000, async () => {
      const sts = await readStatefulSet(admin, ns, "finance");
      return (sts.status?.readyReplicas ?? 0) >= 1;
    });
    await admin.apps.patchNamespacedStatefulSet(
      {
        namespace: ns,
        name: "finance",
        body: { metadata: { annotations: { "slumber.dev/sleep-after": "30m", ...idleForHours() } } },
      },
      mergePatch,
    );
    await waitFor("finance asleep", 60_000, vclusterAsleep(admin, ns, "finance"));

    // promtool reads the exposition on stdin and exits non-zero on any problem it finds.
    const text = await metricsText(agent);
    const lint = await new Promise<{ code: number | null; out: string }>((resolve, reject) => {
      const child = spawn("promtool", ["check", "metrics"], { stdio: ["pipe", "pipe", "pipe"] });
      let out = "";
      child.stdout.on("data", (c: Buffer) => {
        out += c.toString();
      });
      child.stderr.on("data", (c: Buffer) => {
        out += c.toString();
      });
      child.on("error", reject);
      child.on("exit", (code) => resolve({ code, out }));
      child.stdin.end(text);
    });
    // prom-client's own Node.js gauges (nodejs_active_handles_total, ...) break the "_total" rule;
    // every other finding, and any parse error, would be ours.
    const findings = lint.out.split("\n").filter((line) => line.trim() !== "");
    expect(
      findings.filter(
        (line) => !/^nodejs_\w+ non-counter metrics should not have "_total" suffix$/.test(line),
      ),
    ).toEqual([]);
    expect(text).toContain("# TYPE slumber_estimated_savings_total counter");

    const prometheus = await startPrometheus(agent.metricsPort);
    const selector = `{kind="vcluster",namespace="${ns}",name="finance"}`;
    await waitFor("Prometheus to see finance asleep", 30_000, async () => {
      const [sample] = await query(prometheus, `slumber_target_asleep${selector}`);
      return sample?.value[1] === "1";
    });
    const [cost] = await query(prometheus, `slumber_target_hourly_cost${selector}`);
    expect(cost?.metric.currency).toBe("USD");
    expect(Number(cost?.value[1])).toBeGreaterThan(0);
    // Savings accrue while asleep: the counter grows between scrapes.
    const savings = `slumber_estimated_savings_total${selector}`;
    const first = Number((await query(prometheus, savings))[0]?.value[1] ?? Number.NaN);
    await waitFor("savings to grow", 20_000, async () => {
      const now = Number((await query(prometheus, savings))[0]?.value[1] ?? Number.NaN);
      return now > first;
    });
    const [asleepSeconds] = await query(prometheus, `slumber_asleep_seconds_total${selector}`);
    expect(Number(asleepSeconds?.value[1])).toBeGreaterThan(0);
    const [transitions] = await query(
      prometheus,
      `sum(slumber_transitions_total{namespace="${ns}",to="asleep"})`,
    );
    expect(transitions?.value[1]).toBe("1");
  });
});
