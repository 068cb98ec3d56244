import { describe, expect, it } from "vitest";
import { createLogger } from "../src/log.js";
import { formatLogLine, humanDestination, logDestination, resolveLogFormat } from "../src/log-format.js";

const record = (fields: Record<string, unknown>) =>
  JSON.stringify({ level: "info", time: "2026-03-06T19:30:05.123Z", name: "slumber", pid: 7, ...fields });

describe("human log lines", () => {
  it("is one short line: time, level, target, message, then the other fields", () => {
    expect(
      formatLogLine(
        record({ target: "vcluster/team-a/vc1", step: "sleep", msg: "scale StatefulSet team-a/vc1 to 0" }),
      ),
    ).toBe("19:30:05 INFO  vcluster/team-a/vc1: scale StatefulSet team-a/vc1 to 0 step=sleep\n");
  });

  it("quotes values with spaces, renders numbers, booleans and objects compactly, and an error by its message", () => {
    const line = formatLogLine(
      record({
        level: "warn",
        msg: "informer stopped; restarting",
        reason: "connection refused here",
        retryInMs: 2000,
        dryRun: false,
        excluded: ["kube-system"],
        err: { type: "Error", message: "connect ECONNREFUSED", stack: "Error: at x\n at y" },
      }),
    );
    expect(line).toBe(
      '19:30:05 WARN  informer stopped; restarting reason="connection refused here" retryInMs=2000 dryRun=false excluded=["kube-system"] err="connect ECONNREFUSED"\n',
    );
    expect(line).not.toContain("stack");
  });

  it("shortens very long values", () => {
    const line = formatLogLine(record({ msg: "m", detail: "x ".repeat(200) }));
    expect(line.length).toBeLessThan(220);
    expect(line).toContain("…");
  });

  it("passes a line that is not JSON through, and colours only when asked", () => {
    expect(formatLogLine("plain text")).toBe("plain text\n");
    expect(formatLogLine(record({ msg: "hi" }))).not.toContain("\x1b[");
    expect(formatLogLine(record({ level: "error", msg: "hi" }), true)).toContain("\x1b[31mERROR");
  });

  it("keeps pino's redaction: a credential never reaches the human line", () => {
    let out = "";
    const logger = createLogger("info", humanDestination({ write: (t) => (out += t) }, false));
    logger.info(
      { target: "namespace/shop/shop", headers: { authorization: "Bearer abc.def" }, token: "s3cret" },
      "woke",
    );
    expect(out).toMatch(/^\d\d:\d\d:\d\d INFO {2}namespace\/shop\/shop: woke /);
    expect(out).not.toContain("abc.def");
    expect(out).not.toContain("s3cret");
    expect(out).toContain('token="[redacted]"');
    expect(out.split("\n").filter(Boolean)).toHaveLength(1);
  });
});

describe("--log-format", () => {
  it("auto is text on a terminal and JSON otherwise; text and json are forced", () => {
    expect(resolveLogFormat("auto", true)).toBe("text");
    expect(resolveLogFormat("auto", false)).toBe("json");
    expect(resolveLogFormat("json", true)).toBe("json");
    expect(resolveLogFormat("text", false)).toBe("text");
  });

  it("logDestination: JSON (pino's default) when not a terminal, human with colour on one unless NO_COLOR", () => {
    const pipe = { write: () => true, isTTY: false };
    expect(logDestination("auto", pipe, {})).toBeUndefined();
    let out = "";
    const tty = { write: (t: string) => (out += t), isTTY: true };
    createLogger("info", logDestination("auto", tty, {})).info("hello");
    expect(out).toContain("\x1b[");
    out = "";
    createLogger("info", logDestination("auto", tty, { NO_COLOR: "1" })).info("hello");
    expect(out).toMatch(/^\d\d:\d\d:\d\d INFO {2}hello\n$/);
  });
});
