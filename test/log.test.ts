import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger } from "../src/log.js";

function capture(): { stream: Writable; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  return {
    stream,
    lines: () =>
      chunks
        .join("")
        .split("\n")
        .filter(Boolean)
        .map((line) => JSON.parse(line)),
  };
}

describe("createLogger", () => {
  it("writes one JSON object per line with level name, time and fields", () => {
    const out = capture();
    createLogger("info", out.stream).info({ target: "vcluster/vcluster-a/a" }, "put to sleep");
    const [line] = out.lines();
    expect(line).toMatchObject({
      level: "info",
      name: "slumber",
      target: "vcluster/vcluster-a/a",
      msg: "put to sleep",
    });
    expect(typeof line?.time).toBe("string");
  });

  it("respects the level", () => {
    const out = capture();
    const logger = createLogger("warn", out.stream);
    logger.info("hidden");
    logger.warn("shown");
    expect(out.lines().map((l) => l.msg)).toEqual(["shown"]);
  });

  it("redacts credential-like fields at the top level, one level deep and in headers", () => {
    const out = capture();
    createLogger("info", out.stream).info(
      {
        token: "t0p",
        password: "hunter2",
        "client-key": "-----BEGIN",
        user: { token: "abc", "client-key-data": "LS0t", name: "admin" },
        req: { headers: { authorization: "Bearer abc", host: "x" } },
        headers: { Authorization: "Bearer def" },
      },
      "kubeconfig loaded",
    );
    const text = JSON.stringify(out.lines());
    for (const secret of ["t0p", "hunter2", "BEGIN", "abc", "LS0t", "def"])
      expect(text).not.toContain(secret);
    expect(out.lines()[0]).toMatchObject({ user: { name: "admin" }, req: { headers: { host: "x" } } });
  });
});
