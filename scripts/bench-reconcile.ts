// Prints how long one full reconcileAll takes over 1,000 in-memory vclusters (no assertions: a figure to compare).
// Run: npm run bench -- scripts/bench-reconcile.ts   (scripts/bench-scale.ts reuses benchReconcile)
import { pathToFileURL } from "node:url";
import { pino } from "pino";
import { Annotations } from "../src/policy/annotations.js";
import { nullObserver } from "../src/reconciler/observer.js";
import { Reconciler } from "../src/reconciler/reconciler.js";
import { T0, testConfig } from "../test/fakes/harness.js";
import { FakeKube } from "../test/fakes/kube.js";

export interface ReconcileFigures {
  count: number;
  /** First pass: every target evaluated, half of them put to sleep (records, scale-downs, pod deletions). */
  firstPassMs: number;
  /** A pass with nothing to do: the agent's own cost of one resync. */
  steadyPassMs: number;
  /** The pass putting the other half to sleep. */
  sleepPassMs: number;
  writes: number;
}

export async function benchReconcile(count = 1_000): Promise<ReconcileFigures> {
  const iso = (ms: number) => new Date(ms).toISOString();
  const kube = new FakeKube();
  for (let i = 0; i < count; i++) {
    const release = `vc${i}`;
    kube.addControlPlane({
      namespace: `vcluster-${release}`,
      release,
      replicas: 1,
      annotations: {
        [Annotations.sleepAfter]: "1h",
        [Annotations.lastActivity]: iso(T0 - (i % 2) * 2 * 3_600_000),
      },
    });
    kube.addPod(
      `vcluster-${release}`,
      `app-x-default-x-${release}`,
      { "vcluster.loft.sh/managed-by": release },
      { cpu: "500m", memory: "512Mi" },
    );
  }
  let now = T0;
  const reconciler = new Reconciler({
    kube,
    config: testConfig(),
    clock: { now: () => now },
    observer: nullObserver,
    logger: pino({ level: "silent" }),
  });
  const time = async () => {
    const start = performance.now();
    await reconciler.reconcileAll();
    return Math.round(performance.now() - start);
  };
  const firstPassMs = await time();
  const steadyPassMs = await time();
  now += 2 * 3_600_000;
  const sleepPassMs = await time();
  return { count, firstPassMs, steadyPassMs, sleepPassMs, writes: kube.writes.length };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const figures = await benchReconcile();
  console.log(`first pass, ${figures.count} vclusters, half put to sleep: ${figures.firstPassMs} ms`);
  console.log(`steady-state pass (no changes): ${figures.steadyPassMs} ms`);
  console.log(
    `pass putting the other half to sleep: ${figures.sleepPassMs} ms (${figures.writes} writes in all)`,
  );
}
