/** Load loops: a fixed number of calls in flight, for a time or for a count. */
import { performance } from "node:perf_hooks";

export interface LoadResult {
  /** Latency of every completed call, ms. */
  latencies: number[];
  errors: number;
  elapsedMs: number;
}

/**
 * Keeps `inFlight` calls running (each one starts as another ends) until
 * `durationMs` has passed, `total` calls were made or `signal` aborts,
 * whichever is first. `call(i)` gets the call's sequence number.
 */
export async function closedLoop(
  inFlight: number,
  limit: { durationMs?: number; total?: number; signal?: AbortSignal },
  call: (i: number) => Promise<unknown>,
): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  let next = 0;
  const start = performance.now();
  const deadline = start + (limit.durationMs ?? Number.POSITIVE_INFINITY);
  const total = limit.total ?? Number.POSITIVE_INFINITY;
  let firstError: unknown;
  const lane = async (): Promise<void> => {
    while (next < total && performance.now() < deadline && limit.signal?.aborted !== true) {
      const i = next++;
      const t0 = performance.now();
      try {
        await call(i);
        latencies.push(performance.now() - t0);
      } catch (err) {
        errors++;
        firstError ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  if (firstError !== undefined) console.error("  first error:", firstError);
  return { latencies, errors, elapsedMs: performance.now() - start };
}
