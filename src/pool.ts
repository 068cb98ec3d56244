// A bounded worker pool: the reconciler's passes and waves, a vcluster's pod deletions, the benchmark.

/** Runs `run` over `items` with at most `concurrency` at once; the first throw rejects the whole run. */
export async function runPool<T>(
  items: readonly T[],
  concurrency: number,
  run: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await run(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}
