// Side-by-side benchmark on the local control plane (issue 9, items 6 and 7). Prints a table and, last,
// one JSON line. Assertions: none; it prints figures. Run (cluster up, see test/cluster/README.md):
//   npm run bench                                   # 500 namespaces × 2 Deployments, 1,000 vclusters
//   npm run bench -- --namespaces 20 --vclusters 20 # a quick check
//   npm run bench -- --vclusters 0                  # only the kube-green comparison
//   npm run bench -- --agents slumber               # one agent only (also: --rest S, --ns-gap MIN,
//                                                   #   --vc-gap MIN, --wake-wait MIN, --synced-pods N)
// What it does, each agent alone and one after the other:
// - in-memory: one reconcileAll over 1,000 fake vclusters (scripts/bench-reconcile.ts);
// - namespaces: N namespaces × 2 Deployments (1 replica each) on tainted kwok nodes of its own; kube-green
//   v0.7.1 (built by scripts/kube-green/build.sh, CRD and RBAC from its module's config/) with one
//   SleepInfo per namespace, then Slumber with sleep-schedule/wakeup-schedule annotations: seconds from
//   the sleep instant until every Deployment is at 0, from the wake instant until every one is back,
//   RSS (VmRSS) and CPU (utime+stime) at rest over --rest seconds, API requests/min at rest counted
//   exactly by a FlowSchema per agent ServiceAccount (apiserver_flowcontrol_dispatched_requests_total);
// - vclusters: M StatefulSets labelled app=vcluster with a volumeClaimTemplate and --synced-pods (10) each,
//   Slumber with `manage: all`: time to its first full pass (/readyz), then the same figures.
// Everything it creates is named bench-* and removed at the end, also on failure or Ctrl-C.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { AppsV1Api, CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { parseAllDocuments } from "yaml";
import { runPool } from "../src/pool.js";
import { benchReconcile } from "./bench-reconcile.js";

const run = promisify(execFile);
/** The repository (this file runs compiled in a scratch dir: bench.sh passes the repo in BENCH_REPO). */
const repo = process.env.BENCH_REPO ?? resolve(fileURLToPath(new URL(".", import.meta.url)), "..");
/** The agent as shipped: the bundle `npm run build` makes (bench.sh builds it first). */
const agentMain = join(repo, "dist/cli/main.js");

// ------------------------------------------------------------------------------------------ options
function option(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  if (index < 0) return fallback;
  const value = Number(process.argv[index + 1]);
  if (!Number.isInteger(value) || value < 0) throw new Error(`--${name}: expected a whole number ≥ 0`);
  return value;
}
const NAMESPACES = option("namespaces", 500);
const VCLUSTERS = option("vclusters", 1_000);
const REST_S = option("rest", 120);
/** Minutes between the sleep and the wake instant: more than the slowest agent needs to sleep everything. */
const NS_GAP_MIN = option("ns-gap", 3);
const VC_GAP_MIN = option("vc-gap", 6);
/** Synced pods per virtual cluster: 10 × 1,000 clusters is the issue's 10,000 pods. */
const SYNCED_PODS = option("synced-pods", 10);
/** Minutes to wait for everything to be awake after the wake instant before calling the rest lost. */
const WAKE_WAIT_MIN = option("wake-wait", 8);
const AGENTS = (() => {
  const index = process.argv.indexOf("--agents");
  const list = index < 0 ? ["kube-green", "slumber"] : (process.argv[index + 1] ?? "").split(",");
  for (const agent of list) {
    if (agent !== "kube-green" && agent !== "slumber")
      throw new Error(`--agents: "${agent}" is not kube-green or slumber`);
  }
  return list;
})();
const ADMIN = process.env.KUBECONFIG_ADMIN ?? "/tmp/slumber-cluster/admin.kubeconfig";

const SET_LABEL = "bench.slumber.dev/set";
/** In every name and label value: a run never waits for, nor counts, a previous run's objects still being deleted. */
const RUN = Date.now().toString(36).slice(-5);
const NS_SET = `ns-${RUN}`;
const VC_SET = `vc-${RUN}`;
const NODE_LABEL = { type: `bench-kwok-${RUN}` };
const TAINT = { key: "bench.slumber.dev/only", value: "true", effect: "NoSchedule" };
const AGENTS_NS = `bench-agents-${RUN}`;
const PODS_PER_NODE = 1_000;

const log = (message: string) =>
  console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------------------------------ cluster access
async function kubectl(args: string[], input?: string, kubeconfig = ADMIN): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn("kubectl", ["--kubeconfig", kubeconfig, ...args], {
      stdio: ["pipe", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on("data", (c: Buffer) => {
      err += c.toString();
    });
    child.on("error", reject);
    child.on("exit", (code) =>
      code === 0
        ? resolvePromise(out)
        : reject(new Error(`kubectl ${args.join(" ")} exited ${code}: ${err.trim()}`)),
    );
    child.stdin.end(input ?? "");
  });
}

const kc = new KubeConfig();
kc.loadFromFile(ADMIN);
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);

/** runPool, stopping early once cleanup has begun (Ctrl-C or a failure). */
const pool = <T>(items: readonly T[], concurrency: number, work: (item: T) => Promise<void>) =>
  runPool(items, concurrency, async (item) => {
    assertNotCleaning("more work");
    await work(item);
  });

/** Ends a wait at once: an agent that exited will not become ready. */
class AgentExited extends Error {}

async function waitUntil<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | false>,
  everyMs = 1_000,
) {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== false) return value;
    } catch (error) {
      if (error instanceof AgentExited) throw error;
      last = error;
    }
    await sleep(everyMs);
  }
  throw new Error(
    `timed out after ${timeoutMs / 1000} s waiting for ${what}${last ? `: ${String(last)}` : ""}`,
  );
}

/** Retries `create` for up to 2 minutes while the API server answers 403 (ServiceAccount not there yet). */
async function retryWhileForbidden(create: () => Promise<unknown>): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      await create();
      return;
    } catch (error) {
      if ((error as { code?: number }).code !== 403 || Date.now() > deadline) throw error;
      await sleep(1_000);
    }
  }
}

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? res(address.port) : rej(new Error("no port")),
      );
    });
  });
}

// ------------------------------------------------------------------------------------------ cleanup
const cleanups: Array<{ what: string; run: () => Promise<void> }> = [];
let cleaning = false;
/** Registers an undo step; once cleanup has begun (Ctrl-C while main() still runs), undoes at once. */
const onCleanup = (what: string, fn: () => Promise<void>) => {
  if (cleaning) void fn().catch((error) => log(`cleanup of ${what} failed: ${String(error)}`));
  else cleanups.push({ what, run: fn });
};
/** main() keeps running while a signal's cleanup runs: it must start nothing new from then on. */
function assertNotCleaning(what: string): void {
  if (cleaning) throw new Error(`not starting ${what}: cleaning up`);
}
async function cleanUp(): Promise<void> {
  if (cleaning) return;
  cleaning = true;
  for (const step of cleanups.splice(0).reverse()) {
    try {
      log(`cleanup: ${step.what}`);
      await step.run();
    } catch (error) {
      log(`cleanup of ${step.what} failed: ${String(error)}`);
    }
  }
}
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    log(`${signal}: cleaning up`);
    void cleanUp().finally(() => process.exit(130));
  });
}

// ------------------------------------------------------------------------------------------ processes
interface Agent {
  name: string;
  child: ChildProcess;
  pid: number;
  output: () => string;
  stop: () => Promise<void>;
}

function startProcess(name: string, command: string, args: string[]): Agent {
  assertNotCleaning(name);
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const keep = (c: Buffer) => {
    output = (output + c.toString()).slice(-200_000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const exited = new Promise<void>((r) => child.on("exit", () => r()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const timeout = sleep(15_000).then(() => "timeout" as const);
    if ((await Promise.race([exited, timeout])) === "timeout") {
      child.kill("SIGKILL");
      await exited;
    }
  };
  onCleanup(`stop ${name} (pid ${child.pid})`, stop);
  return { name, child, pid: child.pid ?? -1, output: () => output, stop };
}

const CLK_TCK = 100;
function processStats(pid: number): { rssMb: number; cpuS: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const rssKb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? Number.NaN);
  // Fields after the command name: state is field 3; utime and stime are fields 14 and 15.
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const cpuTicks = Number(fields[11]) + Number(fields[12]);
  return { rssMb: Math.round(rssKb / 1024), cpuS: cpuTicks / CLK_TCK };
}

/** Requests the API server dispatched for a FlowSchema so far (all priority levels). */
async function dispatched(flowSchema: string): Promise<number> {
  const metrics = await kubectl(["get", "--raw", "/metrics"]);
  let total = 0;
  for (const line of metrics.split("\n")) {
    if (!line.startsWith("apiserver_flowcontrol_dispatched_requests_total{")) continue;
    if (!line.includes(`flow_schema="${flowSchema}"`)) continue;
    total += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return total;
}

// ------------------------------------------------------------------------------------------ identities
interface Identity {
  serviceAccount: string;
  flowSchema: string;
  kubeconfig: string;
}

const workDir = mkdtempSync(join(tmpdir(), "bench-scale-"));
onCleanup(`remove ${workDir}`, async () => rmSync(workDir, { recursive: true, force: true }));

async function identity(serviceAccount: string, clusterRole: string): Promise<Identity> {
  const flowSchema = serviceAccount;
  const yaml = `
apiVersion: v1
kind: ServiceAccount
metadata: {name: ${serviceAccount}, namespace: ${AGENTS_NS}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: ${serviceAccount}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: ${clusterRole}}
subjects: [{kind: ServiceAccount, name: ${serviceAccount}, namespace: ${AGENTS_NS}}]
---
apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: FlowSchema
metadata: {name: ${flowSchema}}
spec:
  # Ahead of the suggested schemas (service-accounts is 9000), so every request of this identity lands here.
  matchingPrecedence: 850
  priorityLevelConfiguration: {name: workload-high}
  distinguisherMethod: {type: ByUser}
  rules:
  - subjects: [{kind: ServiceAccount, serviceAccount: {name: ${serviceAccount}, namespace: ${AGENTS_NS}}}]
    resourceRules: [{verbs: ["*"], apiGroups: ["*"], resources: ["*"], clusterScope: true, namespaces: ["*"]}]
    nonResourceRules: [{verbs: ["*"], nonResourceURLs: ["*"]}]
`;
  await kubectl(["apply", "-f", "-"], yaml);
  onCleanup(`delete ServiceAccount, ClusterRoleBinding and FlowSchema ${serviceAccount}`, async () => {
    await kubectl(["delete", "--ignore-not-found", "flowschema", flowSchema]);
    await kubectl(["delete", "--ignore-not-found", "clusterrolebinding", serviceAccount]);
    await kubectl(["-n", AGENTS_NS, "delete", "--ignore-not-found", "serviceaccount", serviceAccount]);
  });
  const token = (await kubectl(["-n", AGENTS_NS, "create", "token", serviceAccount, "--duration=6h"])).trim();
  const field = async (path: string) =>
    (
      await kubectl(["config", "view", "--raw", "--flatten", "-o", `jsonpath={.clusters[0].cluster.${path}}`])
    ).trim();
  const kubeconfig = join(workDir, `${serviceAccount}.kubeconfig`);
  writeFileSync(
    kubeconfig,
    [
      "apiVersion: v1",
      "kind: Config",
      `clusters: [{name: local, cluster: {server: "${await field("server")}", certificate-authority-data: ${await field("certificate-authority-data")}}}]`,
      `users: [{name: ${serviceAccount}, user: {token: ${token}}}]`,
      `contexts: [{name: ${serviceAccount}, context: {cluster: local, user: ${serviceAccount}}}]`,
      `current-context: ${serviceAccount}`,
      "",
    ].join("\n"),
    { mode: 0o600 },
  );
  return { serviceAccount, flowSchema, kubeconfig };
}

/**
 * deploy/base/rbac.yaml's Role for the agent's own namespace (its Lease, the proxy's certificate Secret),
 * applied in the bench's agent namespace and bound to `serviceAccount`.
 */
async function agentNamespaceRole(serviceAccount: string): Promise<void> {
  const role = parseAllDocuments(readFileSync(join(repo, "deploy/base/rbac.yaml"), "utf8"))
    .map((doc) => doc.toJS() as { kind?: string; rules?: unknown })
    .find((doc) => doc.kind === "Role");
  if (!role?.rules) throw new Error("deploy/base/rbac.yaml has no Role for the agent's namespace");
  const name = `bench-slumber-${RUN}`;
  await kubectl(
    ["apply", "-f", "-"],
    JSON.stringify({
      apiVersion: "v1",
      kind: "List",
      items: [
        {
          apiVersion: "rbac.authorization.k8s.io/v1",
          kind: "Role",
          metadata: { name, namespace: AGENTS_NS },
          rules: role.rules,
        },
        {
          apiVersion: "rbac.authorization.k8s.io/v1",
          kind: "RoleBinding",
          metadata: { name, namespace: AGENTS_NS },
          roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name },
          subjects: [{ kind: "ServiceAccount", name: serviceAccount, namespace: AGENTS_NS }],
        },
      ],
    }),
  );
}

// ------------------------------------------------------------------------------------------ workload
const placement = {
  nodeSelector: NODE_LABEL,
  tolerations: [{ key: TAINT.key, operator: "Equal", value: TAINT.value, effect: TAINT.effect }],
};
const container = (name: string) => ({
  name,
  image: "registry.k8s.io/pause:3.10",
  resources: { requests: { cpu: "10m", memory: "16Mi" } },
});

async function addNodes(pods: number): Promise<void> {
  const count = Math.ceil(pods / PODS_PER_NODE);
  const names = Array.from({ length: count }, (_, i) => `bench-kwok-${RUN}-${i}`);
  const docs = names.map(
    (name) => `apiVersion: v1
kind: Node
metadata:
  name: ${name}
  annotations: {kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0"}
  labels: {kubernetes.io/hostname: ${name}, kubernetes.io/os: linux, type: ${NODE_LABEL.type}, ${SET_LABEL}: node-${RUN}}
spec:
  taints: [{key: ${TAINT.key}, value: "${TAINT.value}", effect: ${TAINT.effect}}]
status:
  allocatable: {cpu: "1000", memory: 4Ti, pods: "${PODS_PER_NODE}", ephemeral-storage: 1Ti}
  capacity: {cpu: "1000", memory: 4Ti, pods: "${PODS_PER_NODE}", ephemeral-storage: 1Ti}`,
  );
  await kubectl(["apply", "-f", "-"], docs.join("\n---\n"));
  onCleanup(`delete ${count} bench kwok node(s)`, async () => {
    await kubectl(["delete", "--ignore-not-found", "node", "-l", `${SET_LABEL}=node-${RUN}`, "--wait=false"]);
  });
  await waitUntil(`${count} bench kwok node(s) Ready`, 120_000, async () => {
    const nodes = await core.listNode({ labelSelector: `${SET_LABEL}=node-${RUN}` });
    const ready = nodes.items.filter((n) =>
      n.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
    );
    return ready.length >= count;
  });
  log(
    `${count} kwok node(s) for ${pods} pods (${PODS_PER_NODE} pods each, tainted: only bench pods run there)`,
  );
}

/** Namespaces of one set, removed (and waited for) at cleanup: the nodes go only after their pods. */
async function createNamespaces(set: string, names: string[], annotations: Record<string, string> = {}) {
  onCleanup(`delete the ${set} namespaces and wait until they are gone`, async () => {
    await kubectl(["delete", "namespace", "-l", `${SET_LABEL}=${set}`, "--wait=false", "--ignore-not-found"]);
    await waitUntil(
      `the ${set} namespaces to be deleted`,
      20 * 60_000,
      async () => {
        const left = await core.listNamespace({ labelSelector: `${SET_LABEL}=${set}` });
        return left.items.length === 0;
      },
      5_000,
    );
  });
  await pool(names, 16, async (name) => {
    await core.createNamespace({ body: { metadata: { name, labels: { [SET_LABEL]: set }, annotations } } });
  });
}

async function listDeployments(set: string) {
  return (await apps.listDeploymentForAllNamespaces({ labelSelector: `${SET_LABEL}=${set}` })).items;
}
async function listStatefulSets(set: string) {
  return (await apps.listStatefulSetForAllNamespaces({ labelSelector: `${SET_LABEL}=${set}` })).items;
}

// ------------------------------------------------------------------------------------------ schedule
/** The first whole minute at least `leadMs` from now. */
const minuteAfter = (leadMs: number) => Math.ceil((Date.now() + leadMs) / 60_000) * 60_000;
const hhmm = (at: number) => new Date(at).toISOString().slice(11, 16);
const cronAt = (at: number) => {
  const d = new Date(at);
  return `${d.getUTCMinutes()} ${d.getUTCHours()} * * *`;
};

interface Measured {
  readyS: number | null;
  restRssMb: number;
  restCpuS: number;
  restWindowS: number;
  restApiPerMin: number;
  sleepS: number | null;
  /** How many were asleep when the wake instant came (all of them when sleepS is a number). */
  asleepByWake: number;
  wakeS: number | null;
  peakRssMb: number;
  lost: number;
}

/**
 * With the agent running and its schedule configured: measures rest until 10 s before `sleepAt`, then
 * the seconds from `sleepAt` until `allAsleep`, and from `wakeAt` until `allAwake`.
 */
async function measure(
  agent: Agent,
  id: Identity,
  sleepAt: number,
  wakeAt: number,
  asleepCount: () => Promise<{ asleep: number; awake: number; total: number }>,
): Promise<Omit<Measured, "readyS">> {
  let peakRssMb = 0;
  const sampler = setInterval(() => {
    try {
      peakRssMb = Math.max(peakRssMb, processStats(agent.pid).rssMb);
    } catch {}
  }, 1_000);
  try {
    const restStart = Math.max(Date.now() + 15_000, sleepAt - 10_000 - REST_S * 1000);
    await sleep(restStart - Date.now());
    const before = { ...processStats(agent.pid), api: await dispatched(id.flowSchema), at: Date.now() };
    await sleep(Math.max(0, sleepAt - 10_000 - Date.now()));
    const after = { ...processStats(agent.pid), api: await dispatched(id.flowSchema), at: Date.now() };
    const restWindowS = (after.at - before.at) / 1000;
    const rest = {
      restRssMb: after.rssMb,
      restCpuS: Math.round((after.cpuS - before.cpuS) * (120 / restWindowS) * 100) / 100,
      restWindowS: Math.round(restWindowS),
      restApiPerMin: Math.round(((after.api - before.api) / restWindowS) * 60),
    };
    log(
      `${agent.name} at rest over ${rest.restWindowS} s: RSS ${rest.restRssMb} MB, CPU ${rest.restCpuS} s per 2 min, ${rest.restApiPerMin} API requests/min`,
    );
    await sleep(Math.max(0, sleepAt - Date.now()));
    log(`${agent.name}: sleep instant ${new Date(sleepAt).toISOString()}`);
    let sleepS: number | null = null;
    let asleep = 0;
    while (Date.now() < wakeAt) {
      const state = await asleepCount();
      asleep = state.asleep;
      if (state.asleep === state.total) {
        sleepS = (Date.now() - sleepAt) / 1000;
        break;
      }
      await sleep(500);
    }
    log(
      `${agent.name}: ${sleepS === null ? `NOT all asleep by the wake instant (${asleep} were)` : `all asleep after ${sleepS.toFixed(1)} s`}`,
    );
    await sleep(Math.max(0, wakeAt - Date.now()));
    log(`${agent.name}: wake instant ${new Date(wakeAt).toISOString()}`);
    let wakeS: number | null = null;
    let last = await asleepCount();
    const wakeDeadline = wakeAt + WAKE_WAIT_MIN * 60_000;
    while (Date.now() < wakeDeadline) {
      last = await asleepCount();
      if (last.awake === last.total) {
        wakeS = (Date.now() - wakeAt) / 1000;
        break;
      }
      await sleep(500);
    }
    log(
      `${agent.name}: ${wakeS === null ? `NOT all awake ${WAKE_WAIT_MIN} min after the wake instant (${last.awake}/${last.total})` : `all awake after ${wakeS.toFixed(1)} s`}`,
    );
    return { ...rest, sleepS, asleepByWake: asleep, wakeS, peakRssMb, lost: last.total - last.awake };
  } finally {
    clearInterval(sampler);
  }
}

// ------------------------------------------------------------------------------------------ agents
async function startSlumber(id: Identity, config: string): Promise<{ agent: Agent; readyS: number }> {
  const configFile = join(workDir, `slumber-${Date.now()}.yaml`);
  writeFileSync(configFile, config);
  const metricsPort = await freePort();
  const started = Date.now();
  // As the image and the `slumber` executable run it (Dockerfile, src/cli/main.ts).
  const agent = startProcess("slumber", process.execPath, [
    "--max-semi-space-size=1",
    "--optimize-for-size",
    agentMain,
    "run",
    "--kubeconfig",
    id.kubeconfig,
    "--config",
    configFile,
    "--namespace",
    AGENTS_NS,
    "--metrics-port",
    String(metricsPort),
    "--proxy-port",
    String(await freePort()),
    "--log-level",
    "warn",
  ]);
  await waitUntil(
    "Slumber's /readyz (its first full pass)",
    30 * 60_000,
    async () => {
      if (agent.child.exitCode !== null || agent.child.signalCode !== null)
        throw new AgentExited(
          `slumber exited ${agent.child.exitCode ?? agent.child.signalCode}:\n${agent.output()}`,
        );
      const response = await fetch(`http://127.0.0.1:${metricsPort}/readyz`);
      return response.status === 200;
    },
    250,
  );
  return { agent, readyS: (Date.now() - started) / 1000 };
}

interface KubeGreen {
  binary: string;
  source: string;
}

async function buildKubeGreen(): Promise<KubeGreen> {
  const { stdout } = await run("bash", [join(repo, "scripts/kube-green/build.sh")], { maxBuffer: 16 << 20 });
  const [binary, source] = stdout.trim().split("\n").slice(-2);
  if (!binary || !source)
    throw new Error(`scripts/kube-green/build.sh printed no binary and source:\n${stdout}`);
  return { binary, source };
}

/** kube-green's CRD and ClusterRole from its module source, the role renamed bench-kube-green. */
async function installKubeGreen(kg: KubeGreen): Promise<void> {
  const crd = readFileSync(join(kg.source, "config/crd/bases/kube-green.com_sleepinfos.yaml"), "utf8");
  await kubectl(["apply", "-f", "-"], crd);
  onCleanup("delete kube-green's SleepInfo CRD", async () => {
    await kubectl(["delete", "--ignore-not-found", "crd", "sleepinfos.kube-green.com"]);
  });
  await kubectl(["wait", "--for=condition=Established", "crd/sleepinfos.kube-green.com", "--timeout=60s"]);
  const role = parseAllDocuments(readFileSync(join(kg.source, "config/rbac/role.yaml"), "utf8"))
    .map((doc) => doc.toJS() as { kind?: string; metadata: { name: string }; rules: unknown[] })
    .find((doc) => doc?.kind === "ClusterRole");
  if (!role) throw new Error("no ClusterRole in kube-green's config/rbac/role.yaml");
  role.metadata = { name: `bench-kube-green-${RUN}` };
  await kubectl(["apply", "-f", "-"], JSON.stringify(role));
  onCleanup(`delete ClusterRole bench-kube-green-${RUN}`, async () => {
    await kubectl(["delete", "--ignore-not-found", "clusterrole", `bench-kube-green-${RUN}`]);
  });
}

async function startKubeGreen(kg: KubeGreen, id: Identity): Promise<{ agent: Agent; readyS: number }> {
  // The webhook server needs a certificate to start, though no webhook is registered with the API server.
  const certDir = join(workDir, "kube-green-certs");
  await run("mkdir", ["-p", certDir]);
  await run("openssl", [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "1",
    "-subj",
    "/CN=bench-kube-green-webhook",
    "-keyout",
    join(certDir, "tls.key"),
    "-out",
    join(certDir, "tls.crt"),
  ]);
  const probePort = await freePort();
  const started = Date.now();
  const agent = startProcess("kube-green", kg.binary, [
    "--kubeconfig",
    id.kubeconfig,
    "--webhook-cert-path",
    certDir,
    "--webhook-host",
    "127.0.0.1",
    "--webhook-server-port",
    String(await freePort()),
    "--health-probe-bind-address",
    `127.0.0.1:${probePort}`,
    "--metrics-bind-address",
    "0",
    "--zap-log-level",
    "error",
  ]);
  await waitUntil(
    "kube-green's /readyz",
    120_000,
    async () => {
      if (agent.child.exitCode !== null)
        throw new Error(`kube-green exited ${agent.child.exitCode}:\n${agent.output()}`);
      const response = await fetch(`http://127.0.0.1:${probePort}/readyz`);
      return response.status === 200;
    },
    250,
  );
  return { agent, readyS: (Date.now() - started) / 1000 };
}

// ------------------------------------------------------------------------------------------ runs
interface NamespaceRun {
  agent: "kube-green" | "slumber";
  figures: Measured;
}

async function namespaceComparison(kg: KubeGreen, ids: { slumber: Identity; kubeGreen: Identity }) {
  const names = Array.from({ length: NAMESPACES }, (_, i) => `bench-ns-${RUN}-${i}`);
  log(`creating ${NAMESPACES} namespaces × 2 Deployments`);
  const created = Date.now();
  // last-wake: an opted-in namespace with no recorded use would get one written at opt-in (SPEC §3).
  await createNamespaces(NS_SET, names, { "slumber.dev/last-wake": new Date().toISOString() });
  await pool(
    names.flatMap((namespace) => ["bench-web", "bench-api"].map((name) => ({ namespace, name }))),
    16,
    async ({ namespace, name }) => {
      const labels = { app: name };
      await apps.createNamespacedDeployment({
        namespace,
        body: {
          metadata: { name, labels: { ...labels, [SET_LABEL]: NS_SET } },
          spec: {
            replicas: 1,
            selector: { matchLabels: labels },
            template: { metadata: { labels }, spec: { ...placement, containers: [container(name)] } },
          },
        },
      });
    },
  );
  await waitUntil(
    `${NAMESPACES * 2} Deployments available`,
    20 * 60_000,
    async () => {
      const deployments = await listDeployments(NS_SET);
      return deployments.length === NAMESPACES * 2 && deployments.every((d) => d.status?.readyReplicas === 1);
    },
    3_000,
  );
  log(`${NAMESPACES * 2} Deployments ready in ${((Date.now() - created) / 1000).toFixed(0)} s`);

  const state = async () => {
    const deployments = await listDeployments(NS_SET);
    return {
      asleep: deployments.filter((d) => d.spec?.replicas === 0).length,
      awake: deployments.filter((d) => d.spec?.replicas === 1).length,
      total: NAMESPACES * 2,
    };
  };
  const lead = (configureS: number) => configureS * 1000 + REST_S * 1000 + 40_000;
  const runs: NamespaceRun[] = [];

  /** The next agent starts from every Deployment at 1: an earlier agent may have left some asleep. */
  const reset = async (after: string) => {
    const left = (await listDeployments(NS_SET)).filter((d) => d.spec?.replicas !== 1);
    if (left.length > 0)
      log(`${after} left ${left.length} Deployments not at 1 replica; scaling them back to 1`);
    await pool(left, 16, async (d) => {
      await kubectl([
        "-n",
        d.metadata?.namespace ?? "",
        "scale",
        "deployment",
        d.metadata?.name ?? "",
        "--replicas=1",
      ]);
    });
  };

  // kube-green: one SleepInfo per namespace.
  if (AGENTS.includes("kube-green")) {
    const { agent, readyS } = await startKubeGreen(kg, ids.kubeGreen);
    log(`kube-green ready in ${readyS.toFixed(1)} s`);
    const sleepAt = minuteAfter(lead(10 + NAMESPACES * 0.05));
    const wakeAt = sleepAt + NS_GAP_MIN * 60_000;
    const sleepInfos = names.map(
      (namespace) => `apiVersion: kube-green.com/v1alpha1
kind: SleepInfo
metadata: {name: bench-sleep, namespace: ${namespace}}
spec: {weekdays: "*", sleepAt: "${hhmm(sleepAt)}", wakeUpAt: "${hhmm(wakeAt)}", timeZone: UTC}`,
    );
    await kubectl(["create", "-f", "-"], sleepInfos.join("\n---\n"));
    log(`kube-green: ${NAMESPACES} SleepInfos, sleep at ${hhmm(sleepAt)} UTC, wake at ${hhmm(wakeAt)} UTC`);
    const figures = await measure(agent, ids.kubeGreen, sleepAt, wakeAt, state);
    await agent.stop();
    await kubectl(["delete", "sleepinfo", "--all-namespaces", "--all", "--wait=true"]);
    runs.push({ agent: "kube-green", figures: { readyS, ...figures } });
    await reset("kube-green");
  }

  // Slumber: the same schedule as annotations on each Namespace.
  if (AGENTS.includes("slumber")) {
    const { agent, readyS } = await startSlumber(
      ids.slumber,
      `excludeNamespaces: ["(?!bench-ns-${RUN}-).*"]\n`,
    );
    log(`Slumber ready (first full pass) in ${readyS.toFixed(1)} s`);
    const sleepAt = minuteAfter(lead(10 + NAMESPACES * 0.05));
    const wakeAt = sleepAt + NS_GAP_MIN * 60_000;
    await kubectl([
      "annotate",
      "namespace",
      "-l",
      `${SET_LABEL}=${NS_SET}`,
      "--overwrite",
      `slumber.dev/sleep-schedule=${cronAt(sleepAt)}`,
      `slumber.dev/wakeup-schedule=${cronAt(wakeAt)}`,
    ]);
    log(
      `Slumber: ${NAMESPACES} namespaces annotated, sleep at ${hhmm(sleepAt)} UTC, wake at ${hhmm(wakeAt)} UTC`,
    );
    const figures = await measure(agent, ids.slumber, sleepAt, wakeAt, state);
    await agent.stop();
    runs.push({ agent: "slumber", figures: { readyS, ...figures } });
  }
  return runs;
}

async function vclusterRun(id: Identity): Promise<Measured> {
  const names = Array.from({ length: VCLUSTERS }, (_, i) => `bench-vc-${RUN}-${i}`);
  log(
    `creating ${VCLUSTERS} virtual clusters (StatefulSet with a volumeClaimTemplate + ${SYNCED_PODS} synced pods each)`,
  );
  const created = Date.now();
  await createNamespaces(VC_SET, names);
  await pool(names, 16, async (name) => {
    const labels = { app: "vcluster", release: name };
    await apps.createNamespacedStatefulSet({
      namespace: name,
      body: {
        metadata: { name, labels: { ...labels, [SET_LABEL]: VC_SET } },
        spec: {
          serviceName: `${name}-headless`,
          replicas: 1,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: {
              ...placement,
              containers: [{ ...container("syncer"), volumeMounts: [{ name: "data", mountPath: "/data" }] }],
            },
          },
          volumeClaimTemplates: [
            {
              metadata: { name: "data" },
              spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
            },
          ],
        },
      },
    });
    for (let i = 0; i < SYNCED_PODS; i++) {
      // A new namespace's default ServiceAccount comes from the controller-manager, late when it is busy.
      await retryWhileForbidden(() =>
        core.createNamespacedPod({
          namespace: name,
          body: {
            metadata: {
              name: `web-${i}-x-default-x-${name}`,
              labels: { "vcluster.loft.sh/managed-by": name, "vcluster.loft.sh/namespace": "default" },
            },
            spec: { ...placement, containers: [container("web")] },
          },
        }),
      );
    }
  });
  await waitUntil(
    `${VCLUSTERS} control planes ready`,
    30 * 60_000,
    async () => {
      const planes = await listStatefulSets(VC_SET);
      return planes.length === VCLUSTERS && planes.every((p) => p.status?.readyReplicas === 1);
    },
    5_000,
  );
  log(`${VCLUSTERS} virtual clusters ready in ${((Date.now() - created) / 1000).toFixed(0)} s`);

  const { agent, readyS } = await startSlumber(
    id,
    `manage: all\nexcludeNamespaces: ["(?!bench-vc-${RUN}-).*"]\n`,
  );
  log(`Slumber ready (first full pass over ${VCLUSTERS} vclusters) in ${readyS.toFixed(1)} s`);
  const sleepAt = minuteAfter(10_000 + VCLUSTERS * 50 + REST_S * 1000 + 40_000);
  const wakeAt = sleepAt + VC_GAP_MIN * 60_000;
  await kubectl([
    "annotate",
    "namespace",
    "-l",
    `${SET_LABEL}=${VC_SET}`,
    "--overwrite",
    `slumber.dev/sleep-schedule=${cronAt(sleepAt)}`,
    `slumber.dev/wakeup-schedule=${cronAt(wakeAt)}`,
  ]);
  log(
    `Slumber: ${VCLUSTERS} host namespaces annotated, sleep at ${hhmm(sleepAt)} UTC, wake at ${hhmm(wakeAt)} UTC`,
  );
  const figures = await measure(agent, id, sleepAt, wakeAt, async () => {
    const planes = await listStatefulSets(VC_SET);
    return {
      asleep: planes.filter((p) => p.spec?.replicas === 0).length,
      awake: planes.filter((p) => p.spec?.replicas === 1).length,
      total: VCLUSTERS,
    };
  });
  await agent.stop();
  return { readyS, ...figures };
}

// ------------------------------------------------------------------------------------------ main
const fmt = (value: number | null | undefined, digits = 1) =>
  value === null || value === undefined || Number.isNaN(value) ? "—" : value.toFixed(digits);

async function main(): Promise<void> {
  await kubectl(["get", "--raw", "/readyz"]).catch((error) => {
    throw new Error(`the local control plane is not up (npm run cluster:up): ${String(error)}`);
  });
  log("in-memory pass over 1,000 fake vclusters");
  const reconcile = await benchReconcile(1_000);

  await kubectl(["apply", "-f", join(repo, "deploy/base/rbac.yaml")]);
  await kubectl(["apply", "-f", "-"], `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${AGENTS_NS}}\n`);
  onCleanup(`delete namespace ${AGENTS_NS}`, async () => {
    await kubectl(["delete", "--ignore-not-found", "namespace", AGENTS_NS, "--wait=false"]);
  });
  const slumberId = await identity(`bench-slumber-${RUN}`, "slumber-agent");
  await agentNamespaceRole(slumberId.serviceAccount);
  await addNodes(NAMESPACES * 2 + VCLUSTERS * (1 + SYNCED_PODS));

  let nsRuns: NamespaceRun[] = [];
  if (NAMESPACES > 0) {
    const kg = await buildKubeGreen();
    await installKubeGreen(kg);
    const kubeGreenId = await identity(`bench-kube-green-${RUN}`, `bench-kube-green-${RUN}`);
    log(`agents: ${AGENTS.join(", ")}`);
    nsRuns = await namespaceComparison(kg, { slumber: slumberId, kubeGreen: kubeGreenId });
    await kubectl(["delete", "namespace", "-l", `${SET_LABEL}=${NS_SET}`, "--wait=false"]);
  }
  const vc = VCLUSTERS > 0 ? await vclusterRun(slumberId) : null;

  const kgRun = nsRuns.find((r) => r.agent === "kube-green")?.figures;
  const slRun = nsRuns.find((r) => r.agent === "slumber")?.figures;
  const rows: Array<[string, string, string]> = [
    ["agent ready (s)", fmt(kgRun?.readyS), fmt(slRun?.readyS)],
    ["RSS at rest (MB)", fmt(kgRun?.restRssMb, 0), fmt(slRun?.restRssMb, 0)],
    ["CPU at rest (s per 2 min)", fmt(kgRun?.restCpuS, 2), fmt(slRun?.restCpuS, 2)],
    ["API requests/min at rest", fmt(kgRun?.restApiPerMin, 0), fmt(slRun?.restApiPerMin, 0)],
    [`s from the instant to all ${NAMESPACES * 2} asleep`, fmt(kgRun?.sleepS), fmt(slRun?.sleepS)],
    ["asleep when the wake instant came", fmt(kgRun?.asleepByWake, 0), fmt(slRun?.asleepByWake, 0)],
    ["s from the instant to all awake", fmt(kgRun?.wakeS), fmt(slRun?.wakeS)],
    ["peak RSS (MB)", fmt(kgRun?.peakRssMb, 0), fmt(slRun?.peakRssMb, 0)],
    ["Deployments not back at the end", fmt(kgRun?.lost, 0), fmt(slRun?.lost, 0)],
  ];
  console.log(
    `\n${NAMESPACES} namespaces × 2 Deployments (rest measured over ${slRun?.restWindowS ?? "—"} s)`,
  );
  console.log(`| | kube-green v0.7.1 | Slumber |\n|---|---|---|`);
  for (const [label, a, b] of rows) console.log(`| ${label} | ${a} | ${b} |`);
  console.log(`\n${VCLUSTERS} kwok virtual clusters (${VCLUSTERS * SYNCED_PODS} synced pods), Slumber`);
  console.log("| | Slumber |\n|---|---|");
  for (const [label, value] of [
    ["time to the first full pass (s)", fmt(vc?.readyS)],
    [`s from the instant to all ${VCLUSTERS} asleep`, fmt(vc?.sleepS)],
    ["asleep when the wake instant came", fmt(vc?.asleepByWake, 0)],
    ["s from the instant to all awake", fmt(vc?.wakeS)],
    ["API requests/min at rest", fmt(vc?.restApiPerMin, 0)],
    ["CPU at rest (s per 2 min)", fmt(vc?.restCpuS, 2)],
    ["RSS at rest / peak (MB)", `${fmt(vc?.restRssMb, 0)} / ${fmt(vc?.peakRssMb, 0)}`],
    ["control planes not back at the end", fmt(vc?.lost, 0)],
  ]) {
    console.log(`| ${label} | ${value} |`);
  }
  console.log(
    `\nin-memory pass over ${reconcile.count} fake vclusters: first ${reconcile.firstPassMs} ms, steady ${reconcile.steadyPassMs} ms, sleeping half ${reconcile.sleepPassMs} ms`,
  );
  console.log(
    JSON.stringify({
      reconcile_1000_ms: reconcile.firstPassMs,
      sleep_1000_real_s: vc?.sleepS ?? null,
      wake_1000_real_s: vc?.wakeS ?? null,
      ready_1000_real_s: vc?.readyS ?? null,
      rss_mb_1000: vc?.peakRssMb ?? null,
      rest_rss_mb_1000: vc?.restRssMb ?? null,
      lost_1000: vc?.lost ?? null,
      steady_api_requests_per_min: vc?.restApiPerMin ?? null,
      slumber_ns_sleep_s: slRun?.sleepS ?? null,
      kube_green_ns_sleep_s: kgRun?.sleepS ?? null,
      slumber_ns_wake_s: slRun?.wakeS ?? null,
      kube_green_ns_wake_s: kgRun?.wakeS ?? null,
      slumber_rest_rss_mb: slRun?.restRssMb ?? null,
      kube_green_rest_rss_mb: kgRun?.restRssMb ?? null,
      slumber_rest_api_per_min: slRun?.restApiPerMin ?? null,
      kube_green_rest_api_per_min: kgRun?.restApiPerMin ?? null,
    }),
  );
}

try {
  await main();
} catch (error) {
  log(`FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  process.exitCode = 1;
} finally {
  await cleanUp();
}
