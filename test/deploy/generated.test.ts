import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { generateDeployFiles, staleFiles } from "../../scripts/generate-deploy.js";
import { repoRoot } from "./rbac.js";

describe("generated install files (npm run deploy:generate)", () => {
  it("are current: dashboards/*.json and deploy/prometheus/*.yaml copied where kustomize and Helm read them", () => {
    const expected = generateDeployFiles(repoRoot);
    const outdated = [...expected].filter(
      ([path, content]) =>
        !existsSync(join(repoRoot, path)) || readFileSync(join(repoRoot, path), "utf8") !== content,
    );
    expect(
      { outdated: outdated.map(([path]) => path), stale: staleFiles(repoRoot, expected) },
      "run `npm run deploy:generate` and commit the result",
    ).toEqual({ outdated: [], stale: [] });
  });

  it("with a dashboard and a rule file, the overlays render a sidecar ConfigMap and a PrometheusRule", () => {
    const root = mkdtempSync(join(tmpdir(), "slumber-deploy-"));
    cpSync(join(repoRoot, "deploy"), join(root, "deploy"), { recursive: true });
    mkdirSync(join(root, "dashboards/json"), { recursive: true });
    writeFileSync(join(root, "dashboards/json/savings.json"), JSON.stringify({ title: "Slumber savings" }));
    // Only this test's rule file: the project's own are checked by the test above.
    rmSync(join(root, "deploy/prometheus"), { recursive: true, force: true });
    mkdirSync(join(root, "deploy/prometheus"), { recursive: true });
    writeFileSync(
      join(root, "deploy/prometheus/rules.yaml"),
      'groups:\n  - name: slumber\n    rules:\n      - alert: SlumberDown\n        expr: up{job="slumber"} == 0\n',
    );
    for (const [path, content] of generateDeployFiles(root)) {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), content);
    }
    const render = (dir: string) =>
      parseAllDocuments(execFileSync("kubectl", ["kustomize", join(root, dir)], { encoding: "utf8" })).map(
        (d) =>
          d.toJS() as {
            kind: string;
            metadata: { name: string; labels?: Record<string, string> };
            data?: Record<string, string>;
            spec?: { groups?: { name: string }[] };
          },
      );
    const grafana = render("deploy/overlays/grafana");
    const dashboard = grafana.find(
      (o) => o.kind === "ConfigMap" && o.metadata.name === "slumber-dashboard-savings",
    );
    expect(dashboard?.metadata.labels?.grafana_dashboard).toBe("1");
    expect(JSON.parse(dashboard?.data?.["savings.json"] ?? "{}")).toEqual({ title: "Slumber savings" });
    expect(grafana.filter((o) => o.kind === "Deployment")).toHaveLength(1);
    const operator = render("deploy/overlays/prometheus-operator");
    expect(operator.find((o) => o.kind === "PrometheusRule")?.spec?.groups?.map((g) => g.name)).toEqual([
      "slumber",
    ]);
    expect(operator.find((o) => o.kind === "ServiceMonitor")?.metadata.name).toBe("slumber");
  });
});
