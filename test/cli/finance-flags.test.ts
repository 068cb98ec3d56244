// The flags issue 7 adds to `run` and `status`: bad values are usage errors naming the flag (exit 2).
import { describe, expect, it } from "vitest";
import { ExitCode } from "../../src/cli/errors.js";
import { runCli } from "../../src/cli/program.js";

async function cli(...argv: string[]) {
  let stderr = "";
  const code = await runCli(argv, {
    out: () => {},
    err: (text) => {
      stderr += text;
    },
  });
  return { code, stderr };
}

describe("finance flags", () => {
  it.each([
    [["status", "--cost-labels", "team name"], /--cost-labels: "team name" is not a Kubernetes label key/],
    [["status", "--by", "name"], /--cost-labels: "name" would become the Prometheus label "name"/],
    [
      ["run", "--prices-from-prometheus", "prometheus:9090"],
      /--prices-from-prometheus: "prometheus:9090" is not an http\(s\) URL/,
    ],
    [["run", "--prices-refresh", "soon"], /--prices-refresh/],
    [["status", "-o", "xml"], /Allowed choices are table, json, csv/],
  ])("%j exits 2 naming the flag", async (argv, message) => {
    const { code, stderr } = await cli(...argv);
    expect(stderr).toMatch(message);
    expect(code).toBe(ExitCode.usage);
  });

  it("documents the new flags in --help", async () => {
    let out = "";
    await runCli(["run", "--help"], {
      out: (t) => {
        out += t;
      },
      err: () => {},
    });
    expect(out).toContain("--cost-labels <keys>");
    expect(out).toContain("--prices-from-prometheus <url>");
    let status = "";
    await runCli(["status", "--help"], {
      out: (t) => {
        status += t;
      },
      err: () => {},
    });
    expect(status).toContain("--by <label>");
  });
});
