// Helpers for scenarios on the virtual-cluster simulator (test/cluster/simulator.ts): a namespace
// it acts in, the Secrets it lays out, and plain HTTPS calls to a virtual API server.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Admin } from "./harness.js";
import { waitFor } from "./harness.js";

const run = promisify(execFile);

export const SIMULATE_LABEL = "slumber.dev/simulate";
export const UPSTREAM_ANNOTATION = "slumber.dev/upstream";

/** A namespace labelled for the simulator; deleted with everything in it by `remove`. */
export async function createSimulatedNamespace(
  admin: Admin,
  prefix: string,
  annotations: Record<string, string> = {},
): Promise<{ name: string; remove: () => Promise<void> }> {
  const name = `${prefix}-${randomBytes(3).toString("hex")}`;
  await admin.core.createNamespace({
    body: { metadata: { name, annotations, labels: { "slumber-e2e": "true", [SIMULATE_LABEL]: "true" } } },
  });
  return {
    name,
    remove: async () => {
      await admin.core.deleteNamespace({ name }).catch(() => undefined);
    },
  };
}

/** Decoded data of a Secret. */
export async function secretData(
  admin: Admin,
  namespace: string,
  name: string,
): Promise<Record<string, string>> {
  const secret = await admin.core.readNamespacedSecret({ namespace, name });
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(secret.data ?? {})) out[k] = Buffer.from(v, "base64").toString("utf8");
  return out;
}

/** The upstream the simulator recorded on the control plane, once it is there. */
export async function waitForUpstream(admin: Admin, namespace: string, name: string): Promise<string> {
  return waitFor(`${UPSTREAM_ANNOTATION} on ${namespace}/${name}`, 60_000, async () => {
    const sts = await admin.apps.readNamespacedStatefulSet({ namespace, name });
    return sts.metadata?.annotations?.[UPSTREAM_ANNOTATION];
  });
}

/** vc-NAME's `config` written to a private temp file, for kubectl. */
export async function vclusterKubeconfigFile(admin: Admin, namespace: string, name: string): Promise<string> {
  const data = await waitFor(`Secret ${namespace}/vc-${name}`, 60_000, () =>
    secretData(admin, namespace, `vc-${name}`),
  );
  const file = join(mkdtempSync(join(tmpdir(), "slumber-vc-")), "config");
  writeFileSync(file, data.config ?? "", { mode: 0o600 });
  return file;
}

export async function kubectl(kubeconfig: string, ...args: string[]): Promise<string> {
  const { stdout } = await run("kubectl", ["--kubeconfig", kubeconfig, "--request-timeout=10s", ...args]);
  return stdout;
}

export interface HttpsAnswer {
  status: number;
  body: string;
}

/** One HTTPS request to `upstream` (https://127.0.0.1:PORT) with optional client cert and headers. */
export function httpsGet(
  upstream: string,
  path: string,
  opts: { ca: string; cert?: string; key?: string; headers?: Record<string, string> },
): Promise<HttpsAnswer> {
  const url = new URL(path, upstream);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname + url.search,
        method: "GET",
        ca: opts.ca,
        cert: opts.cert,
        key: opts.key,
        headers: opts.headers,
        agent: false,
        timeout: 10_000,
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          body += c;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error(`timeout GET ${url.href}`)));
    req.end();
  });
}

/** Pids of the simulator's kube-apiserver processes for NS/NAME (found by their etcd prefix in /proc). */
export function virtualApiserverPids(namespace: string, name: string): number[] {
  const flag = `--etcd-prefix=/sim/${namespace}/${name}`;
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      const state = readFileSync(`/proc/${entry}/stat`, "utf8").split(") ")[1]?.[0];
      if (argv.includes(flag) && state !== "Z") pids.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return pids;
}

/** Waits until the virtual API server at `upstream` answers /readyz (polled every 100 ms); returns the ms it took. */
export async function waitForReadyz(upstream: string, ca: string, timeoutMs = 90_000): Promise<number> {
  const t0 = Date.now();
  let last = "";
  while (Date.now() - t0 < timeoutMs) {
    try {
      const res = await httpsGet(upstream, "/readyz", { ca });
      if (res.status === 200) return Date.now() - t0;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = String(err);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for /readyz of ${upstream}: ${last}`);
}
