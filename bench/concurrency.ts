/**
 * Benchmark 4, concurrency: a burst of jobs running `sleep`, every StartJob
 * in flight at once, against the launcher run by hand (lib/hand-launch.ts)
 * measured in the same run: all should be running within 1.5x of
 * (jobs x the hand-run launcher's p50 / cores), each reply should come as
 * its job starts (not all at the end of the burst), and status calls made
 * during the burst should stay answered. Then the server's RSS per running
 * job, GetJob latency while they all run, and the time to stop them all.
 * The same burst of hand-run launchers (no server) shows how far this
 * host lets launches overlap, which the formula above assumes is fully,
 * one per core; the server's burst is also compared with it.
 *
 * Each job gets small limits (the default 1 GiB each would not fit 1,000
 * times in the host's capacity) and the capacity's CPU total is raised to
 * match: a `sleep` uses none. The sleep outlasts the measurements; all are
 * stopped at the end.
 */
import { availableParallelism } from "node:os";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { JobClient } from "../src/client/index.ts";
import { JobState } from "../src/gen/jobworker/v1/jobworker_pb.js";
import { HandLauncher } from "./lib/hand-launch.ts";
import { closedLoop, type LoadResult } from "./lib/load.ts";
import { numberOptions } from "./lib/options.ts";
import { printSection, progress, table } from "./lib/report.ts";
import { startBenchServer, stateRoot } from "./lib/server.ts";
import { mib, ms, percent, ratio, summarize, verdict } from "./lib/stats.ts";

const options = numberOptions("bench/concurrency.ts", {
  jobs: 1000,
  sleepSeconds: 300,
  connections: 4,
  handRuns: 40,
  statusCalls: 2000,
  statusInFlight: 4,
});
const LIMITS = { cpu: 0.1, memoryBytes: 16n * 2n ** 20n, pids: 16 };
const cores = availableParallelism();

progress(`concurrency: the launcher by hand, ${options.handRuns} times`);
const hand = await HandLauncher.open(stateRoot(), {
  cpu: LIMITS.cpu,
  memoryBytes: Number(LIMITS.memoryBytes),
  pids: LIMITS.pids,
});
const handRunning: number[] = [];
/** The same burst by hand: as many launchers at once, with no server. */
let handBurstMs: number;
try {
  for (let i = 0; i < options.handRuns; i++) handRunning.push((await hand.run()).runningMs);
  progress(`concurrency: ${options.jobs} launchers by hand at once`);
  const burst = await Promise.all(Array.from({ length: options.jobs }, () => hand.run()));
  handBurstMs = Math.max(...burst.map((timing) => timing.runningMs));
} finally {
  await hand.close();
}
const handP50 = summarize(handRunning).p50;
const burstTargetMs = (1.5 * options.jobs * handP50) / cores;

const server = await startBenchServer({
  capacity: { cpu: options.jobs * LIMITS.cpu + 2, maxRunning: options.jobs + 16 },
  defaultGraceMs: 1000,
});
const clients: JobClient[] = Array.from({ length: options.connections }, () => server.client());
const client = (i: number): JobClient => clients[i % clients.length] as JobClient;
/** Status calls go on a connection of their own, as another user's would. */
const statusClient = server.client();
let before: number;
let during: number;
let allRunningMs: number;
let stopAllMs: number;
/** Per job: when its reply came (ms from the burst's start) and when it started running (wall clock). */
const replies: { atMs: number; lagMs: number }[] = [];
let burstStatus: LoadResult;
let afterStatus: LoadResult;
let notRunning = 0;
try {
  await Promise.all([...clients, statusClient].map((c) => c.listJobs({})));
  const { job: probe } = await statusClient.startJob({
    command: "sleep",
    args: [String(options.sleepSeconds)],
    limits: LIMITS,
  });
  const probeId = probe?.id ?? "";
  await sleep(500);
  before = server.rss().rssBytes;
  progress(`concurrency: starting ${options.jobs} jobs at once, GetJob calls meanwhile`);
  const t0 = performance.now();
  const wallStart = Date.now();
  const burstOver = new AbortController();
  const statusDuringBurst = closedLoop(options.statusInFlight, { signal: burstOver.signal }, () =>
    statusClient.getJob({ id: probeId }),
  );
  const ids = await Promise.all(
    Array.from({ length: options.jobs }, async (_, i) => {
      const { job } = await client(i).startJob({
        command: "sleep",
        args: [String(options.sleepSeconds)],
        limits: LIMITS,
      });
      const atMs = performance.now() - t0;
      if (job?.state !== JobState.RUNNING || job.startedAt === undefined) notRunning++;
      else replies.push({ atMs, lagMs: wallStart + atMs - timestampMs(job.startedAt) });
      return job?.id ?? "";
    }),
  );
  allRunningMs = performance.now() - t0;
  burstOver.abort();
  burstStatus = await statusDuringBurst;
  await sleep(1000);
  during = server.rss().rssBytes;
  progress(`concurrency: ${options.statusCalls} GetJob calls while they run`);
  afterStatus = await closedLoop(options.statusInFlight, { total: options.statusCalls }, (i) =>
    client(i).getJob({ id: ids[(i * 7919) % ids.length] ?? "" }),
  );
  progress("concurrency: stopping them all");
  const t1 = performance.now();
  await Promise.all([...ids, probeId].map((id, i) => client(i).stopJob({ id })));
  stopAllMs = performance.now() - t1;
} finally {
  await server.close();
}

const replyTimes = summarize(replies.map((reply) => reply.atMs));
const lags = summarize(replies.map((reply) => reply.lagMs));
const spread = replyTimes.p50 / replyTimes.max;
const burstStatusTimes = summarize(burstStatus.latencies);
const afterStatusTimes = summarize(afterStatus.latencies);
printSection(`4. Concurrency (${options.jobs} jobs running \`sleep ${options.sleepSeconds}\`)`, [
  table(
    ["measure", "value", "target", ""],
    [
      [
        "all running (every StartJob sent at once)",
        `${ms(allRunningMs)} ms`,
        `<= ${ms(burstTargetMs)} ms`,
        verdict(allRunningMs <= burstTargetMs),
      ],
      [
        "baseline: the launcher by hand, running p50",
        `${ms(handP50)} ms`,
        `target = 1.5 x ${options.jobs} x p50 / ${cores} cores`,
        "",
      ],
      [
        "all running / the same burst by hand",
        `${ratio(allRunningMs / handBurstMs)} (by hand: ${ms(handBurstMs)} ms)`,
        "<= 1.25x",
        verdict(allRunningMs / handBurstMs <= 1.25),
      ],
      [
        "StartJob reply p50 / last, from the burst's start",
        `${ms(replyTimes.p50)} / ${ms(replyTimes.max)} ms (${percent(spread)})`,
        "<= 75% (replies as jobs start)",
        verdict(spread <= 0.75),
      ],
      [
        "reply after its job started running, p50 / p99",
        `${ms(lags.p50)} / ${ms(lags.p99)} ms`,
        "-",
        "",
      ],
      ["jobs not running after StartJob", String(notRunning), "0", verdict(notRunning === 0)],
      [
        `GetJob during the burst, p50 / p99 (${burstStatus.latencies.length} calls)`,
        `${ms(burstStatusTimes.p50)} / ${ms(burstStatusTimes.p99)} ms`,
        "answered",
        verdict(burstStatus.latencies.length > 0 && burstStatus.errors === 0),
      ],
      ["server RSS before / with all running", `${mib(before)} / ${mib(during)}`, "-", ""],
      [
        "server RSS per running job",
        `${((during - before) / options.jobs / 1024).toFixed(0)} KiB`,
        "-",
        "",
      ],
      [
        `GetJob after the burst, p50 / p99 (${afterStatus.latencies.length} calls, ${options.statusInFlight} in flight)`,
        `${ms(afterStatusTimes.p50)} / ${ms(afterStatusTimes.p99)} ms`,
        "-",
        "",
      ],
      ["GetJob errors (during / after)", `${burstStatus.errors} / ${afterStatus.errors}`, "0", ""],
      ["time to stop them all (StopJob, all at once)", `${ms(stopAllMs)} ms`, "-", ""],
    ],
  ),
  `Limits per job: cpu ${LIMITS.cpu}, memory 16 MiB, pids ${LIMITS.pids}; ` +
    `${options.connections} client connections for the burst, one more for GetJob. ` +
    "A reply's lag is its arrival minus the job's recorded start (wall clock, ms resolution). " +
    "Replies all at the end of a burst would put the p50 reply near the last (100%); " +
    "replies as each job starts, spread evenly, near 50%.",
]);
