// The virtual-cluster simulator (test/cluster/simulator.ts), started by `npm run cluster:up`: a real
// kube-apiserver per Ready vcluster StatefulSet in a namespace labelled slumber.dev/simulate=true.
import { createPublicKey, verify, X509Certificate } from "node:crypto";
import { PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type Admin, adminClients, createVcluster, readStatefulSet, waitFor } from "./harness.js";
import {
  createSimulatedNamespace,
  httpsGet,
  kubectl,
  secretData,
  vclusterKubeconfigFile,
  virtualApiserverPids,
  waitForReadyz,
  waitForUpstream,
} from "./simulator-harness.js";

const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

let admin: Admin;
let ns: string;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  admin = adminClients(inject("adminKubeconfig"));
  const created = await createSimulatedNamespace(admin, "sim");
  ns = created.name;
  cleanups.push(created.remove);
});

afterAll(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

const scale = (name: string, replicas: number) =>
  admin.apps.patchNamespacedStatefulSet({ namespace: ns, name, body: { spec: { replicas } } }, mergePatch);

describe("virtual-cluster simulator", () => {
  it("gives a Ready vcluster StatefulSet a kube-apiserver with vcluster's Secrets; data survives 0 → 1", async () => {
    await createVcluster(admin, { namespace: ns, name: "alpha" });
    const upstream = await waitForUpstream(admin, ns, "alpha");
    expect(upstream).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);

    const certs = await waitFor("Secret alpha-certs", 60_000, () => secretData(admin, ns, "alpha-certs"));
    for (const key of [
      "ca.crt",
      "ca.key",
      "client-ca.crt",
      "client-ca.key",
      "apiserver.crt",
      "apiserver.key",
      "front-proxy-ca.crt",
      "front-proxy-client.crt",
      "front-proxy-client.key",
      "sa.pub",
      "sa.key",
      "admin.conf",
    ]) {
      expect(certs[key], key).toBeTruthy();
    }
    // The serving certificate is for the loopback address and signed by ca.crt.
    const serving = new X509Certificate(certs["apiserver.crt"]!);
    expect(serving.subjectAltName).toContain("IP Address:127.0.0.1");
    expect(serving.verify(new X509Certificate(certs["ca.crt"]!).publicKey)).toBe(true);

    const kubeconfig = await vclusterKubeconfigFile(admin, ns, "alpha");
    expect((await secretData(admin, ns, "vc-alpha")).config).toContain(`server: ${upstream}\n`);
    const readyMs = await waitForReadyz(upstream, certs["ca.crt"]!);
    console.log(`[simulator] alpha: /readyz ${readyMs} ms after the upstream annotation appeared`);

    // kubectl with vc-alpha's config works against the virtual cluster, and it is not the host.
    await kubectl(kubeconfig, "create", "configmap", "survivor", "--from-literal=k=v");
    expect(await kubectl(kubeconfig, "get", "configmap", "survivor", "-o", "jsonpath={.data.k}")).toBe("v");
    expect(await kubectl(kubeconfig, "get", "namespaces", "-o", "name")).not.toContain(`namespace/${ns}`);
    const pids = virtualApiserverPids(ns, "alpha");
    expect(pids).toHaveLength(1);

    // 0 replicas: the process is gone and the port refuses connections.
    await scale("alpha", 0);
    await waitFor(
      "alpha's kube-apiserver to exit",
      30_000,
      async () => virtualApiserverPids(ns, "alpha").length === 0,
    );
    await expect(httpsGet(upstream, "/readyz", { ca: certs["ca.crt"]! })).rejects.toThrow(/ECONNREFUSED/);

    // 1 replica again: same address, same data.
    const t0 = Date.now();
    await scale("alpha", 1);
    await waitFor("alpha Ready again", 60_000, async () => {
      const sts = await readStatefulSet(admin, ns, "alpha");
      return (sts.status?.readyReplicas ?? 0) >= 1;
    });
    const podReadyMs = Date.now() - t0;
    const wokenMs = await waitForReadyz(upstream, certs["ca.crt"]!);
    console.log(
      `[simulator] alpha wake: pod Ready ${podReadyMs} ms after scale 1, then /readyz after ${wokenMs} ms more`,
    );
    expect(await waitForUpstream(admin, ns, "alpha")).toBe(upstream);
    expect(await kubectl(kubeconfig, "get", "configmap", "survivor", "-o", "jsonpath={.data.k}")).toBe("v");
    const [pid] = virtualApiserverPids(ns, "alpha");
    expect(pid).toBeDefined();
    expect(pids).not.toContain(pid);
  });

  it("trusts its front-proxy CA for X-Remote-User/X-Remote-Group and sa.pub for ServiceAccount tokens", async () => {
    await createVcluster(admin, { namespace: ns, name: "beta" });
    const upstream = await waitForUpstream(admin, ns, "beta");
    const certs = await waitFor("Secret beta-certs", 60_000, () => secretData(admin, ns, "beta-certs"));
    const ca = certs["ca.crt"]!;
    await waitForReadyz(upstream, ca);
    const frontProxy = { ca, cert: certs["front-proxy-client.crt"]!, key: certs["front-proxy-client.key"]! };

    const asMaster = await httpsGet(upstream, "/api/v1/namespaces/default/configmaps", {
      ...frontProxy,
      headers: { "X-Remote-User": "alice", "X-Remote-Group": "system:masters" },
    });
    expect(asMaster.status).toBe(200);
    // The identity in the headers is the one authorized: bob without groups is forbidden, by name.
    const asBob = await httpsGet(upstream, "/api/v1/namespaces/default/configmaps", {
      ...frontProxy,
      headers: { "X-Remote-User": "bob" },
    });
    expect(asBob.status).toBe(403);
    expect(asBob.body).toContain('User \\"bob\\"');
    // The same headers without the front-proxy certificate are not believed.
    const anonymous = await httpsGet(upstream, "/api/v1/namespaces/default/configmaps", {
      ca,
      headers: { "X-Remote-User": "alice", "X-Remote-Group": "system:masters" },
    });
    expect(anonymous.status).toBe(403);
    expect(anonymous.body).toContain("system:anonymous");

    // A ServiceAccount token from the virtual cluster verifies offline with sa.pub, with the documented issuer.
    const kubeconfig = await vclusterKubeconfigFile(admin, ns, "beta");
    await kubectl(kubeconfig, "-n", "default", "create", "serviceaccount", "robot");
    const token = (await kubectl(kubeconfig, "-n", "default", "create", "token", "robot")).trim();
    const [header, payload, signature] = token.split(".");
    const claims = JSON.parse(Buffer.from(payload!, "base64url").toString()) as { iss: string; sub: string };
    expect(claims.iss).toBe("https://kubernetes.default.svc.cluster.local");
    expect(claims.sub).toBe("system:serviceaccount:default:robot");
    const signed = verify(
      "RSA-SHA256",
      Buffer.from(`${header}.${payload}`),
      createPublicKey(certs["sa.pub"]!),
      Buffer.from(signature!, "base64url"),
    );
    expect(signed).toBe(true);
    const withToken = await httpsGet(upstream, "/api/v1/namespaces/default/configmaps", {
      ca,
      headers: { Authorization: `Bearer ${token}` },
    });
    expect(withToken.status).toBe(403);
    expect(withToken.body).toContain("system:serviceaccount:default:robot");
  });

  it("keeps clusters apart: cluster A's client certificate is rejected by cluster B", async () => {
    // alpha and beta exist from the scenarios above; both CAs are named CN=kubernetes, as kubeadm's are.
    const alphaUpstream = await waitForUpstream(admin, ns, "alpha");
    const betaUpstream = await waitForUpstream(admin, ns, "beta");
    expect(alphaUpstream).not.toBe(betaUpstream);
    const alphaVc = await secretData(admin, ns, "vc-alpha");
    const betaCerts = await secretData(admin, ns, "beta-certs");
    const alphaCerts = await secretData(admin, ns, "alpha-certs");
    expect(new X509Certificate(alphaCerts["client-ca.crt"]!).subject).toBe(
      new X509Certificate(betaCerts["client-ca.crt"]!).subject,
    );
    const alphaClient = { cert: alphaVc["client-certificate"]!, key: alphaVc["client-key"]! };
    const onAlpha = await httpsGet(alphaUpstream, "/api/v1/namespaces", {
      ca: alphaCerts["ca.crt"]!,
      ...alphaClient,
    });
    expect(onAlpha.status).toBe(200);
    const onBeta = await httpsGet(betaUpstream, "/api/v1/namespaces", {
      ca: betaCerts["ca.crt"]!,
      ...alphaClient,
    });
    expect(onBeta.status).toBe(401);
  });

  it("stops the process when the namespace is no longer simulated or the StatefulSet is deleted", async () => {
    await waitFor("beta's process", 30_000, async () => virtualApiserverPids(ns, "beta").length === 1);
    await admin.apps.deleteNamespacedStatefulSet({ namespace: ns, name: "beta" });
    await waitFor(
      "beta's kube-apiserver to exit",
      30_000,
      async () => virtualApiserverPids(ns, "beta").length === 0,
    );
    expect(virtualApiserverPids(ns, "alpha")).toHaveLength(1);
    await admin.core.patchNamespace(
      { name: ns, body: { metadata: { labels: { "slumber.dev/simulate": null } } } },
      mergePatch,
    );
    await waitFor(
      "alpha's kube-apiserver to exit",
      30_000,
      async () => virtualApiserverPids(ns, "alpha").length === 0,
    );
  });
});
