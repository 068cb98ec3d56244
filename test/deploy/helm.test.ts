import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { CHART, HELM_SNAPSHOTS, helmBinary, helmTemplate } from "../../scripts/helm-snapshot.js";
import { parseManifests, type RbacObject, rbacOf, repoRoot } from "./rbac.js";

let helm = "";
beforeAll(() => {
  helm = helmBinary();
}, 30 * 60_000); // a cold cache builds helm from source first (CI builds it before `npm test`)

type Manifest = RbacObject & { spec?: Record<string, unknown>; data?: Record<string, string> };
const kustomize = (dir: string): Manifest[] =>
  parseManifests(
    execFileSync("kubectl", ["kustomize", join(repoRoot, dir)], { encoding: "utf8" }),
  ) as Manifest[];
const render = (values: string[] = [], extra: string[] = []): Manifest[] =>
  parseManifests(helmTemplate(helm, values, extra)) as Manifest[];

/** RBAC objects without labels, sorted, for comparing two renderings. */
function normalizedRbac(objects: Manifest[]) {
  return rbacOf(objects)
    .objects.map((o) => ({
      kind: o.kind,
      name: o.metadata.name,
      namespace: o.metadata.namespace ?? null,
      rules: o.rules ?? null,
      roleRef: o.roleRef ?? null,
      subjects: o.subjects ?? null,
    }))
    .sort((a, b) => `${a.kind}/${a.name}`.localeCompare(`${b.kind}/${b.name}`));
}

type Container = Record<string, unknown> & { args?: string[] };
function agentPod(objects: Manifest[]) {
  const deployment = objects.find((o) => o.kind === "Deployment")!;
  const spec = deployment.spec as {
    replicas: number;
    template: { spec: Record<string, unknown> & { containers: Container[] } };
  };
  return { replicas: spec.replicas, pod: spec.template.spec, container: spec.template.spec.containers[0]! };
}

describe("Helm chart deploy/helm", () => {
  it("passes helm lint --strict, with the default values and with every option on", () => {
    for (const values of [[], ["--values", join(repoRoot, "test/deploy/helm-values-full.yaml")]]) {
      const out = execFileSync(helm, ["lint", CHART, "--strict", ...values], { encoding: "utf8" });
      expect(out).toContain("0 chart(s) failed");
    }
  });

  it.each(HELM_SNAPSHOTS)(
    "renders exactly the reviewed snapshot $file (regenerate: npm run helm:snapshot)",
    ({ file, values }) => {
      expect(helmTemplate(helm, values)).toBe(readFileSync(join(repoRoot, file), "utf8"));
    },
  );

  it("renders the same RBAC as kustomize (deploy/)", () => {
    expect(normalizedRbac(render())).toEqual(normalizedRbac(kustomize("deploy")));
  });

  it("renders the same hardened pod as kustomize: replicas, security contexts, probes, resources, flags", () => {
    const chart = agentPod(render());
    const base = agentPod(kustomize("deploy"));
    expect(chart.replicas).toBe(base.replicas);
    for (const key of ["securityContext", "terminationGracePeriodSeconds", "enableServiceLinks"])
      expect(chart.pod[key], key).toEqual(base.pod[key]);
    for (const key of ["securityContext", "livenessProbe", "readinessProbe", "resources", "ports", "env"])
      expect(chart.container[key], key).toEqual(base.container[key]);
    // kustomize passes fewer flags (the defaults); every one it passes, the chart passes too.
    for (const arg of base.container.args!) expect(chart.container.args).toContain(arg);
  });

  it("without a certificate Secret the agent may manage its own; with one, the Role does not grant Secret writes", () => {
    const secretWrites = (objects: Manifest[]) =>
      rbacOf(objects)
        .role.filter((r) => r.resources?.includes("secrets"))
        .flatMap((r) => r.verbs ?? []);
    expect(secretWrites(render()).sort()).toEqual(["create"]);
    expect(secretWrites(render([], ["--set", "proxy.tls.secretName=my-proxy-cert"]))).toEqual([]);
    const { pod } = agentPod(render([], ["--set", "proxy.tls.secretName=my-proxy-cert"]));
    expect(pod.volumes).toContainEqual({ name: "proxy-tls", secret: { secretName: "my-proxy-cert" } });
  });

  it("cost labels and prices reach the pods and the flags", () => {
    const objects = render(["test/deploy/helm-values-full.yaml"]);
    const deployment = objects.find((o) => o.kind === "Deployment")! as Manifest & {
      spec: { template: { metadata: { labels: Record<string, string> } } };
    };
    expect(deployment.spec.template.metadata.labels).toMatchObject({
      team: "platform",
      "cost-center": "4711",
    });
    const { container } = agentPod(objects);
    expect(container.args).toEqual(
      expect.arrayContaining([
        "--cpu-price=0.04",
        "--memory-price=0.005",
        "--currency=EUR",
        "--default-sleep-after=2h",
      ]),
    );
    const config = objects.find((o) => o.kind === "ConfigMap")!;
    expect(config.data?.["config.yaml"]).toContain("awake-hours: Mon-Fri 08:00-19:00");
  });

  it.each([
    [["--set", "prices.currency=eur"], "/prices/currency"],
    [["--set", "replicaCount=0"], "/replicaCount"],
    [["--set", "policy.defaultSleepAfter=soon"], "/policy/defaultSleepAfter"],
    [["--set", "proxy.service.type=External"], "/proxy/service/type"],
    [["--set", "config.manage=everything"], "/config/manage"],
    [["--set", "sleepAfter=1h"], "additional properties 'sleepAfter' not allowed"],
  ])("values.schema.json refuses %j, naming %s", (args, where) => {
    let message = "";
    try {
      helmTemplate(helm, [], args);
    } catch (error) {
      message = String((error as { stderr?: string }).stderr ?? error);
    }
    expect(message).toContain(where);
  });

  it("renders dashboards and the PrometheusRule from the files deploy:generate copies into the chart", () => {
    const chart = join(mkdtempSync(join(tmpdir(), "slumber-chart-")), "slumber");
    cpSync(CHART, chart, { recursive: true });
    mkdirSync(join(chart, "files/dashboards"), { recursive: true });
    mkdirSync(join(chart, "files/prometheus"), { recursive: true });
    writeFileSync(join(chart, "files/dashboards/savings.json"), '{"title":"Slumber savings"}');
    writeFileSync(
      join(chart, "files/prometheus/rules.yaml"),
      "groups:\n  - name: slumber\n    rules:\n      - alert: SlumberDown\n        expr: up == 0\n",
    );
    const out = execFileSync(
      helm,
      [
        "template",
        "slumber",
        chart,
        "-n",
        "slumber",
        "--values",
        join(repoRoot, "test/deploy/helm-values-full.yaml"),
      ],
      { encoding: "utf8" },
    );
    const objects = parseManifests(out) as Manifest[];
    const dashboard = objects.find((o) => o.metadata.name === "slumber-dashboard-savings") as Manifest & {
      metadata: { labels: Record<string, string> };
    };
    expect(dashboard.metadata.labels.grafana_dashboard).toBe("1");
    expect(JSON.parse(dashboard.data?.["savings.json"] ?? "")).toEqual({ title: "Slumber savings" });
    const rule = objects.find((o) => o.kind === "PrometheusRule");
    expect(rule?.spec).toEqual({
      groups: [{ name: "slumber", rules: [{ alert: "SlumberDown", expr: "up == 0" }] }],
    });
  });
});
