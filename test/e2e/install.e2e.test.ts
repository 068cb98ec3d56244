// The install on the real apiserver: server-side dry-run of `kubectl apply -k deploy` (and of the Helm
// chart's rendering), and the RBAC's least privilege as the apiserver itself evaluates it.
import { execFile } from "node:child_process";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { describe, expect, inject, it } from "vitest";
import { helmBinary, helmTemplate } from "../../scripts/helm-snapshot.js";
import { AGENT_NAMESPACE } from "./harness.js";

const run = promisify(execFile);
const repoRoot = resolve(import.meta.dirname, "../..");

async function kubectl(kubeconfig: string, args: string[], stdin?: string): Promise<string> {
  const child = run("kubectl", ["--kubeconfig", kubeconfig, ...args], { maxBuffer: 16 << 20 });
  if (stdin !== undefined) {
    child.child.stdin?.end(stdin);
  }
  return (await child).stdout;
}

/** `kubectl auth can-i` as the agent's ServiceAccount token: "yes" or "no". */
async function agentCan(...args: string[]): Promise<string> {
  try {
    return (await kubectl(inject("agentKubeconfig"), ["auth", "can-i", ...args])).trim();
  } catch (error) {
    return String((error as { stdout?: string }).stdout ?? "").trim();
  }
}

describe("install manifests on the real apiserver", () => {
  it("kubectl apply --dry-run=server -k deploy passes (and the Grafana overlay)", async () => {
    for (const dir of ["deploy", "deploy/overlays/grafana"]) {
      const out = await kubectl(inject("adminKubeconfig"), [
        "apply",
        "--dry-run=server",
        "-k",
        join(repoRoot, dir),
      ]);
      expect(out).toContain("deployment.apps/slumber created (server dry run)");
      expect(out).toMatch(
        /clusterrole\.rbac\.authorization\.k8s\.io\/slumber-agent (created|configured|unchanged) \(server dry run\)/,
      );
    }
  });

  it("the Helm chart's default rendering passes a server-side dry-run", async () => {
    const manifests = helmTemplate(helmBinary(), []);
    const out = await kubectl(
      inject("adminKubeconfig"),
      ["apply", "--dry-run=server", "-n", AGENT_NAMESPACE, "-f", "-"],
      manifests,
    );
    expect(out).toContain("deployment.apps/slumber created (server dry run)");
  });

  it.each([
    [["patch", "statefulsets.apps", "-A"], "yes"],
    [["get", "secrets", "-n", "default"], "yes"],
    // The cache watches Secrets (README "RBAC": vc-config names vary per virtual cluster); never writes them.
    [["list", "secrets", "-A"], "yes"],
    [["watch", "secrets", "-A"], "yes"],
    [["update", "secrets", "-A"], "no"],
    [["update", "statefulsets.apps", "-A"], "no"],
    [["delete", "deployments.apps", "-A"], "no"],
    [["create", "pods", "-A"], "no"],
    [["deletecollection", "pods", "-A"], "no"],
    [["get", "leases.coordination.k8s.io/slumber", "-n", AGENT_NAMESPACE], "yes"],
    [["update", "leases.coordination.k8s.io/slumber", "-n", AGENT_NAMESPACE], "yes"],
    [["update", "leases.coordination.k8s.io/kube-scheduler", "-n", AGENT_NAMESPACE], "no"],
    [["update", "leases.coordination.k8s.io/slumber", "-n", "kube-system"], "no"],
    [["create", "secrets", "-n", AGENT_NAMESPACE], "yes"],
    [["create", "secrets", "-n", "default"], "no"],
    [["update", "secrets/slumber-proxy-tls", "-n", AGENT_NAMESPACE], "no"],
    [["update", "secrets/vc-config-a", "-n", AGENT_NAMESPACE], "no"],
    [["create", "clusterrolebindings"], "no"],
  ])("as the agent: can-i %j → %s", async (args, answer) => {
    expect(await agentCan(...args)).toBe(answer);
  });
});
