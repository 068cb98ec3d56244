// Unit tests for the simulator's pure parts; the e2e (test/e2e/simulator.e2e.test.ts) runs it for real.
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import {
  apiserverArgs,
  kubeconfigYaml,
  parsePortRange,
  portCandidates,
  portOf,
  upstreamFor,
  viewOf,
  wantsProcess,
} from "./simulator.js";

describe("simulator: which StatefulSets get a process", () => {
  const sts = (labels: Record<string, string>, replicas?: number, ready?: number) => ({
    metadata: { namespace: "ns", name: "vc", labels, annotations: {} },
    spec: replicas === undefined ? undefined : { replicas, selector: {}, serviceName: "", template: {} },
    status: ready === undefined ? undefined : { replicas: 1, readyReplicas: ready },
  });

  it("takes vcluster control planes only, named by their release label", () => {
    expect(viewOf(sts({ app: "vcluster", release: "team-a" }))?.name).toBe("team-a");
    expect(viewOf(sts({ app: "vcluster" }))).toBeUndefined();
    expect(viewOf(sts({ app: "web", release: "x" }))).toBeUndefined();
  });

  it("runs a process only while a replica is Ready and the control plane is not scaled to 0", () => {
    const v = (replicas?: number, ready?: number) => viewOf(sts({ app: "vcluster", release: "a" }, replicas, ready))!;
    expect(wantsProcess(v(1, 1))).toBe(true);
    expect(wantsProcess(v(undefined, 1))).toBe(true); // replicas defaults to 1
    expect(wantsProcess(v(1, 0))).toBe(false);
    expect(wantsProcess(v(1, undefined))).toBe(false);
    expect(wantsProcess(v(0, 1))).toBe(false); // scaled down, pod not gone yet
  });
});

describe("simulator: ports", () => {
  it("reads back only loopback upstreams it could have written", () => {
    expect(portOf(upstreamFor(17001))).toBe(17001);
    expect(portOf("https://10.0.0.1:443")).toBeUndefined();
    expect(portOf("https://127.0.0.1:99999")).toBeUndefined();
    expect(portOf(undefined)).toBeUndefined();
  });

  it("tries a name-derived port first, then every other free port of the range once", () => {
    const range = parsePortRange("17000-17009");
    const first = portCandidates("ns/a", range, new Set());
    expect(portCandidates("ns/a", range, new Set())).toEqual(first);
    expect(new Set(first).size).toBe(10);
    expect(first.every((p) => p >= 17000 && p <= 17009)).toBe(true);
    const taken = new Set([first[0]!, first[1]!]);
    expect(portCandidates("ns/a", range, taken)).toEqual(first.slice(2));
  });

  it("rejects a malformed port range, naming it", () => {
    expect(() => parsePortRange("17000")).toThrow(/"17000"/);
    expect(() => parsePortRange("18000-17000")).toThrow(/invalid port range/);
    expect(() => parsePortRange("0-10")).toThrow(/invalid port range/);
  });
});

describe("simulator: what it writes", () => {
  it("a client-certificate kubeconfig with the server and embedded data", () => {
    const cfg = parse(kubeconfigYaml("https://127.0.0.1:17005", "CA", "CRT", "KEY"));
    expect(cfg.clusters[0].cluster.server).toBe("https://127.0.0.1:17005");
    expect(Buffer.from(cfg.clusters[0].cluster["certificate-authority-data"], "base64").toString()).toBe("CA");
    expect(Buffer.from(cfg.users[0].user["client-certificate-data"], "base64").toString()).toBe("CRT");
    expect(Buffer.from(cfg.users[0].user["client-key-data"], "base64").toString()).toBe("KEY");
    expect(cfg["current-context"]).toBe(cfg.contexts[0].name);
  });

  it("a kube-apiserver on loopback, under its own etcd prefix, trusting the front proxy for identity headers", () => {
    const args = apiserverArgs({ etcd: "http://127.0.0.1:23790", prefix: "/sim/ns/a", port: 17005, pki: "/p" });
    expect(args).toContain("--etcd-prefix=/sim/ns/a");
    expect(args).toContain("--bind-address=127.0.0.1");
    expect(args).toContain("--secure-port=17005");
    expect(args).toContain("--client-ca-file=/p/client-ca.crt");
    expect(args).toContain("--requestheader-client-ca-file=/p/front-proxy-ca.crt");
    expect(args).toContain("--requestheader-username-headers=X-Remote-User");
    expect(args).toContain("--requestheader-group-headers=X-Remote-Group");
    expect(args).toContain("--requestheader-allowed-names=front-proxy-client");
    expect(args).toContain("--service-account-key-file=/p/sa.pub");
  });
});
