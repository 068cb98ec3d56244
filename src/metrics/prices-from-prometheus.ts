// `--prices-from-prometheus URL`: OpenCost exports per-node prices (`node_cpu_hourly_cost` per vCPU-hour,
// `node_ram_hourly_cost` per GiB-hour); Slumber averages them across nodes and uses them instead of the
// flags. Any failure falls back to the flags' prices, loudly: an error log and a counter.
import type { Prices } from "../config/types.js";
import type { Logger } from "../log.js";
import type { PriceSource } from "./registry.js";

export const OPENCOST_QUERIES = {
  cpuCoreHour: "avg(node_cpu_hourly_cost)",
  memoryGiBHour: "avg(node_ram_hourly_cost)",
} as const;

export type FetchLike = (url: string, init?: { signal?: AbortSignal }) => Promise<Response>;

/** Runs one instant query; throws naming the query on any failure, an empty result or a non-finite value. */
async function scalarQuery(
  base: string,
  promql: string,
  fetchImpl: FetchLike,
  timeoutMs: number,
): Promise<number> {
  const url = new URL("api/v1/query", base.endsWith("/") ? base : `${base}/`);
  url.searchParams.set("query", promql);
  let response: Response;
  try {
    response = await fetchImpl(url.toString(), { signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    throw new Error(`${promql}: ${url.origin} unreachable: ${(error as Error).message}`);
  }
  if (!response.ok) throw new Error(`${promql}: HTTP ${response.status} from ${url.origin}`);
  const body = (await response.json()) as {
    status?: string;
    error?: string;
    data?: { resultType?: string; result?: Array<{ value?: [number, string] }> };
  };
  if (body.status !== "success") throw new Error(`${promql}: ${body.error ?? "query failed"}`);
  const sample = body.data?.result?.[0]?.value?.[1];
  if (sample === undefined) throw new Error(`${promql}: no series (is OpenCost scraped by this Prometheus?)`);
  const value = Number(sample);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${promql}: "${sample}" is not a price`);
  return value;
}

/** OpenCost's average prices from Prometheus, in the flags' currency (OpenCost's series carry none). */
export async function fetchOpenCostPrices(
  base: string,
  currency: string,
  fetchImpl: FetchLike = fetch,
  timeoutMs = 10_000,
): Promise<Prices> {
  const [cpuCoreHour, memoryGiBHour] = await Promise.all([
    scalarQuery(base, OPENCOST_QUERIES.cpuCoreHour, fetchImpl, timeoutMs),
    scalarQuery(base, OPENCOST_QUERIES.memoryGiBHour, fetchImpl, timeoutMs),
  ]);
  return { cpuCoreHour, memoryGiBHour, currency };
}

/** The URL as it may be logged: no user, password or query string. */
export function withoutCredentials(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return "(invalid URL)";
  }
}

export interface PriceSink {
  pricesInEffect(prices: Prices, source: PriceSource): void;
  priceFetchFailed(): void;
}

export interface PricePollerOptions {
  url: string;
  /** The flags' prices: used until the first successful read and whenever a read fails. */
  fallback: Prices;
  /** Receives the prices in effect (the agent's config object is updated in place by the caller). */
  apply: (prices: Prices, source: PriceSource) => void;
  metrics: PriceSink;
  logger: Logger;
  intervalMs: number;
  fetchImpl?: FetchLike;
}

/**
 * Reads prices now and every `intervalMs`. Resolves after the first read (success or fallback), so the
 * first pass already prices with what Prometheus says. Returns a stop function.
 */
export async function startPricePoller(options: PricePollerOptions): Promise<() => void> {
  const { url, fallback, apply, metrics, logger } = options;
  const refresh = async () => {
    try {
      const prices = await fetchOpenCostPrices(url, fallback.currency, options.fetchImpl);
      apply(prices, "prometheus");
      metrics.pricesInEffect(prices, "prometheus");
      logger.debug({ prices, source: "prometheus" }, "prices read from Prometheus");
    } catch (error) {
      metrics.priceFetchFailed();
      apply(fallback, "flags");
      metrics.pricesInEffect(fallback, "flags");
      logger.error(
        { err: (error as Error).message, prometheus: withoutCredentials(url), fallback },
        "cannot read prices from Prometheus; using the --cpu-price/--memory-price prices until the next read",
      );
    }
  };
  await refresh();
  const timer = setInterval(() => void refresh(), options.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
