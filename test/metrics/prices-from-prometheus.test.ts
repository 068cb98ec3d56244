// --prices-from-prometheus with a scripted fetch: averages, every kind of failure, and the fallback.
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { Prices } from "../../src/config/types.js";
import {
  type FetchLike,
  fetchOpenCostPrices,
  startPricePoller,
  withoutCredentials,
} from "../../src/metrics/prices-from-prometheus.js";
import type { PriceSource } from "../../src/metrics/registry.js";

const vector = (value: string) =>
  new Response(
    JSON.stringify({
      status: "success",
      data: { resultType: "vector", result: [{ metric: {}, value: [1, value] }] },
    }),
  );

/** Answers each query from a table; records the URLs asked. */
function prometheus(answers: Record<string, () => Response | Promise<Response>>) {
  const asked: string[] = [];
  const fetchImpl: FetchLike = async (url) => {
    asked.push(url);
    const query = new URL(url).searchParams.get("query") ?? "";
    const answer = answers[query];
    if (!answer) throw new Error(`unexpected query ${query}`);
    return answer();
  };
  return { fetchImpl, asked };
}

const FLAGS: Prices = { cpuCoreHour: 0.031611, memoryGiBHour: 0.004237, currency: "EUR" };

describe("fetchOpenCostPrices", () => {
  it("asks for OpenCost's averages over nodes, in the flags' currency", async () => {
    const { fetchImpl, asked } = prometheus({
      "avg(node_cpu_hourly_cost)": () => vector("0.035"),
      "avg(node_ram_hourly_cost)": () => vector("0.0045"),
    });
    expect(await fetchOpenCostPrices("http://prom:9090/", "EUR", fetchImpl)).toEqual({
      cpuCoreHour: 0.035,
      memoryGiBHour: 0.0045,
      currency: "EUR",
    });
    expect(asked[0]).toMatch(/^http:\/\/prom:9090\/api\/v1\/query\?query=avg/);
  });

  it.each([
    [
      "no series",
      () => new Response(JSON.stringify({ status: "success", data: { resultType: "vector", result: [] } })),
      /no series/,
    ],
    ["an HTTP error", () => new Response("oops", { status: 503 }), /HTTP 503/],
    ["a query error", () => new Response(JSON.stringify({ status: "error", error: "bad_data" })), /bad_data/],
    ["a negative price", () => vector("-1"), /is not a price/],
    ["NaN", () => vector("NaN"), /is not a price/],
  ])("fails on %s, naming the query", async (_case, answer, message) => {
    const { fetchImpl } = prometheus({
      "avg(node_cpu_hourly_cost)": answer,
      "avg(node_ram_hourly_cost)": () => vector("1"),
    });
    await expect(fetchOpenCostPrices("http://prom:9090", "USD", fetchImpl)).rejects.toThrow(message);
    await expect(fetchOpenCostPrices("http://prom:9090", "USD", fetchImpl)).rejects.toThrow(
      /avg\(node_cpu_hourly_cost\)/,
    );
  });
});

describe("startPricePoller", () => {
  it("falls back to the flags loudly (error log, counter) and recovers on a later read", async () => {
    let up = false;
    const { fetchImpl } = prometheus({
      "avg(node_cpu_hourly_cost)": () => {
        if (!up) throw new TypeError("fetch failed");
        return vector("0.04");
      },
      "avg(node_ram_hourly_cost)": () => vector("0.005"),
    });
    const applied: Array<[Prices, PriceSource]> = [];
    const published: PriceSource[] = [];
    let failures = 0;
    const lines: string[] = [];
    const logger = pino({ level: "debug" }, { write: (line: string) => lines.push(line) });
    const stop = await startPricePoller({
      url: "http://user:secret@prom:9090",
      fallback: FLAGS,
      apply: (prices, source) => applied.push([prices, source]),
      metrics: { pricesInEffect: (_p, source) => published.push(source), priceFetchFailed: () => failures++ },
      logger,
      intervalMs: 10,
      fetchImpl,
    });
    expect(applied).toEqual([[FLAGS, "flags"]]);
    expect(failures).toBe(1);
    const error = JSON.parse(lines.find((l) => l.includes('"level":50'))!);
    expect(error.msg).toMatch(/cannot read prices from Prometheus/);
    expect(error.prometheus).toBe("http://prom:9090/");
    expect(lines.join("")).not.toContain("secret");
    up = true;
    await new Promise((r) => setTimeout(r, 60));
    stop();
    expect(applied.at(-1)).toEqual([
      { cpuCoreHour: 0.04, memoryGiBHour: 0.005, currency: "EUR" },
      "prometheus",
    ]);
    expect(published.at(-1)).toBe("prometheus");
  });

  it("never logs credentials or query strings of the URL", () => {
    expect(withoutCredentials("https://u:p@prom.example:9090/prometheus?token=x")).toBe(
      "https://prom.example:9090/prometheus",
    );
    expect(withoutCredentials("not a url")).toBe("(invalid URL)");
  });
});
