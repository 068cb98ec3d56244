import { createServer } from "node:net";
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { ExitCode } from "../../src/cli/errors.js";
import { parsePort, runAgent } from "../../src/cli/run.js";
import { loadAgentConfig } from "../../src/config/load.js";
import type { LeadershipHandlers } from "../../src/leader/election.js";
import { createLogger } from "../../src/log.js";
import { SlumberMetrics } from "../../src/metrics/registry.js";

const silent = createLogger("silent", new Writable({ write: (_c, _e, done) => done() }));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}

function fakeReconciler(stop: () => Promise<void> = async () => {}) {
  const calls: string[] = [];
  let ready = false;
  return {
    calls,
    makeReady: () => {
      ready = true;
    },
    reconciler: {
      start: async () => {
        calls.push("start");
      },
      stop: async () => {
        calls.push("stop");
        await stop();
      },
      isReady: () => ready,
    },
  };
}

describe("parsePort", () => {
  it("accepts 0-65535", () => {
    expect(parsePort("--metrics-port", "8080")).toBe(8080);
    expect(parsePort("--metrics-port", "0")).toBe(0);
  });
  it.each(["http", "-1", "65536", "80.5", ""])("rejects %j as a usage error", (value) => {
    expect(() => parsePort("--metrics-port", value)).toThrow(
      expect.objectContaining({ exitCode: ExitCode.usage }),
    );
  });
});

describe("runAgent", () => {
  it("serves readiness from the reconciler and stops it on the signal", async () => {
    const port = await freePort();
    const fake = fakeReconciler();
    let signal!: (name: string) => void;
    const running = runAgent({
      config: loadAgentConfig({}, {}),
      metricsPort: port,
      proxyPort: 8443,
      metrics: new SlumberMetrics({ defaultMetrics: false }),
      reconciler: fake.reconciler,
      logger: silent,
      stopSignal: new Promise((resolve) => {
        signal = resolve;
      }),
    });
    await expect.poll(() => fake.calls).toEqual(["start"]);
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(503);
    fake.makeReady();
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
    signal("SIGTERM");
    expect(await running).toBe(ExitCode.ok);
    expect(fake.calls).toEqual(["start", "stop"]);
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
  });

  it("starts the wake proxy before the reconciler and closes it on the signal; a proxy that cannot start exits 1", async () => {
    const fake = fakeReconciler();
    const order: string[] = [];
    const code = await runAgent({
      config: loadAgentConfig({}, {}),
      metricsPort: await freePort(),
      proxyPort: 0,
      metrics: new SlumberMetrics({ defaultMetrics: false }),
      reconciler: fake.reconciler,
      logger: silent,
      startProxy: async () => {
        order.push(`proxy before ${fake.calls.join(",") || "nothing"}`);
        return { port: 1, close: async () => void order.push("proxy closed") };
      },
      stopSignal: Promise.resolve("SIGTERM"),
    });
    expect(code).toBe(ExitCode.ok);
    expect(order).toEqual(["proxy before nothing", "proxy closed"]);
    const failing = fakeReconciler();
    const failed = await runAgent({
      config: loadAgentConfig({}, {}),
      metricsPort: await freePort(),
      proxyPort: 0,
      metrics: new SlumberMetrics({ defaultMetrics: false }),
      reconciler: failing.reconciler,
      logger: silent,
      startProxy: async () => {
        throw new Error("Secret slumber/mine (--proxy-cert-secret) not found");
      },
      stopSignal: new Promise(() => {}),
    });
    expect(failed).toBe(ExitCode.failure);
    expect(failing.calls).toEqual([]);
  });

  it("gives up on a stop that hangs and exits 1", async () => {
    const fake = fakeReconciler(() => new Promise(() => {}));
    const code = await runAgent({
      config: loadAgentConfig({}, {}),
      metricsPort: await freePort(),
      proxyPort: 8443,
      metrics: new SlumberMetrics({ defaultMetrics: false }),
      reconciler: fake.reconciler,
      logger: silent,
      stopSignal: Promise.resolve("SIGINT"),
      stopTimeoutMs: 50,
    });
    expect(code).toBe(ExitCode.failure);
  });
});

function fakeElection(calls: string[]) {
  let handlers: LeadershipHandlers | undefined;
  let leader = false;
  return {
    lead: () => {
      leader = true;
      handlers?.onStartedLeading();
    },
    lose: () => {
      leader = false;
      handlers?.onStoppedLeading("lost");
    },
    election: {
      start: (h: LeadershipHandlers) => {
        handlers = h;
        calls.push("election start");
      },
      stop: async () => {
        calls.push("election stop (release)");
      },
      isLeader: () => leader,
    },
  };
}

describe("runAgent with leader election", () => {
  it("a follower is ready and runs no reconciler; the leader runs it; SIGTERM drains, stops, then releases", async () => {
    const port = await freePort();
    const fake = fakeReconciler();
    const election = fakeElection(fake.calls);
    let signal!: (name: string) => void;
    const running = runAgent({
      config: loadAgentConfig({}, {}),
      metricsPort: port,
      proxyPort: 8443,
      metrics: new SlumberMetrics({ defaultMetrics: false }),
      reconciler: fake.reconciler,
      logger: silent,
      election: election.election,
      drainHooks: [
        async () => {
          fake.calls.push("drain proxy");
        },
      ],
      stopSignal: new Promise((resolve) => {
        signal = resolve;
      }),
    });
    await expect.poll(() => fake.calls).toEqual(["election start"]);
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
    election.lead();
    expect(fake.calls).toEqual(["election start", "start"]);
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(503);
    fake.makeReady();
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
    signal("SIGTERM");
    expect(await running).toBe(ExitCode.ok);
    expect(fake.calls).toEqual(["election start", "start", "drain proxy", "stop", "election stop (release)"]);
  });

  it("a follower that never led stops without stopping a reconciler it never started", async () => {
    const fake = fakeReconciler();
    const election = fakeElection(fake.calls);
    const code = await runAgent({
      config: loadAgentConfig({}, {}),
      metricsPort: await freePort(),
      proxyPort: 8443,
      metrics: new SlumberMetrics({ defaultMetrics: false }),
      reconciler: fake.reconciler,
      logger: silent,
      election: election.election,
      stopSignal: new Promise((resolve) => setTimeout(() => resolve("SIGTERM"), 20)),
    });
    expect(code).toBe(ExitCode.ok);
    expect(fake.calls).toEqual(["election start", "election stop (release)"]);
  });

  it("losing the lease stops the reconciler and exits 1, so the process restarts as a follower", async () => {
    const port = await freePort();
    const fake = fakeReconciler();
    const election = fakeElection(fake.calls);
    const running = runAgent({
      config: loadAgentConfig({}, {}),
      metricsPort: port,
      proxyPort: 8443,
      metrics: new SlumberMetrics({ defaultMetrics: false }),
      reconciler: fake.reconciler,
      logger: silent,
      election: election.election,
      stopSignal: new Promise(() => {}),
    });
    await expect.poll(() => fake.calls).toEqual(["election start"]);
    election.lead();
    election.lose();
    expect(await running).toBe(ExitCode.failure);
    expect(fake.calls).toEqual(["election start", "start", "stop", "election stop (release)"]);
  });
});
