import { describe, expect, it } from "vitest";
import { ActivityThrottle, ignoredBecause, isWatch } from "../../src/proxy/activity.js";
import { parseTarget } from "../../src/proxy/route.js";

describe("parseTarget", () => {
  it.each([
    [
      "path routing with a rest and a query",
      "/vcluster/ns/a/api/v1/pods?watch=true",
      undefined,
      { namespace: "ns", name: "a", upstreamPath: "/api/v1/pods?watch=true", via: "path" },
    ],
    [
      "path routing to the root",
      "/vcluster/ns/a",
      undefined,
      { namespace: "ns", name: "a", upstreamPath: "/", via: "path" },
    ],
    [
      "path routing with only a query",
      "/vcluster/ns/a?timeout=32s",
      undefined,
      { namespace: "ns", name: "a", upstreamPath: "/?timeout=32s", via: "path" },
    ],
    [
      "host routing with a port",
      "/api?timeout=32s",
      "a.ns.vc.example.com:8443",
      { namespace: "ns", name: "a", upstreamPath: "/api?timeout=32s", via: "host" },
    ],
    [
      "an encoded slash in the query is allowed",
      "/vcluster/ns/a/api/v1/pods?labelSelector=app.kubernetes.io%2Fname%3Dx",
      undefined,
      {
        namespace: "ns",
        name: "a",
        upstreamPath: "/api/v1/pods?labelSelector=app.kubernetes.io%2Fname%3Dx",
        via: "path",
      },
    ],
  ])("%s", (_name, url, host, expected) => {
    expect(parseTarget(url, host, host ? "vc.example.com" : undefined)).toEqual(expected);
  });

  it.each([
    ["no prefix", "/api/v1/pods", 404],
    ["a dot segment", "/vcluster/ns/a/../b/api", 400],
    ["a dot segment in the prefix", "/vcluster/../ns/a/api", 400],
    ["an encoded slash", "/vcluster/ns%2Fa/b/api", 400],
    ["an encoded dot", "/vcluster/ns/a/%2e%2e/api", 400],
    ["a backslash", "/vcluster/ns/a\\..\\api", 400],
    ["an upper-case name", "/vcluster/NS/a/api", 404],
    ["a name too long", `/vcluster/ns/${"a".repeat(64)}/api`, 404],
    ["a missing name", "/vcluster/ns", 404],
    ["a relative request target", "vcluster/ns/a", 400],
    ["an absolute-form URL", "https://evil/vcluster/ns/a", 400],
  ])("rejects %s with a %i Status", (_name, url, code) => {
    expect(parseTarget(url, "proxy:8443", undefined)).toMatchObject({ code });
  });

  it("does not host-route three labels, and falls back to path routing for other hosts", () => {
    expect(parseTarget("/api", "x.a.ns.vc.example.com", "vc.example.com")).toMatchObject({ code: 404 });
    expect(parseTarget("/vcluster/ns/a/api", "proxy.example.com", "vc.example.com")).toMatchObject({
      via: "path",
    });
  });
});

describe("activity rules", () => {
  const headers = (userAgent?: string, ignoreHeader?: string) => ({ userAgent, ignoreHeader });
  it.each([
    ["a kubectl get", "/api/v1/pods", headers("kubectl/v1.37.0"), [], null],
    ["a health check", "/readyz?verbose", headers("kubectl"), [], "health check /readyz"],
    ["a livez sub-check", "/livez/etcd", headers("kubectl"), [], "health check /livez/etcd"],
    ["X-Sleep-Mode-Ignore: true", "/api", headers("vcluster", "True"), [], "X-Sleep-Mode-Ignore: true"],
    ["X-Sleep-Mode-Ignore: false", "/api", headers("vcluster", "false"), [], null],
    [
      "an ignored user agent glob",
      "/api",
      headers("argocd-application-controller/v2"),
      ["argocd*"],
      "ignored user agent",
    ],
    ["a user agent not matching", "/api", headers("kubectl/v1"), ["argocd*"], null],
  ])("%s", (_name, path, h, globs, expected) => {
    expect(ignoredBecause(path, h, globs)).toBe(expected);
  });

  it.each([
    ["/api/v1/pods?watch=true", true],
    ["/api/v1/pods?watch=1&resourceVersion=5", true],
    ["/api/v1/namespaces/x/pods/p/log?follow=true", true],
    ["/api/v1/watch/pods", true],
    ["/api/v1/pods?watch=false", false],
    ["/api/v1/pods", false],
  ])("isWatch(%s) is %s", (path, expected) => {
    expect(isWatch(path)).toBe(expected);
  });

  it("reports a cluster's activity at most once a minute", () => {
    const throttle = new ActivityThrottle(60_000);
    expect(throttle.take("a", 0)).toBe(true);
    expect(throttle.take("a", 59_999)).toBe(false);
    expect(throttle.take("b", 1)).toBe(true);
    expect(throttle.take("a", 60_000)).toBe(true);
  });
});
