/**
 * Preloaded into a server under test (NODE_OPTIONS=--import=…, see
 * `withGcHook`): SIGUSR2 runs a full garbage collection, so a benchmark can
 * tell memory still held from memory merely not collected yet. (Closed TLS
 * connections keep their native state until V8 collects their handles.)
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

setFlagsFromString("--expose-gc");
// A fresh context has the `gc` function the flag now exposes.
const gc = runInNewContext("gc") as (options: object) => void;
process.on("SIGUSR2", () => {
  // "last-resort": the collection V8 runs before giving up on memory, which
  // also returns the heap's empty pages (a plain full GC keeps the heap at
  // the size the load grew it to).
  gc({ type: "major", execution: "sync", flavor: "last-resort" });
  if (process.env["BENCH_SERVER_MEMORY"] !== undefined) {
    const m = process.memoryUsage();
    const f = (n: number): string => (n / 2 ** 20).toFixed(1);
    console.error(
      `  server memory after GC: rss ${f(m.rss)} heapUsed ${f(m.heapUsed)} heapTotal ${f(m.heapTotal)} external ${f(m.external)} MiB`,
    );
  }
});
