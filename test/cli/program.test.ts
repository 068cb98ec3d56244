import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ExitCode } from "../../src/cli/errors.js";
import { runCli } from "../../src/cli/program.js";

async function cli(...argv: string[]) {
  let stdout = "";
  let stderr = "";
  const code = await runCli(argv, {
    out: (text) => {
      stdout += text;
    },
    err: (text) => {
      stderr += text;
    },
  });
  return { code, stdout, stderr };
}

function tempFile(name: string, content: string): string {
  const file = join(mkdtempSync(join(tmpdir(), "slumber-cli-")), name);
  writeFileSync(file, content);
  return file;
}

/** A kubeconfig whose API server refuses connections (port 1 on loopback). */
const unreachableKubeconfig = () =>
  tempFile(
    "kubeconfig",
    [
      "apiVersion: v1",
      "kind: Config",
      "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]",
      "users: [{name: u, user: {token: not-a-real-token}}]",
      "contexts: [{name: x, context: {cluster: c, user: u}}]",
      "current-context: x",
    ].join("\n"),
  );

describe("slumber command line", () => {
  it("prints help with the exit codes and exits 0", async () => {
    const { code, stdout } = await cli("--help");
    expect(code).toBe(ExitCode.ok);
    for (const command of ["run", "status", "wake", "sleep", "explain"])
      expect(stdout).toContain(`  ${command} `);
    expect(stdout).toContain("3  timed out waiting");
  });

  it("documents the wake proxy's flags", async () => {
    const { stdout } = await cli("run", "--help");
    expect(stdout).toMatch(/--proxy-port <port>\s+HTTPS port of the wake proxy/);
    for (const flag of ["--proxy-base-domain", "--proxy-cert-secret", "--wake-timeout", "--max-held"])
      expect(stdout).toContain(flag);
  });

  it("documents --api-timeout with its default", async () => {
    const { stdout } = await cli("run", "--help");
    expect(stdout).toMatch(
      /--api-timeout <duration>\s+how long one API request may take[\s\S]*?\(default:\s+"30s"\)/,
    );
  });

  it.each([
    [["bogus"], "unknown command 'bogus'"],
    [["status", "--no-such-flag"], "unknown option '--no-such-flag'"],
    [["status", "-o", "yaml"], "Allowed choices are table, json"],
    [["wake"], "wake: missing NAMESPACE/NAME (or --all)"],
    [["sleep"], "sleep: missing NAMESPACE/NAME"],
    [["wake", "ns/name", "--all"], "wake: give either a target or --all, not both"],
    [["sleep", "--all"], "unknown option '--all'"],
    [["run", "--leader-elect"], "--leader-elect needs the Lease's namespace"],
    [["wake", "team-a"], '"team-a" is not NAMESPACE/NAME'],
    [["sleep", "ns/name", "--for", "a while"], "--for: "],
    [["wake", "ns/name", "--timeout", "0"], "--timeout: must be longer than 0"],
    [["run", "--metrics-port", "http"], '--metrics-port: "http" is not a TCP port'],
    [["run", "--resync", "30"], '--resync: "30" has no unit'],
    [["run", "--max-held", "lots"], '--max-held: "lots" is not a whole number'],
    [["run", "--wake-timeout", "0"], "--wake-timeout: must be longer than 0"],
    [["run", "--api-timeout", "0"], "--api-timeout: must be longer than 0"],
    [["run", "--api-timeout", "30"], '--api-timeout: "30" has no unit'],
    [
      ["run", "--proxy-cert-secret", "just-a-name"],
      '--proxy-cert-secret: "just-a-name" is not NAMESPACE/NAME',
    ],
    [["run", "--proxy-base-domain", "bad domain"], '--proxy-base-domain: "bad domain" is not a DNS domain'],
    [
      ["status", "--default-timezone", "Mars/Olympus"],
      '--default-timezone: "Mars/Olympus" is not an IANA time zone',
    ],
    [["explain"], "required option '--at <time>' not specified"],
  ])("exits 2 on usage error %j", async (argv, message) => {
    const { code, stderr } = await cli(...argv);
    expect(code).toBe(ExitCode.usage);
    expect(stderr).toContain(message);
  });

  it("exits 2 naming the config file and key of an invalid --config", async () => {
    const file = tempFile("config.yaml", "manage: everything\n");
    const { code, stderr } = await cli("run", "--config", file);
    expect(code).toBe(ExitCode.usage);
    expect(stderr).toContain(`config file ${file}: manage: "everything" is not "all" or "annotated"`);
  });

  it("exits 1 when the kubeconfig cannot be read", async () => {
    const { code, stderr } = await cli("status", "--kubeconfig", "/nonexistent/kubeconfig");
    expect(code).toBe(ExitCode.failure);
    expect(stderr).toContain("cannot load kubeconfig /nonexistent/kubeconfig");
  });

  it("exits 1 when the API server cannot be reached", async () => {
    const { code, stderr } = await cli(
      "status",
      "--kubeconfig",
      unreachableKubeconfig(),
      "--log-level",
      "silent",
    );
    expect(code).toBe(ExitCode.failure);
    expect(stderr).toMatch(/^slumber: cannot list every target: list /);
  });

  it("delegates explain, with repeated --annotation", async () => {
    const { code, stdout } = await cli(
      "explain",
      "--at",
      "2026-03-06T21:00:00Z",
      "--annotation",
      "slumber.dev/awake-hours=Mon-Fri 08:00-19:00",
      "--annotation",
      "slumber.dev/last-activity=2026-03-06T20:30:00Z",
      "--default-sleep-after",
      "1h",
    );
    expect(code).toBe(ExitCode.ok);
    const decision = JSON.parse(stdout);
    expect(decision.state).toBe("awake");
    expect(decision.next).toEqual({ state: "asleep", at: "2026-03-06T21:30:00Z" });
  });

  it("passes explain's exit 2 through for a bad annotation", async () => {
    const { code, stderr } = await cli(
      "explain",
      "--at",
      "2026-03-06T21:00:00Z",
      "--annotation",
      "slumber.dev/sleep-after=soon",
    );
    expect(code).toBe(ExitCode.usage);
    expect(stderr).toContain("slumber.dev/sleep-after");
  });
});
