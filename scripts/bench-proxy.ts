// Benchmark of the wake proxy: the same small HTTPS backend reached directly, through Slumber's proxy
// and through Debian's nginx (an equal TLS-terminating reverse proxy with upstream keep-alive).
// The proxy and nginx run pinned alone on CPU 0; the load and the backend on CPU 1 (`taskset`).
// Latency at fixed rates is measured open-loop from each request's intended send time (free of
// coordinated omission) with one tool for all three paths; throughput at saturation with wrk.
// Cold wake: a request held for a sleeping cluster, timed from "the control plane is ready" to the
// answer. Prints figures and ends with one JSON line. Not a test: it asserts nothing.
//
//   npm run bench -- scripts/bench-proxy.ts   (BENCH_PROFILE=1: CPU profile of the proxy during its wrk run)
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { Session } from "node:inspector/promises";
import type { AddressInfo } from "node:net";
import { createServer as createNetServer } from "node:net";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { Pool } from "undici";
import { systemClock } from "../src/clock.js";
import { SlumberMetrics } from "../src/metrics/registry.js";
import { Annotations } from "../src/policy/annotations.js";
import { startWakeProxy } from "../src/proxy/index.js";
import { Reconciler } from "../src/reconciler/reconciler.js";
import { testConfig } from "../test/fakes/harness.js";
import { FakeKube } from "../test/fakes/kube.js";
import { certsSecret, clusterPki, issue } from "../test/proxy/pki.js";

const self = fileURLToPath(import.meta.url);
const role = process.argv[2] ?? "controller";
const PATH = "/api/v1/namespaces";
const BODY = JSON.stringify({
  kind: "NamespaceList",
  apiVersion: "v1",
  metadata: { resourceVersion: "12345" },
  items: [
    {
      metadata: { name: "default", uid: "0b6c1a2e-8d8f-4e55-9a0f-4f8a0e0d7a11" },
      status: { phase: "Active" },
    },
  ],
});
const TOKEN = "Bearer bench-opaque-token";
const RATES = (process.env.BENCH_RATES ?? "500,1000").split(",").map(Number);
const SECONDS = Number(process.env.BENCH_SECONDS ?? "8");
const WAKE_TRIALS = Number(process.env.BENCH_WAKE_TRIALS ?? "5");
/** Connections of the open-loop client (like kubectl and controllers: a few, kept alive). */
const CONNECTIONS = 32;

const now = () => performance.timeOrigin + performance.now();
const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createNetServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// --- roles run as pinned child processes ------------------------------------------------------------

/** The API server stand-in: one small JSON answer, like `kubectl get ns` on a tiny cluster. */
async function backend(): Promise<void> {
  const { cert, key, port } = JSON.parse(process.env.BENCH_BACKEND ?? "{}") as {
    cert: string;
    key: string;
    port: number;
  };
  const body = Buffer.from(BODY);
  const server = createHttpsServer({ cert, key, keepAliveTimeout: 60_000 }, (req, res) => {
    if (req.url === "/readyz") return void res.writeHead(200).end("ok");
    res.writeHead(200, { "content-type": "application/json", "content-length": body.length }).end(body);
  });
  server.listen(port, "127.0.0.1", () => process.send?.("ready"));
}

/** Slumber's proxy on the in-memory cluster fake, with a control endpoint for the wake trials. */
async function proxyWorker(): Promise<void> {
  const setup = JSON.parse(process.env.BENCH_PROXY ?? "{}") as {
    port: number;
    controlPort: number;
    upstream: string;
    secret: Record<string, string>;
  };
  const secret = Object.fromEntries(
    Object.entries(setup.secret).map(([k, v]) => [k, Buffer.from(v, "base64")]),
  );
  const kube = new FakeKube();
  kube.autoReady = false;
  const plane = (namespace: string, name: string, asleep: boolean) => {
    kube.addControlPlane({
      namespace,
      release: name,
      replicas: asleep ? 0 : 1,
      annotations: {
        [Annotations.enabled]: "true",
        [Annotations.sleepAfter]: "1h",
        [Annotations.upstream]: setup.upstream,
        [Annotations.lastActivity]: new Date(Date.now() - (asleep ? 3 : 0) * 3_600_000).toISOString(),
        ...(asleep
          ? {
              [Annotations.loftPaused]: "true",
              [Annotations.loftPausedReplicas]: "1",
              [Annotations.sleepingSince]: new Date(Date.now() - 7_200_000).toISOString(),
              [Annotations.sleepReason]: "inactivity",
            }
          : {}),
      },
    });
    if (asleep) kube.setReady(namespace, name, 0);
    kube.setSecret(namespace, `${name}-certs`, secret);
  };
  plane("vc-bench", "bench", false);
  const logger = pino({ level: "silent" });
  const reconciler = new Reconciler({
    kube,
    config: testConfig({ agentNamespace: "slumber", resyncMs: 3_600_000 }),
    clock: systemClock,
    observer: new SlumberMetrics({ defaultMetrics: false }),
    logger,
  });
  await reconciler.start();
  const proxy = await startWakeProxy({
    port: setup.port,
    host: "127.0.0.1",
    kube,
    routes: reconciler.routes,
    wakePort: reconciler,
    observer: new SlumberMetrics({ defaultMetrics: false }),
    clock: systemClock,
    logger,
    agentNamespace: "slumber",
    wakeTimeoutMs: 120_000,
    maxHeld: 1000,
  });
  const readyAt = new Map<string, number>();
  let profiler: Session | undefined;
  const control = createHttpServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    const name = url.searchParams.get("name") ?? "";
    if (url.pathname === "/ca")
      return void res.end(kube.secrets.get("slumber/slumber-proxy-tls")?.["ca.crt"]);
    if (url.pathname === "/sleeping") {
      plane(`vc-${name}`, name, true);
      await reconciler.reconcileTarget({ kind: "vcluster", namespace: `vc-${name}`, name });
      return void res.end("ok");
    }
    if (url.pathname === "/replicas")
      return void res.end(String(kube.controlPlane(`vc-${name}`, name).replicas));
    if (url.pathname === "/ready") {
      // What the informer would report: the control plane has a Ready replica; then the pass publishes it.
      const at = now();
      readyAt.set(name, at);
      kube.setReady(`vc-${name}`, name, 1);
      await reconciler.reconcileTarget({ kind: "vcluster", namespace: `vc-${name}`, name });
      return void res.end(String(at));
    }
    if (url.pathname === "/profile-start") {
      profiler ??= new Session();
      profiler.connect();
      await profiler.post("Profiler.enable");
      await profiler.post("Profiler.start");
      return void res.end("ok");
    }
    if (url.pathname === "/profile-stop" && profiler) {
      const { profile } = await profiler.post("Profiler.stop");
      profiler.disconnect();
      return void res.end(JSON.stringify(profile));
    }
    if (url.pathname === "/stop") {
      res.end("bye");
      await proxy.close(100);
      await reconciler.stop();
      process.exit(0);
    }
    res.writeHead(404).end();
  });
  control.listen(setup.controlPort, "127.0.0.1", () => process.send?.("ready"));
}

// --- the controller -----------------------------------------------------------------------------------

interface Started {
  child: ChildProcess;
  stop(): Promise<void>;
}

function startPinned(
  cpu: string,
  args: string[],
  env: Record<string, string>,
  waitForMessage: boolean,
): Promise<Started> {
  return new Promise((resolve, reject) => {
    const child = spawn("taskset", ["-c", cpu, ...args], {
      env: { ...process.env, ...env },
      stdio: waitForMessage ? ["ignore", "inherit", "inherit", "ipc"] : ["ignore", "ignore", "inherit"],
    });
    const stop = async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    };
    child.once("error", reject);
    if (waitForMessage) child.once("message", () => resolve({ child, stop }));
    else resolve({ child, stop });
  });
}

interface Latency {
  p50: number;
  p99: number;
  sent: number;
  errors: number;
}

/** Open loop: request i is due at start + i/rate and its latency counts from then, sent or not. */
async function openLoop(
  origin: string,
  ca: string,
  path: string,
  rate: number,
  seconds: number,
): Promise<Latency> {
  // A fixed set of kept-alive connections, all opened (TLS handshakes done) and the JIT warm before the
  // clock starts; requests beyond them queue in the client, and that wait counts.
  const pool = new Pool(origin, {
    connections: CONNECTIONS,
    pipelining: 1,
    connect: { ca, servername: "localhost" },
  });
  for (let round = 0; round < 20; round++)
    await Promise.all(
      Array.from({ length: CONNECTIONS }, () =>
        pool.request({ method: "GET", path, headers: { authorization: TOKEN } }).then((r) => r.body.dump()),
      ),
    );
  const total = Math.round(rate * seconds);
  const latencies = new Float64Array(total);
  let errors = 0;
  let issued = 0;
  const start = now() + 10;
  const inflight: Promise<void>[] = [];
  await new Promise<void>((resolve) => {
    const tick = () => {
      const t = now();
      while (issued < total && start + (issued * 1000) / rate <= t) {
        const i = issued++;
        const due = start + (i * 1000) / rate;
        inflight.push(
          pool
            .request({ method: "GET", path, headers: { authorization: TOKEN } })
            .then(async (r) => {
              await r.body.dump();
              if (r.statusCode !== 200) errors++;
              latencies[i] = now() - due;
            })
            .catch(() => {
              errors++;
              latencies[i] = now() - due;
            }),
        );
      }
      // A timer, not a spin: the load shares its CPU with the backend. Requests due within one tick are
      // sent together and charged from their own due time, the same for all three paths.
      if (issued >= total) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  await Promise.all(inflight);
  await pool.close();
  const sorted = Array.from(latencies).sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return { p50: at(0.5), p99: at(0.99), sent: total, errors };
}

/** CPU seconds (user + system) used so far by these processes, from /proc (100 ticks a second). */
function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // gone
    }
  }
  return ticks / 100;
}

/** A process and its children (nginx's master and worker). */
function withChildren(pid: number): number[] {
  try {
    const children = execFileSync("pgrep", ["-P", String(pid)], { encoding: "utf8" })
      .trim()
      .split("\n")
      .filter(Boolean)
      .map(Number);
    return [pid, ...children];
  } catch {
    return [pid];
  }
}

/** wrk, 16 connections, pinned with the backend: requests/s at saturation, and the requests it counted. */
function wrk(url: string, seconds: number): number {
  const out = execFileSync(
    "taskset",
    ["-c", "1", "wrk", "-t1", "-c16", `-d${seconds}s`, "-H", `Authorization: ${TOKEN}`, url],
    { encoding: "utf8" },
  );
  const match = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  if (non2xx) process.stderr.write(`wrk ${url}: ${non2xx[1]} non-2xx answers\n`);
  return match ? Number(match[1]) : 0;
}

function nginxConfig(
  dir: string,
  port: number,
  upstreamPort: number,
  cert: { cert: string; key: string },
  upstreamCa: string,
): string {
  writeFileSync(join(dir, "tls.crt"), cert.cert);
  writeFileSync(join(dir, "tls.key"), cert.key);
  writeFileSync(join(dir, "upstream-ca.crt"), upstreamCa);
  const conf = join(dir, "nginx.conf");
  writeFileSync(
    conf,
    `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream api { server 127.0.0.1:${upstreamPort}; keepalive 64; }
  server {
    listen 127.0.0.1:${port} ssl http2;
    ssl_certificate ${dir}/tls.crt;
    ssl_certificate_key ${dir}/tls.key;
    keepalive_requests 1000000;
    location /vcluster/vc-bench/bench/ {
      proxy_pass https://api/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_ssl_trusted_certificate ${dir}/upstream-ca.crt;
      proxy_ssl_verify on;
      proxy_ssl_name localhost;
      proxy_ssl_session_reuse on;
      proxy_buffering off;
    }
  }
}
`,
  );
  return conf;
}

/** Top functions by self time in a .cpuprofile. */
function profileSummary(file: string, top: number): string {
  const profile = JSON.parse(readFileSync(file, "utf8")) as {
    nodes: {
      id: number;
      callFrame: { functionName: string; url: string; lineNumber: number };
      hitCount?: number;
    }[];
  };
  const byFunction = new Map<string, number>();
  let total = 0;
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    total += hits;
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url
      ? `${url.replace(/^.*node_modules\//, "").replace(/^file:\/\/.*?\/(src|scripts|test)\//, "$1/")}:${lineNumber + 1}`
      : "";
    const name = `${functionName || "(anonymous)"} ${where}`.trim();
    byFunction.set(name, (byFunction.get(name) ?? 0) + hits);
  }
  return [...byFunction]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, hits]) => `  ${((100 * hits) / total).toFixed(1).padStart(5)}%  ${name}`)
    .join("\n");
}

async function controller(): Promise<void> {
  for (const tool of ["nginx", "wrk", "taskset"]) {
    try {
      execFileSync("which", [tool], { stdio: "ignore" });
    } catch {
      throw new Error(`${tool} is missing: apt-get install -y nginx wrk util-linux`);
    }
  }
  // The load generator shares CPU 1 with the backend; CPU 0 is the proxy's (or nginx's) alone.
  execFileSync("taskset", ["-a", "-cp", "1", String(process.pid)], { stdio: "ignore" });
  const pki = clusterPki("bench");
  const dir = mkdtempSync(join(tmpdir(), "slumber-bench-"));
  const [backendPort, proxyPort, controlPort, nginxPort] = await Promise.all([
    freePort(),
    freePort(),
    freePort(),
    freePort(),
  ]);
  const profile = process.env.BENCH_PROFILE === "1";
  const node = process.execPath;

  const backendProc = await startPinned(
    "1",
    [node, self, "backend"],
    { BENCH_BACKEND: JSON.stringify({ cert: pki.serving.cert, key: pki.serving.key, port: backendPort }) },
    true,
  );
  const secret = Object.fromEntries(
    Object.entries(certsSecret(pki)).map(([k, v]) => [k, v.toString("base64")]),
  );
  const proxyProc = await startPinned(
    "0",
    [node, self, "proxy"],
    {
      BENCH_PROXY: JSON.stringify({
        port: proxyPort,
        controlPort,
        upstream: `https://127.0.0.1:${backendPort}`,
        secret,
      }),
    },
    true,
  );
  const control = (path: string) => fetch(`http://127.0.0.1:${controlPort}${path}`).then((r) => r.text());
  const proxyCa = await control("/ca");
  const nginxCert = issue({ cn: "nginx", hosts: ["localhost", "127.0.0.1"] }, pki.serverCa);
  const conf = nginxConfig(dir, nginxPort, backendPort, nginxCert, pki.serverCa.cert);
  const nginxProc = await startPinned("0", ["nginx", "-c", conf, "-e", join(dir, "error.log")], {}, false);
  await sleep(500);

  const paths = {
    direct: { origin: `https://127.0.0.1:${backendPort}`, ca: pki.serverCa.cert, path: PATH },
    proxy: { origin: `https://127.0.0.1:${proxyPort}`, ca: proxyCa, path: `/vcluster/vc-bench/bench${PATH}` },
    nginx: {
      origin: `https://127.0.0.1:${nginxPort}`,
      ca: pki.serverCa.cert,
      path: `/vcluster/vc-bench/bench${PATH}`,
    },
  } as const;

  console.log(`latency at fixed rates, open loop (${SECONDS}s each), ms from the intended send time:`);
  const latency: Record<string, Record<number, Latency>> = { direct: {}, proxy: {}, nginx: {} };
  for (const rate of RATES) {
    for (const [name, p] of Object.entries(paths)) {
      const result = await openLoop(p.origin, p.ca, p.path, rate, SECONDS);
      latency[name]![rate] = result;
      console.log(
        `  ${String(rate).padStart(5)} req/s  ${name.padEnd(6)}  p50 ${result.p50.toFixed(3)}  p99 ${result.p99.toFixed(3)}  (${result.sent} sent, ${result.errors} errors)`,
      );
    }
  }

  console.log("throughput at saturation (wrk -t1 -c16, 10s; proxy/nginx alone on CPU 0):");
  const rps: Record<string, number> = {};
  // CPU time per request is what a busy machine cannot distort much: req/s depends on the share of
  // CPU 0 other processes leave, CPU per request does not.
  const cpuPerRequestUs: Record<string, number> = {};
  const measured: Record<string, number[]> = {
    proxy: [proxyProc.child.pid ?? 0],
    nginx: withChildren(nginxProc.child.pid ?? 0),
  };
  let profileJson: string | null = null;
  for (const [name, p] of Object.entries(paths)) {
    if (name === "proxy" && profile) await control("/profile-start");
    const pids = measured[name];
    const cpuBefore = pids ? cpuSeconds(pids) : 0;
    rps[name] = wrk(`${p.origin}${p.path}`, 10);
    const cpu = pids ? cpuSeconds(pids) - cpuBefore : 0;
    if (name === "proxy" && profile) profileJson = await control("/profile-stop");
    if (pids) cpuPerRequestUs[name] = (cpu * 1e6) / (rps[name]! * 10);
    console.log(
      `  ${name.padEnd(6)}  ${rps[name]!.toFixed(0)} req/s${pids ? `, ${cpuPerRequestUs[name]!.toFixed(0)} µs CPU per request (${((cpu / 10) * 100).toFixed(0)}% of a core)` : ""}`,
    );
  }

  console.log(`cold wake: backend ready → first forwarded answer (${WAKE_TRIALS} trials):`);
  const wakes: number[] = [];
  const wakePool = new Pool(paths.proxy.origin, {
    connections: 4,
    connect: { ca: proxyCa, servername: "localhost" },
  });
  for (let i = 0; i < WAKE_TRIALS; i++) {
    const name = `wake${i}`;
    await control(`/sleeping?name=${name}`);
    let answeredAt = 0;
    const answer = wakePool
      .request({
        method: "GET",
        path: `/vcluster/vc-${name}/${name}${PATH}`,
        headers: { authorization: TOKEN },
      })
      .then(async (r) => {
        answeredAt = now();
        await r.body.dump();
        return r.statusCode;
      });
    while ((await control(`/replicas?name=${name}`)) !== "1") await sleep(5);
    await sleep(200);
    const readyAt = Number(await control(`/ready?name=${name}`));
    const status = await answer;
    wakes.push(answeredAt - readyAt);
    console.log(`  trial ${i + 1}: ${status}, ${(answeredAt - readyAt).toFixed(1)} ms`);
  }
  await wakePool.close();

  await control("/stop").catch(() => undefined);
  await new Promise((r) => proxyProc.child.once("exit", r));
  await nginxProc.stop();
  await backendProc.stop();

  if (profileJson) {
    const file = join(dir, "proxy-under-wrk.cpuprofile");
    writeFileSync(file, profileJson);
    console.log(
      `CPU profile of the proxy under wrk (self time, top 25; ${file}):\n${profileSummary(file, 25)}`,
    );
  }

  const worst = Math.max(...RATES);
  const added = (name: "proxy" | "nginx", q: "p50" | "p99") =>
    Number(((latency[name]![worst]![q] ?? 0) - (latency.direct![worst]![q] ?? 0)).toFixed(3));
  const median = [...wakes].sort((a, b) => a - b)[Math.floor(wakes.length / 2)] ?? 0;
  const result = {
    rate_rps: worst,
    proxy_added_p50_ms: added("proxy", "p50"),
    proxy_added_p99_ms: added("proxy", "p99"),
    nginx_added_p50_ms: added("nginx", "p50"),
    nginx_added_p99_ms: added("nginx", "p99"),
    direct_rps: Math.round(rps.direct ?? 0),
    proxy_rps: Math.round(rps.proxy ?? 0),
    nginx_rps: Math.round(rps.nginx ?? 0),
    wake_forward_ms: Number(median.toFixed(1)),
    proxy_cpu_us_per_req: Math.round(cpuPerRequestUs.proxy ?? 0),
    nginx_cpu_us_per_req: Math.round(cpuPerRequestUs.nginx ?? 0),
  };
  const [load1] = readFileSync("/proc/loadavg", "utf8").split(" ").map(Number) as number[];
  console.log(
    `machine load average (1 min) at the end: ${load1} on ${cpus().length} CPUs (shared with other work)`,
  );
  console.log(JSON.stringify(result));
}

switch (role) {
  case "backend":
    await backend();
    break;
  case "proxy":
    await proxyWorker();
    break;
  default:
    await controller();
}
