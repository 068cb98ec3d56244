import { execFile, spawn } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import type { TestProject } from "vitest/node";

const run = promisify(execFile);
const repoRoot = resolve(import.meta.dirname, "../..");
const clusterDir = process.env.SLUMBER_CLUSTER_DIR ?? "/tmp/slumber-cluster";
/** The namespace deploy/base/rbac.yaml installs the ServiceAccount (and the agent's Role) into. */
const AGENT_NAMESPACE = "slumber";

declare module "vitest" {
  export interface ProvidedContext {
    /** Admin kubeconfig of the local control plane (system:masters). */
    adminKubeconfig: string;
    /** Kubeconfig of the agent's ServiceAccount from deploy/, token from TokenRequest: RBAC applies. */
    agentKubeconfig: string;
  }
}

async function kubectl(kubeconfig: string, ...args: string[]): Promise<string> {
  const { stdout } = await run("kubectl", ["--kubeconfig", kubeconfig, ...args], { maxBuffer: 16 << 20 });
  return stdout;
}

async function clusterIsUp(): Promise<boolean> {
  const admin = join(clusterDir, "admin.kubeconfig");
  if (!existsSync(admin)) return false;
  try {
    await kubectl(admin, "get", "--raw", "/readyz", "--request-timeout=3s");
    return true;
  } catch {
    return false;
  }
}

/** Runs `npm run cluster:up`, streaming its progress, and returns the last stdout line. */
function clusterUp(): Promise<string> {
  return new Promise((resolvePath, reject) => {
    const child = spawn("bash", [join(repoRoot, "test/cluster/up.sh")], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.on("error", reject);
    child.on("exit", (code) => {
      const last = out.trim().split("\n").at(-1) ?? "";
      if (code === 0 && existsSync(last)) resolvePath(last);
      else reject(new Error(`test/cluster/up.sh exited ${code}; last stdout line: ${JSON.stringify(last)}`));
    });
  });
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const wasUp = await clusterIsUp();
  const adminKubeconfig = await clusterUp();

  // The agent runs as the ServiceAccount that deploy/ installs, so a missing RBAC verb fails here.
  await kubectl(adminKubeconfig, "apply", "-f", join(repoRoot, "deploy/base/rbac.yaml"));
  const token = (
    await kubectl(adminKubeconfig, "-n", AGENT_NAMESPACE, "create", "token", "slumber", "--duration=3h")
  ).trim();
  const clusterField = async (field: string) =>
    (
      await kubectl(
        adminKubeconfig,
        "config",
        "view",
        "--raw",
        "--flatten",
        "-o",
        `jsonpath={.clusters[0].cluster.${field}}`,
      )
    ).trim();
  const server = await clusterField("server");
  const caData = await clusterField("certificate-authority-data");
  const workDir = join(clusterDir, "e2e");
  mkdirSync(workDir, { recursive: true });
  // Named after the ServiceAccount's namespace: worktrees with an older deploy/ (another namespace)
  // share this directory, and must not swap identities with this one.
  const agentKubeconfig = join(workDir, `agent-${AGENT_NAMESPACE}.kubeconfig`);
  writeFileSync(
    agentKubeconfig,
    [
      "apiVersion: v1",
      "kind: Config",
      "clusters:",
      "- name: local",
      "  cluster:",
      `    server: ${server}`,
      `    certificate-authority-data: ${caData}`,
      "users:",
      "- name: slumber",
      "  user:",
      `    token: ${token}`,
      "contexts:",
      "- name: slumber",
      "  context: {cluster: local, user: slumber}",
      "current-context: slumber",
      "",
    ].join("\n"),
    { mode: 0o600 },
  );

  project.provide("adminKubeconfig", adminKubeconfig);
  project.provide("agentKubeconfig", agentKubeconfig);

  return async () => {
    if (!wasUp && !process.env.SLUMBER_E2E_KEEP_CLUSTER) {
      await run("bash", [join(repoRoot, "test/cluster/down.sh")]);
    }
  };
}
