// `npm run helm:snapshot` (after a reviewed change to deploy/helm) rewrites the committed snapshots that
// test/deploy/helm.test.ts compares with.
// The helm CLI, built once from its Go module by test/cluster/build-helm.sh (cached under
// ~/.cache/slumber/bin/helm-VERSION; CI builds it before `npm test`), and the chart's renderings.
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dirname, "..");
export const CHART = join(root, "deploy/helm");

/** `$SLUMBER_HELM`, else the cached build (building it first if needed: minutes on a cold cache). */
export function helmBinary(): string {
  if (process.env.SLUMBER_HELM) return process.env.SLUMBER_HELM;
  const out = execFileSync("bash", [join(root, "test/cluster/build-helm.sh")], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  return out.trim().split("\n").at(-1)!;
}

/** Snapshot files (committed) and the values each is rendered with. */
export const HELM_SNAPSHOTS = [
  { file: "test/deploy/snapshots/helm-template-default.yaml", values: [] as string[] },
  { file: "test/deploy/snapshots/helm-template-full.yaml", values: ["test/deploy/helm-values-full.yaml"] },
];

export function helmTemplate(helm: string, valueFiles: string[], extra: string[] = []): string {
  return execFileSync(
    helm,
    [
      "template",
      "slumber",
      CHART,
      "--namespace",
      "slumber",
      ...valueFiles.flatMap((f) => ["--values", join(root, f)]),
      ...extra,
    ],
    { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] },
  );
}

function main(): void {
  const helm = helmBinary();
  for (const snapshot of HELM_SNAPSHOTS) {
    writeFileSync(join(root, snapshot.file), helmTemplate(helm, snapshot.values));
    process.stderr.write(`wrote ${snapshot.file}\n`);
  }
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) main();
