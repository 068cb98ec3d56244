// There is no container engine here: check what the Dockerfile relies on, and run its runtime layout.
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "./rbac.js";

const dockerfile = readFileSync(join(repoRoot, "Dockerfile"), "utf8");
const instructions = dockerfile
  .replace(/\\\n/g, " ")
  .split("\n")
  .map((line) => line.trim())
  .filter((line) => line !== "" && !line.startsWith("#"))
  .map((line) => {
    const [op, ...rest] = line.split(/\s+/);
    return { op: op!.toUpperCase(), args: rest.join(" ") };
  });
const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { version: string };

/** .dockerignore as written here: ignore everything, then `!path` re-includes. */
function inBuildContext(path: string): boolean {
  const lines = readFileSync(join(repoRoot, ".dockerignore"), "utf8")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
  expect(lines[0]).toBe("*");
  return lines
    .slice(1)
    .some((l) => l.startsWith("!") && (l.slice(1) === path || l.slice(1) === `${path}/**`));
}

describe("Dockerfile", () => {
  it("is multi-stage on Node 24, the runtime stage installs production dependencies only", () => {
    const froms = instructions.filter((i) => i.op === "FROM").map((i) => i.args);
    expect(froms).toEqual(["node:24-slim AS build", "node:24-slim AS runtime"]);
    const runtime = instructions.slice(instructions.findIndex((i) => i.args === "node:24-slim AS runtime"));
    const installs = runtime.filter((i) => i.op === "RUN" && i.args.includes("npm ci"));
    expect(installs).toHaveLength(1);
    expect(installs[0]!.args).toContain("--omit=dev");
    expect(runtime.filter((i) => i.op === "COPY").map((i) => i.args)).toEqual([
      "package.json package-lock.json ./",
      "--from=build /src/dist/cli ./dist/cli",
    ]);
  });

  it("runs as a numeric non-root user, `slumber run` as the entrypoint", () => {
    const users = instructions.filter((i) => i.op === "USER").map((i) => i.args);
    expect(users).toHaveLength(1);
    const [uid, gid] = users[0]!.split(":").map(Number);
    expect(uid).toBeGreaterThan(0);
    expect(gid).toBeGreaterThan(0);
    // The Deployment runs as the same numeric user.
    expect(readFileSync(join(repoRoot, "deploy/base/deployment.yaml"), "utf8")).toContain(
      `runAsUser: ${uid}`,
    );
    const entrypoint = JSON.parse(instructions.find((i) => i.op === "ENTRYPOINT")!.args) as string[];
    expect(entrypoint).toEqual([
      "node",
      "--max-semi-space-size=1",
      "--optimize-for-size",
      "/app/dist/cli/main.js",
      "run",
    ]);
    // The `slumber` executable and the e2e suite's agent run with the same V8 flags as the image.
    const shebang = readFileSync(join(repoRoot, "src/cli/main.ts"), "utf8").split("\n")[0];
    expect(shebang).toBe(`#!/usr/bin/env -S node ${entrypoint.slice(1, 3).join(" ")}`);
    const harness = readFileSync(join(repoRoot, "test/e2e/harness.ts"), "utf8");
    const flags = /const AGENT_NODE_FLAGS = (\[[^\]]*\]);/.exec(harness)?.[1];
    expect(JSON.parse(flags ?? "null")).toEqual(entrypoint.slice(1, 3));
  });

  it("copies only files that exist and are in the build context", () => {
    const sources = [
      ...new Set(
        instructions
          .filter((i) => i.op === "COPY" && !i.args.startsWith("--from"))
          .flatMap((i) => i.args.split(/\s+/).slice(0, -1)),
      ),
    ];
    expect(sources).toEqual([
      "package.json",
      "package-lock.json",
      "tsconfig.json",
      "tsconfig.build.json",
      "rolldown.config.mjs",
      "src",
    ]);
    for (const source of sources) {
      expect(existsSync(join(repoRoot, source)), source).toBe(true);
      expect(inBuildContext(source), `${source} in .dockerignore's allow list`).toBe(true);
    }
  });

  it("the runtime layout (npm pack + production install) runs `slumber --version` and `slumber run --help`", () => {
    execFileSync("npm", ["run", "-s", "build"], { cwd: repoRoot, stdio: "pipe" });
    const work = mkdtempSync(join(tmpdir(), "slumber-image-"));
    execFileSync("npm", ["pack", "--silent", "--pack-destination", work], { cwd: repoRoot, stdio: "pipe" });
    const tarball = readdirSync(work).find((f) => f.endsWith(".tgz"))!;
    execFileSync("tar", ["xzf", join(work, tarball), "-C", work]);
    const app = join(work, "package"); // what /app holds in the image
    copyFileSync(join(repoRoot, "package-lock.json"), join(app, "package-lock.json"));
    execFileSync(
      "npm",
      ["ci", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund", "--prefer-offline", "--silent"],
      { cwd: app, stdio: "pipe", env: { ...process.env, NODE_ENV: "production" } },
    );
    // Production dependencies only: no TypeScript, no vitest in the image.
    expect(existsSync(join(app, "node_modules/@kubernetes/client-node"))).toBe(true);
    expect(existsSync(join(app, "node_modules/typescript"))).toBe(false);
    expect(existsSync(join(app, "node_modules/vitest"))).toBe(false);
    expect(readdirSync(app).sort()).toEqual([
      "README.md",
      "dist",
      "node_modules",
      "package-lock.json",
      "package.json",
    ]);
    const entry = join(app, "dist/cli/main.js");
    // One bundled file (rolldown.config.mjs), client-node inside it: the published entry, which loads every
    // generated API group, is not imported at run time.
    expect(readdirSync(join(app, "dist"))).toEqual(["cli"]);
    expect(readdirSync(join(app, "dist/cli"))).toEqual(["main.js"]);
    expect(readFileSync(entry, "utf8")).not.toMatch(/from\s*["']@kubernetes\/client-node["']/);
    const version = execFileSync(process.execPath, [entry, "--version"], { cwd: "/", encoding: "utf8" });
    expect(version.trim()).toBe(pkg.version);
    const help = execFileSync(process.execPath, [entry, "run", "--help"], { cwd: "/", encoding: "utf8" });
    expect(help).toContain("--leader-elect");
  }, 300_000);
});
