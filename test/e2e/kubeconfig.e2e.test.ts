// `slumber kubeconfig NS/NAME` against the real API server and a simulated virtual cluster: the
// Secrets it reads are the ones the simulator lays out the way vcluster does.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parse, stringify } from "yaml";
import { type Admin, adminClients, createVcluster, slumberCli } from "./harness.js";
import {
  createSimulatedNamespace,
  kubectl,
  secretData,
  vclusterKubeconfigFile,
  waitForReadyz,
  waitForUpstream,
} from "./simulator-harness.js";

let admin: Admin;
let adminKubeconfig: string;
let ns: string;
let remove: () => Promise<void> = async () => {};

beforeAll(async () => {
  adminKubeconfig = inject("adminKubeconfig");
  admin = adminClients(adminKubeconfig);
  ({ name: ns, remove } = await createSimulatedNamespace(admin, "kubeconfig"));
});

afterAll(async () => {
  await remove();
});

interface Doc {
  clusters: { name: string; cluster: { server: string; "certificate-authority-data"?: string } }[];
  users: { name: string; user: Record<string, string> }[];
  contexts: { name: string; context: { cluster: string; user: string } }[];
  "current-context": string;
}

describe("slumber kubeconfig", () => {
  it("prints a kubeconfig for the proxy route with the proxy's CA and vc-NAME's working credential", async () => {
    await createVcluster(admin, { namespace: ns, name: "gamma" });
    const upstream = await waitForUpstream(admin, ns, "gamma");
    await vclusterKubeconfigFile(admin, ns, "gamma");
    const certs = await secretData(admin, ns, "gamma-certs");
    // The proxy's TLS Secret, as `slumber run --proxy-port` stores it (here in the scenario's namespace).
    const proxyCa = certs["front-proxy-ca.crt"]!; // any PEM certificate stands in for the proxy's CA
    await admin.core.createNamespacedSecret({
      namespace: ns,
      body: {
        metadata: { name: "slumber-proxy-tls" },
        stringData: { "ca.crt": proxyCa, "tls.crt": "x", "tls.key": "y" },
      },
    });

    const out = await slumberCli(
      adminKubeconfig,
      "kubeconfig",
      `${ns}/gamma`,
      "--namespace",
      ns,
      "--proxy-url",
      "https://127.0.0.1:9443",
    );
    const doc = parse(out) as Doc;
    expect(doc.clusters[0]!.cluster.server).toBe(`https://127.0.0.1:9443/vcluster/${ns}/gamma`);
    expect(Buffer.from(doc.clusters[0]!.cluster["certificate-authority-data"]!, "base64").toString()).toBe(
      proxyCa,
    );
    const vc = await secretData(admin, ns, "vc-gamma");
    expect(Buffer.from(doc.users[0]!.user["client-certificate-data"]!, "base64").toString()).toBe(
      vc["client-certificate"],
    );

    // The credential it carries is accepted by the virtual cluster itself (what the proxy verifies and forwards).
    await waitForReadyz(upstream, certs["ca.crt"]!);
    const direct = structuredClone(doc);
    direct.clusters[0]!.cluster = {
      server: upstream,
      "certificate-authority-data": Buffer.from(certs["ca.crt"]!).toString("base64"),
    };
    const file = join(mkdtempSync(join(tmpdir(), "slumber-kc-")), "config");
    writeFileSync(file, stringify(direct), { mode: 0o600 });
    expect(await kubectl(file, "auth", "whoami", "-o", "jsonpath={.status.userInfo.groups}")).toContain(
      "system:masters",
    );
  });

  it("exits 1 naming what is missing: the virtual cluster, or the proxy's TLS Secret", async () => {
    await expect(slumberCli(adminKubeconfig, "kubeconfig", `${ns}/nope`, "--namespace", ns)).rejects.toThrow(
      new RegExp(`exited 1:[\\s\\S]*no virtual cluster nope in namespace ${ns}`),
    );
    await expect(
      slumberCli(
        adminKubeconfig,
        "kubeconfig",
        `${ns}/gamma`,
        "--namespace",
        ns,
        "--proxy-tls-secret",
        "absent",
      ),
    ).rejects.toThrow(new RegExp(`exited 1:[\\s\\S]*Secret ${ns}/absent not found`));
  });
});
