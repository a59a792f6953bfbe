/**
 * Preloaded into a server under test (NODE_OPTIONS=--import=…, see
 * `withGcHook`): SIGUSR2 runs a full garbage collection, so a benchmark can
 * tell memory still held from memory merely not collected yet. (Closed TLS
 * connections keep their native state until V8 collects their handles.)
 */
import { exposeGc } from "../../src/server/heap-reducer.ts";

const gc = exposeGc();
process.on("SIGUSR2", () => {
  // "last-resort" (exposeGc): a plain full GC keeps the heap at the size
  // the load grew it to.
  gc({ type: "major", execution: "sync", flavor: "last-resort" });
  if (process.env["BENCH_SERVER_MEMORY"] !== undefined) {
    const m = process.memoryUsage();
    const f = (n: number): string => (n / 2 ** 20).toFixed(1);
    console.error(
      `  server memory after GC: rss ${f(m.rss)} heapUsed ${f(m.heapUsed)} heapTotal ${f(m.heapTotal)} external ${f(m.external)} MiB`,
    );
  }
});
