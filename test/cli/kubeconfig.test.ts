import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { ExitCode } from "../../src/cli/errors.js";
import {
  type KubeconfigOptions,
  type KubeconfigSources,
  proxyServer,
  tenantKubeconfig,
} from "../../src/cli/kubeconfig.js";
import { runCli } from "../../src/cli/program.js";
import { FakeKube } from "../fakes/kube.js";

const PROXY_CA = "-----BEGIN CERTIFICATE-----\nproxy-ca\n-----END CERTIFICATE-----\n";
const FILE_CA = "-----BEGIN CERTIFICATE-----\nfile-ca\n-----END CERTIFICATE-----\n";
const b64 = (s: string) => Buffer.from(s).toString("base64");

/** vc-NAME's config as vcluster writes it: the virtual cluster's own address and an admin client cert. */
const vcConfig = (user: Record<string, string>) =>
  [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "- name: my-vcluster",
    `  cluster: {server: 'https://localhost:8443', certificate-authority-data: ${b64("vc-ca")}}`,
    "users:",
    "- name: other",
    "  user: {token: not-this-one}",
    "- name: my-vcluster",
    `  user: ${JSON.stringify(user)}`,
    "contexts:",
    "- name: my-vcluster",
    "  context: {cluster: my-vcluster, user: my-vcluster}",
    "current-context: my-vcluster",
  ].join("\n");

function world(opts: { vc?: Record<string, string> | null; tls?: Record<string, string> | null } = {}) {
  const kube = new FakeKube();
  kube.addControlPlane({ namespace: "team-a", release: "vc1" });
  const secrets = new Map<string, Record<string, string>>();
  const vc =
    opts.vc === undefined
      ? { config: vcConfig({ "client-certificate-data": b64("CRT"), "client-key-data": b64("KEY") }) }
      : opts.vc;
  if (vc) secrets.set("team-a/vc-vc1", vc);
  const tls = opts.tls === undefined ? { "ca.crt": PROXY_CA, "tls.crt": "x", "tls.key": "y" } : opts.tls;
  if (tls) secrets.set("slumber-system/slumber-proxy-tls", tls);
  const reads: string[] = [];
  const src: KubeconfigSources = {
    getControlPlane: (ns, release) => kube.getControlPlane(ns, release),
    readSecret: async (ns, name) => {
      reads.push(`${ns}/${name}`);
      return secrets.get(`${ns}/${name}`) ?? null;
    },
    readFile: (path) => {
      if (path === "/ca.pem") return FILE_CA;
      if (path === "/not-pem") return "hello";
      throw new Error("ENOENT: no such file");
    },
  };
  return { src, reads };
}

const options = (over: Partial<KubeconfigOptions> = {}): KubeconfigOptions => ({
  target: "team-a/vc1",
  proxyUrl: "https://127.0.0.1:8443",
  agentNamespace: "slumber-system",
  proxyTlsSecret: "slumber-proxy-tls",
  ...over,
});

interface Doc {
  clusters: { name: string; cluster: { server: string; "certificate-authority-data"?: string } }[];
  users: { name: string; user: Record<string, string> }[];
  contexts: { name: string; context: { cluster: string; user: string } }[];
  "current-context": string;
}

describe("slumber kubeconfig", () => {
  it("points at the proxy's path route, trusts the proxy's CA and carries vc-NAME's client certificate", async () => {
    const { src } = world();
    const { yaml, warnings } = await tenantKubeconfig(options(), src);
    const doc = parse(yaml) as Doc;
    expect(warnings).toEqual([]);
    expect(doc.clusters[0]!.cluster.server).toBe("https://127.0.0.1:8443/vcluster/team-a/vc1");
    expect(Buffer.from(doc.clusters[0]!.cluster["certificate-authority-data"]!, "base64").toString()).toBe(
      PROXY_CA,
    );
    expect(doc.users[0]!.user).toEqual({
      "client-certificate-data": b64("CRT"),
      "client-key-data": b64("KEY"),
    });
    const context = doc.contexts.find((c) => c.name === doc["current-context"])!;
    expect(context.context).toEqual({ cluster: doc.clusters[0]!.name, user: doc.users[0]!.name });
  });

  it("carries a token when that is vc-NAME's credential", async () => {
    const { src } = world({ vc: { config: vcConfig({ token: "tok-123" }) } });
    const doc = parse((await tenantKubeconfig(options(), src)).yaml) as Doc;
    expect(doc.users[0]!.user).toEqual({ token: "tok-123" });
  });

  it("uses --proxy-ca-file instead of the Secret, and keeps a base path of --proxy-url", async () => {
    const { src, reads } = world({ tls: null });
    const doc = parse(
      (
        await tenantKubeconfig(
          options({ proxyCaFile: "/ca.pem", proxyUrl: "https://proxy.example.com/slumber/" }),
          src,
        )
      ).yaml,
    ) as Doc;
    expect(doc.clusters[0]!.cluster.server).toBe("https://proxy.example.com/slumber/vcluster/team-a/vc1");
    expect(Buffer.from(doc.clusters[0]!.cluster["certificate-authority-data"]!, "base64").toString()).toBe(
      FILE_CA,
    );
    expect(reads).not.toContain("slumber-system/slumber-proxy-tls");
  });

  it("warns and trusts the system CAs when the TLS Secret has no ca.crt (a publicly signed certificate)", async () => {
    const { src } = world({ tls: { "tls.crt": "x", "tls.key": "y" } });
    const { yaml, warnings } = await tenantKubeconfig(options(), src);
    expect((parse(yaml) as Doc).clusters[0]!.cluster["certificate-authority-data"]).toBeUndefined();
    expect(warnings.join()).toContain("slumber-system/slumber-proxy-tls has no ca.crt");
  });

  it.each([
    ["a malformed target", options({ target: "vc1" }), ExitCode.usage, /is not NAMESPACE\/NAME/],
    ["an http proxy URL", options({ proxyUrl: "http://127.0.0.1:8443" }), ExitCode.usage, /must be https/],
    ["a proxy URL that is not one", options({ proxyUrl: "127.0.0.1:8443" }), ExitCode.usage, /--proxy-url/],
    ["an unreadable CA file", options({ proxyCaFile: "/nope" }), ExitCode.usage, /cannot read \/nope/],
    ["a CA file without PEM", options({ proxyCaFile: "/not-pem" }), ExitCode.usage, /no PEM certificate/],
    [
      "an unknown virtual cluster",
      options({ target: "team-a/nope" }),
      ExitCode.failure,
      /no virtual cluster nope in namespace team-a/,
    ],
    [
      "a missing proxy TLS Secret",
      options({ proxyTlsSecret: "other" }),
      ExitCode.failure,
      /slumber-system\/other not found/,
    ],
  ])("fails on %s with the right exit code, naming it", async (_what, opts, exitCode, message) => {
    const { src } = world();
    await expect(tenantKubeconfig(opts, src)).rejects.toMatchObject({
      exitCode,
      message: expect.stringMatching(message),
    });
  });

  it.each([
    ["no vc-NAME Secret", null, /team-a\/vc-vc1 not found/],
    ["no config key", { other: "x" }, /has no key "config"/],
    [
      "a user without an inline credential",
      { config: vcConfig({ "client-certificate": "/path/crt" }) },
      /no inline client certificate/,
    ],
  ])("fails with exit 1 on %s", async (_what, vc, message) => {
    const { src } = world({ vc });
    await expect(tenantKubeconfig(options(), src)).rejects.toMatchObject({
      exitCode: ExitCode.failure,
      message: expect.stringMatching(message),
    });
  });

  it("never puts the credential in an error message", async () => {
    const { src } = world({ vc: { config: vcConfig({ "client-key-data": b64("SECRET-KEY") }) } });
    const error = await tenantKubeconfig(options(), src).catch((e: Error) => e);
    expect(String((error as Error).message)).not.toContain(b64("SECRET-KEY"));
  });

  it("builds the server URL from the origin and path of --proxy-url", () => {
    expect(proxyServer("https://h:1", "a", "b")).toBe("https://h:1/vcluster/a/b");
    expect(proxyServer("https://h/x//", "a", "b")).toBe("https://h/x/vcluster/a/b");
  });

  it("is a command: usage errors exit 2 before touching any cluster", async () => {
    let stderr = "";
    const code = await runCli(["kubeconfig", "not-a-target", "--kubeconfig", "/nonexistent"], {
      out: () => {},
      err: (t) => {
        stderr += t;
      },
    });
    expect(code).toBe(ExitCode.usage);
    expect(stderr).toContain('"not-a-target" is not NAMESPACE/NAME');
  });
});
