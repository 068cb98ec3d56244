// Helpers for the end-to-end suite: admin clients for the real control plane, fixtures shaped
// like what vcluster creates, and the built agent run as a child process.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import {
  AppsV1Api,
  BatchV1Api,
  CoreV1Api,
  KubeConfig,
  type V1Pod,
  type V1StatefulSet,
} from "@kubernetes/client-node";

const repoRoot = resolve(import.meta.dirname, "../..");
/** Where deploy/base/rbac.yaml puts the ServiceAccount, its Role and the leader-election Lease. */
export const AGENT_NAMESPACE = "slumber";

export interface Admin {
  core: CoreV1Api;
  apps: AppsV1Api;
  batch: BatchV1Api;
}

export function adminClients(kubeconfigPath: string): Admin {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  return {
    core: kc.makeApiClient(CoreV1Api),
    apps: kc.makeApiClient(AppsV1Api),
    batch: kc.makeApiClient(BatchV1Api),
  };
}

/** A fresh namespace per scenario; deleted (with everything in it) by the returned cleanup. */
export async function createNamespace(
  admin: Admin,
  prefix: string,
  annotations: Record<string, string> = {},
): Promise<{ name: string; remove: () => Promise<void> }> {
  const name = `${prefix}-${randomBytes(3).toString("hex")}`;
  await admin.core.createNamespace({
    body: { metadata: { name, annotations, labels: { "slumber-e2e": "true" } } },
  });
  // Namespace admission creates the default ServiceAccount asynchronously; pods need it.
  await waitFor(`ServiceAccount default in ${name}`, 30_000, async () => {
    await admin.core.readNamespacedServiceAccount({ namespace: name, name: "default" });
    return true;
  });
  return {
    name,
    remove: async () => {
      await admin.core.deleteNamespace({ name }).catch(() => undefined);
    },
  };
}

export interface VclusterFixture {
  namespace: string;
  name: string;
  replicas?: number;
  /** With a `data` volume claim, as vcluster makes it; without it the control plane is not persistent. */
  persistent?: boolean;
  /** vcluster runs its control plane as a Deployment when it has no persistence. */
  controlPlane?: "StatefulSet" | "Deployment";
  annotations?: Record<string, string>;
  /** Body of `config.yaml` in Secret `vc-config-NAME`. */
  configYaml?: string;
  /** Synced workload pods to create in the host namespace (label vcluster.loft.sh/managed-by). */
  syncedPods?: number;
}

/** Creates the host-side objects of a virtual cluster the way the vcluster chart lays them out. */
export async function createVcluster(admin: Admin, fx: VclusterFixture): Promise<void> {
  const labels = { app: "vcluster", release: fx.name };
  await admin.core.createNamespacedService({
    namespace: fx.namespace,
    body: {
      metadata: { name: fx.name, labels },
      spec: { selector: labels, ports: [{ name: "https", port: 443, targetPort: 8443 }] },
    },
  });
  await admin.core.createNamespacedSecret({
    namespace: fx.namespace,
    body: {
      metadata: { name: `vc-config-${fx.name}` },
      stringData: { "config.yaml": fx.configYaml ?? "controlPlane:\n  statefulSet: {}\n" },
    },
  });
  const sts: V1StatefulSet = {
    metadata: { name: fx.name, labels, annotations: fx.annotations ?? {} },
    spec: {
      serviceName: `${fx.name}-headless`,
      replicas: fx.replicas ?? 1,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          containers: [
            {
              name: "syncer",
              image: "ghcr.io/loft-sh/vcluster-pro:0.30.0",
              resources: { requests: { cpu: "200m", memory: "256Mi" } },
              ...(fx.persistent === false || fx.controlPlane === "Deployment"
                ? {}
                : { volumeMounts: [{ name: "data", mountPath: "/data" }] }),
            },
          ],
        },
      },
      ...(fx.persistent === false || fx.controlPlane === "Deployment"
        ? {}
        : {
            volumeClaimTemplates: [
              {
                metadata: { name: "data" },
                spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "5Gi" } } },
              },
            ],
          }),
    },
  };
  if (fx.controlPlane === "Deployment") {
    await admin.apps.createNamespacedDeployment({
      namespace: fx.namespace,
      body: {
        metadata: sts.metadata,
        spec: { replicas: fx.replicas ?? 1, selector: { matchLabels: labels }, template: sts.spec!.template },
      },
    });
  } else {
    await admin.apps.createNamespacedStatefulSet({ namespace: fx.namespace, body: sts });
  }
  for (let i = 0; i < (fx.syncedPods ?? 0); i++) {
    await admin.core.createNamespacedPod({ namespace: fx.namespace, body: syncedPod(fx.name, i) });
  }
}

function syncedPod(vcluster: string, i: number): V1Pod {
  return {
    metadata: {
      name: `web-${i}-x-default-x-${vcluster}`,
      labels: { "vcluster.loft.sh/managed-by": vcluster, "vcluster.loft.sh/namespace": "default" },
      annotations: {
        "vcluster.loft.sh/object-name": `web-${i}`,
        "vcluster.loft.sh/object-namespace": "default",
        "vcluster.loft.sh/object-kind": "Pod",
      },
    },
    spec: {
      containers: [
        { name: "web", image: "nginx", resources: { requests: { cpu: "100m", memory: "128Mi" } } },
      ],
    },
  };
}

export async function readStatefulSet(admin: Admin, namespace: string, name: string): Promise<V1StatefulSet> {
  return admin.apps.readNamespacedStatefulSet({ namespace, name });
}

export async function syncedPodCount(admin: Admin, namespace: string, vcluster: string): Promise<number> {
  const pods = await admin.core.listNamespacedPod({
    namespace,
    labelSelector: `vcluster.loft.sh/managed-by=${vcluster}`,
  });
  return pods.items.filter((p) => !p.metadata?.deletionTimestamp).length;
}

export async function eventReasons(admin: Admin, namespace: string, objectName: string): Promise<string[]> {
  const events = await admin.core.listNamespacedEvent({ namespace });
  return events.items.filter((e) => e.involvedObject?.name === objectName).map((e) => e.reason ?? "");
}

/** Polls `check` until it returns a truthy value; fails naming what it waited for and the last error. */
export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | false | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ""}`,
  );
}

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? res(addr.port) : rej(new Error("no port"))));
    });
  });
}

export interface AgentProcess {
  metricsPort: number;
  /** Everything the agent logged so far (stderr JSON lines and stdout). */
  logs(): string;
  /** Graceful stop (SIGTERM), waiting for exit. */
  stop(): Promise<void>;
  /** SIGKILL: the agent gets no chance to finish what it was doing. */
  kill(): Promise<void>;
  child: ChildProcess;
}

export interface AgentOptions {
  kubeconfig: string;
  /** YAML for --config. */
  config?: string;
  extraArgs?: string[];
}

/** The V8 flags the image runs the agent with (Dockerfile ENTRYPOINT; test/deploy/image.test.ts keeps them equal). */
const AGENT_NODE_FLAGS = ["--max-semi-space-size=1", "--optimize-for-size"];

/** Starts the built `slumber run` (dist/) as a child process, as the given identity, as the image runs it. */
export async function startAgent(opts: AgentOptions): Promise<AgentProcess> {
  const metricsPort = await freePort();
  const proxyPort = await freePort();
  const args = [
    ...AGENT_NODE_FLAGS,
    join(repoRoot, "dist/cli/main.js"),
    "run",
    "--kubeconfig",
    opts.kubeconfig,
    "--metrics-port",
    String(metricsPort),
    "--proxy-port",
    String(proxyPort),
    "--resync",
    "2s",
    "--namespace",
    AGENT_NAMESPACE,
    "--log-level",
    "debug",
  ];
  if (opts.config) {
    const dir = mkdtempSync(join(tmpdir(), "slumber-e2e-"));
    const file = join(dir, "config.yaml");
    writeFileSync(file, opts.config);
    args.push("--config", file);
  }
  args.push(...(opts.extraArgs ?? []));
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env } });
  let output = "";
  child.stdout?.on("data", (c: Buffer) => {
    output += c.toString();
  });
  child.stderr?.on("data", (c: Buffer) => {
    output += c.toString();
  });
  const exited = new Promise<void>((r) => child.on("exit", () => r()));
  const agent: AgentProcess = {
    metricsPort,
    child,
    logs: () => output,
    stop: async () => {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
    },
    kill: async () => {
      if (child.exitCode === null) child.kill("SIGKILL");
      await exited;
    },
  };
  await waitFor("the agent's /readyz", 60_000, async () => {
    if (child.exitCode !== null) throw new Error(`agent exited ${child.exitCode}:\n${output}`);
    const res = await fetch(`http://127.0.0.1:${metricsPort}/readyz`);
    return res.status === 200;
  }).catch((err) => {
    child.kill("SIGKILL");
    throw new Error(`${String(err)}\nagent output:\n${output}`);
  });
  return agent;
}

export async function metricsText(agent: AgentProcess): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${agent.metricsPort}/metrics`);
  return res.text();
}

/** RFC 3339 of a time `ms` before now, for pre-recorded state annotations. */
export const ago = (ms: number): string => new Date(Date.now() - ms).toISOString();

/** Runs the built CLI (`slumber ARGS`) as the given identity; rejects with its output on a non-zero exit. */
export async function slumberCli(kubeconfig: string, ...args: string[]): Promise<string> {
  return new Promise((res, rej) => {
    const child = spawn(
      process.execPath,
      [join(repoRoot, "dist/cli/main.js"), ...args, "--kubeconfig", kubeconfig],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let out = "";
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on("data", (c: Buffer) => {
      out += c.toString();
    });
    child.on("exit", (code) =>
      code === 0 ? res(out) : rej(new Error(`slumber ${args.join(" ")} exited ${code}:\n${out}`)),
    );
  });
}

/** Per-file registry of scenario namespaces, all removed in afterAll. */
export function namespaces(admin: () => Admin): {
  create: (prefix: string, annotations?: Record<string, string>) => Promise<string>;
  removeAll: () => Promise<void>;
} {
  const created: Array<() => Promise<void>> = [];
  return {
    create: async (prefix, annotations) => {
      const ns = await createNamespace(admin(), prefix, annotations);
      created.push(ns.remove);
      return ns.name;
    },
    removeAll: async () => {
      for (const remove of created.splice(0)) await remove();
    },
  };
}

/** The control plane is paused by us: replicas 0 and `loft.sh/paused` recorded. */
export const vclusterAsleep = (admin: Admin, namespace: string, name: string) => async () => {
  const sts = await readStatefulSet(admin, namespace, name);
  return sts.spec?.replicas === 0 && sts.metadata?.annotations?.["loft.sh/paused"] === "true" ? sts : false;
};

/** Recorded state of a target nobody has used for three hours. */
export const idleForHours = (): Record<string, string> => ({
  "slumber.dev/last-wake": ago(3 * 3600_000),
  "slumber.dev/last-activity": ago(3 * 3600_000),
});
