/**
 * Benchmark 4, concurrency: many jobs running `sleep` at once, all started
 * together (every StartJob in flight at the same time). Prints the time
 * until all are running, the server's RSS per running job, GetJob latency
 * while they run, and the time to stop them all. Each job gets small
 * limits (the default 1 GiB each would not fit 1,000 times in the host's
 * capacity) and the capacity's CPU total is raised to match: a `sleep`
 * uses none. The sleep is longer than the 60 s because starting
 * 1,000 jobs here takes most of a minute: every job must still be running
 * while the status calls are measured; all are stopped at the end.
 */
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import type { JobClient } from "../src/client/index.ts";
import { JobState } from "../src/gen/jobworker/v1/jobworker_pb.js";
import { closedLoop } from "./lib/load.ts";
import { numberOptions } from "./lib/options.ts";
import { printSection, progress, table } from "./lib/report.ts";
import { startBenchServer } from "./lib/server.ts";
import { mib, ms, summarize } from "./lib/stats.ts";

const options = numberOptions("bench/concurrency.ts", {
  jobs: 1000,
  sleepSeconds: 300,
  connections: 4,
  statusCalls: 2000,
  statusInFlight: 4,
});
const LIMITS = { cpu: 0.1, memoryBytes: 16n * 2n ** 20n, pids: 16 };

const server = await startBenchServer({
  capacity: { cpu: options.jobs * LIMITS.cpu + 1, maxRunning: options.jobs + 16 },
  defaultGraceMs: 1000,
});
const clients: JobClient[] = Array.from({ length: options.connections }, () => server.client());
const client = (i: number): JobClient => clients[i % clients.length] as JobClient;
let before: number;
let during: number;
let startAllMs: number;
let stopAllMs: number;
const startLatency: number[] = [];
let statusResult: Awaited<ReturnType<typeof closedLoop>>;
let notRunning = 0;
try {
  await Promise.all(clients.map((c) => c.listJobs({})));
  await sleep(500);
  before = server.rss().rssBytes;
  progress(`concurrency: starting ${options.jobs} jobs at once`);
  const t0 = performance.now();
  const ids = await Promise.all(
    Array.from({ length: options.jobs }, async (_, i) => {
      const { job } = await client(i).startJob({
        command: "sleep",
        args: [String(options.sleepSeconds)],
        limits: LIMITS,
      });
      startLatency.push(performance.now() - t0);
      if (job?.state !== JobState.RUNNING) notRunning++;
      return job?.id ?? "";
    }),
  );
  startAllMs = performance.now() - t0;
  await sleep(1000);
  during = server.rss().rssBytes;
  progress(`concurrency: ${options.statusCalls} GetJob calls while they run`);
  statusResult = await closedLoop(options.statusInFlight, { total: options.statusCalls }, (i) =>
    client(i).getJob({ id: ids[(i * 7919) % ids.length] ?? "" }),
  );
  progress("concurrency: stopping them all");
  const t1 = performance.now();
  await Promise.all(ids.map((id, i) => client(i).stopJob({ id })));
  stopAllMs = performance.now() - t1;
} finally {
  await server.close();
}

const starts = summarize(startLatency);
const status = summarize(statusResult.latencies);
printSection(`4. Concurrency (${options.jobs} jobs running \`sleep ${options.sleepSeconds}\`)`, [
  table(
    ["measure", "value"],
    [
      ["time until all running (all StartJob sent at once)", `${ms(startAllMs)} ms`],
      ["StartJob reply p50 / p99 within that burst", `${ms(starts.p50)} / ${ms(starts.p99)} ms`],
      ["jobs not running after StartJob", String(notRunning)],
      ["server RSS before / with all running", `${mib(before)} / ${mib(during)}`],
      ["server RSS per running job", `${((during - before) / options.jobs / 1024).toFixed(0)} KiB`],
      [
        `GetJob p50 / p99 (${statusResult.latencies.length} calls, ${options.statusInFlight} in flight)`,
        `${ms(status.p50)} / ${ms(status.p99)} ms`,
      ],
      ["GetJob errors", String(statusResult.errors)],
      ["time to stop them all (StopJob, all at once)", `${ms(stopAllMs)} ms`],
    ],
  ),
  `Limits per job: cpu ${LIMITS.cpu}, memory 16 MiB, pids ${LIMITS.pids}; ` +
    `${options.connections} client connections.`,
]);
