/**
 * Entry point of the server under test, run in a process of its own so the
 * load generator's CPU and memory never count as the server's: the daemon
 * `jobworker serve` runs (openDaemon), configured by one JSON argument
 * (ServerProcessConfig).
 * Prints `{"port":N,"pid":N}` on a line once listening; shuts down (server,
 * worker, cgroup parent) when its standard input closes, so it never
 * outlives the benchmark that started it.
 */
import { pino } from "pino";
import { createLogger, openDaemon, type Policy } from "../../src/server/index.ts";
import type { WorkerOptions } from "../../src/worker/index.ts";
import { removeCgroupTree } from "./cgroup.ts";
import { helperReady } from "./child.ts";

export interface ServerProcessConfig {
  worker: WorkerOptions & { cgroupParent: string };
  tls: { certPem: string; keyPem: string; caPem: string };
  /** The server's JSON log (info level, as a real server writes it). */
  logFile: string;
  /** Per-user caps and rules. @default none (the default caps) */
  policy?: Policy;
}

const config = JSON.parse(process.argv[2] ?? "{}") as ServerProcessConfig;
const daemon = await openDaemon({
  worker: config.worker,
  listen: { host: "127.0.0.1", port: 0 },
  tls: config.tls,
  logger: createLogger({
    level: "info",
    destination: pino.destination({ dest: config.logFile, sync: false }),
  }),
  server: { drainTimeoutMs: 2000 },
  ...(config.policy === undefined ? {} : { policy: config.policy }),
});
helperReady({ port: daemon.address.port, pid: process.pid }, async () => {
  await daemon.close();
  await removeCgroupTree(config.worker.cgroupParent);
});
if (process.env["BENCH_SERVER_MEMORY"] !== undefined) {
  setInterval(() => {
    const m = process.memoryUsage();
    const f = (n: number): string => (n / 2 ** 20).toFixed(0);
    console.error(
      `  server memory: rss ${f(m.rss)} heapUsed ${f(m.heapUsed)} heapTotal ${f(m.heapTotal)} external ${f(m.external)} arrayBuffers ${f(m.arrayBuffers)} MiB`,
    );
  }, 1000).unref();
}
