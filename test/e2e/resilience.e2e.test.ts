// The agent killed in the middle of a sleep, and the API server restarted under a running agent.
import { execFile } from "node:child_process";
import { resolve } from "node:path";
import { promisify } from "node:util";
import { KubeConfig, Watch } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import {
  type Admin,
  adminClients,
  ago,
  createVcluster,
  idleForHours,
  namespaces,
  readStatefulSet,
  slumberCli,
  startAgent,
  vclusterAsleep,
  waitFor,
} from "./harness.js";

const run = promisify(execFile);
const repoRoot = resolve(import.meta.dirname, "../..");
const idle = idleForHours();

let admin: Admin;
const scenarioNamespaces = namespaces(() => admin);
const hostNamespace = (prefix: string) => scenarioNamespaces.create(prefix);
const isAsleep = (ns: string, name: string) => vclusterAsleep(admin, ns, name);

beforeAll(() => {
  admin = adminClients(inject("adminKubeconfig"));
});
afterAll(async () => {
  await scenarioNamespaces.removeAll();
});

async function wake(ns: string, name: string): Promise<void> {
  await slumberCli(inject("agentKubeconfig"), "wake", `${ns}/${name}`, "--timeout", "120s");
}

describe("crash safety", () => {
  it("finishes a sleep that a killed agent left half done, and the wake restores every replica", async () => {
    const ns = await hostNamespace("crash-half");
    // The state a crash leaves after the first write: pause recorded, replicas not yet changed.
    await createVcluster(admin, {
      namespace: ns,
      name: "half",
      replicas: 3,
      annotations: {
        "slumber.dev/sleep-after": "30m",
        ...idle,
        "loft.sh/paused": "true",
        "loft.sh/paused-replicas": "3",
        "loft.sh/paused-date": ago(10_000),
        "slumber.dev/sleeping-since": ago(10_000),
        "slumber.dev/sleep-reason": "inactivity",
      },
    });
    const agent = await startAgent({ kubeconfig: inject("agentKubeconfig") });
    try {
      const sts = await waitFor("half asleep", 60_000, isAsleep(ns, "half"));
      expect(sts.metadata?.annotations?.["loft.sh/paused-replicas"]).toBe("3");
      await wake(ns, "half");
      expect((await readStatefulSet(admin, ns, "half")).spec?.replicas).toBe(3);
    } finally {
      await agent.stop();
    }
  });

  it("SIGKILLed right after it recorded the pause, a restarted agent finishes with nothing lost", async () => {
    const ns = await hostNamespace("crash-kill");
    await createVcluster(admin, {
      namespace: ns,
      name: "killed",
      replicas: 2,
      annotations: { "slumber.dev/sleep-after": "30m", ...idle },
    });
    const kc = new KubeConfig();
    kc.loadFromFile(inject("adminKubeconfig"));
    const agent = await startAgent({ kubeconfig: inject("agentKubeconfig") });
    // Kill the agent the moment the pause annotation shows up on the watch.
    await new Promise<void>((resolveKill, reject) => {
      const timer = setTimeout(() => reject(new Error("no pause annotation within 60s")), 60_000);
      void new Watch(kc).watch(
        `/apis/apps/v1/namespaces/${ns}/statefulsets`,
        {},
        (_type, obj: { metadata?: { annotations?: Record<string, string> } }) => {
          if (obj.metadata?.annotations?.["loft.sh/paused"] === "true") {
            clearTimeout(timer);
            void agent.kill().then(resolveKill);
          }
        },
        (err) => (err ? reject(err) : undefined),
      );
    });
    const mid = await readStatefulSet(admin, ns, "killed");
    expect(mid.metadata?.annotations?.["loft.sh/paused-replicas"]).toBe("2");

    const again = await startAgent({ kubeconfig: inject("agentKubeconfig") });
    try {
      await waitFor("killed asleep", 60_000, isAsleep(ns, "killed"));
      await wake(ns, "killed");
      expect((await readStatefulSet(admin, ns, "killed")).spec?.replicas).toBe(2);
    } finally {
      await again.stop();
    }
  });
});

describe("dry run", () => {
  it("decides and reports, but writes nothing", async () => {
    const ns = await hostNamespace("dry-run");
    await createVcluster(admin, {
      namespace: ns,
      name: "untouched",
      annotations: { "slumber.dev/sleep-after": "30m", ...idle },
    });
    const before = await readStatefulSet(admin, ns, "untouched");
    const agent = await startAgent({ kubeconfig: inject("agentKubeconfig"), extraArgs: ["--dry-run"] });
    try {
      await waitFor(
        "the agent to say what it would do",
        30_000,
        async () =>
          agent.logs().includes(`"target":"vcluster/${ns}/untouched"`) &&
          agent.logs().includes('"dryRun":true'),
      );
      await new Promise((r) => setTimeout(r, 5_000));
      const after = await readStatefulSet(admin, ns, "untouched");
      // Status changes as the pod starts; what the agent would write (annotations, replicas) must not.
      expect(after.metadata?.annotations).toEqual(before.metadata?.annotations);
      expect(after.spec?.replicas).toBe(1);
    } finally {
      await agent.stop();
    }
  });
});

describe("API server restart", () => {
  it("the running agent's informers recover and it keeps acting", async () => {
    // A resync far away: only recovered watches (not a periodic re-list) can notice the new target.
    const agent = await startAgent({ kubeconfig: inject("agentKubeconfig"), extraArgs: ["--resync", "10m"] });
    try {
      await run("bash", [resolve(repoRoot, "test/cluster/restart-apiserver.sh")], { timeout: 180_000 });
      const ns = await hostNamespace("after-restart");
      // Created after the restart: only a live watch (or resync over a live connection) sees it.
      await createVcluster(admin, {
        namespace: ns,
        name: "late",
        annotations: { "slumber.dev/sleep-after": "30m", ...idle },
      });
      await waitFor("late asleep", 90_000, isAsleep(ns, "late"));
      expect(agent.child.exitCode).toBeNull();
      expect(agent.logs()).toContain("informer stopped; restarting");
    } finally {
      await agent.stop();
    }
  });
});
