// Prints how long one full reconcileAll takes over 1,000 in-memory vclusters (no assertions: a figure to compare).
// Run: npm run bench -- scripts/bench-reconcile.ts
import { pino } from "pino";
import { Annotations } from "../src/policy/annotations.js";
import { nullObserver } from "../src/reconciler/observer.js";
import { Reconciler } from "../src/reconciler/reconciler.js";
import { T0, testConfig } from "../test/fakes/harness.js";
import { FakeKube } from "../test/fakes/kube.js";

const COUNT = 1_000;
const iso = (ms: number) => new Date(ms).toISOString();
const kube = new FakeKube();
for (let i = 0; i < COUNT; i++) {
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

const time = async (label: string) => {
  const start = performance.now();
  await reconciler.reconcileAll();
  console.log(`${label}: ${(performance.now() - start).toFixed(0)} ms (${kube.writes.length} writes so far)`);
};
await time(`first pass, ${COUNT} vclusters, half put to sleep`);
await time("steady-state pass (no changes)");
now += 2 * 3_600_000;
await time("pass putting the other half to sleep");
