/**
 * Benchmark 1, start latency: sequential jobs running `true` through the
 * whole stack (client -> mTLS gRPC on a warm connection -> worker ->
 * spawner -> launcher: cgroup + namespaces -> exec), against baselines
 * measured in the same run, in round robin so that noise on this shared
 * machine hits all alike:
 *   (a) the launcher started as the worker starts it (launch() through a
 *       spawner of this process), with an equivalent cgroup made by hand;
 *       and the same without a network namespace, and without any
 *       namespace, which shows what the namespaces cost;
 *   (b) the tools an operator could use instead (lib/peers.ts): util-linux
 *       unshare + setpriv, bwrap, crun and runc, each when installed;
 *   (c) a plain child_process.spawn('true').
 * "Running" is when the exec is confirmed (StartJob's reply; for (a) the
 * launcher's "ok" on its status channel); "ended" is when the end is known
 * (the final status on WatchJob; for (a) the launcher's exit and the cgroup
 * removed; for (b) the tool's exit, its cgroup removed).
 */
import { spawn } from "node:child_process";
import { performance } from "node:perf_hooks";
import { ALL_NAMESPACES, HandLauncher, NO_NAMESPACES } from "./lib/hand-launch.ts";
import { expectSucceeded, waitEnded } from "./lib/jobs.ts";
import { numberOptions } from "./lib/options.ts";
import { bubblewrap, installed, ociRuntime, utilLinux, type Peer } from "./lib/peers.ts";
import { printSection, progress, table } from "./lib/report.ts";
import { startBenchServer, stateRoot } from "./lib/server.ts";
import { ms, ratio, summarize, verdict, type Summary } from "./lib/stats.ts";

const options = numberOptions("bench/start-latency.ts", { jobs: 300, warmup: 10 });

/** The limits the worker gives a job by default (cpu 1, 1 GiB, 1024 pids). */
const JOB_LIMITS = { cpu: 1, memoryBytes: 2 ** 30, pids: 1024 };

interface Timing {
  runningMs?: number;
  endedMs: number;
}

/** Resolves when the child has exited (the exit code is not what is measured). */
function exited(child: ReturnType<typeof spawn>): Promise<void> {
  return new Promise((resolve, reject) => {
    child.once("exit", () => {
      resolve();
    });
    child.once("error", reject);
  });
}

const hand = await HandLauncher.open(stateRoot(), JOB_LIMITS);
const peers: Peer[] = [utilLinux()];
const missingPeers = ["bwrap", "crun", "runc"].filter((tool) => !installed(tool));
if (installed("bwrap")) peers.push(bubblewrap());
for (const runtime of ["crun", "runc"] as const) {
  if (installed(runtime)) peers.push(await ociRuntime(runtime, stateRoot(), JOB_LIMITS));
}
const server = await startBenchServer();
const client = server.client();

async function fullStack(): Promise<Timing> {
  const t0 = performance.now();
  const { job } = await client.startJob({ command: "true" });
  const runningMs = performance.now() - t0;
  if (job === undefined) throw new Error("StartJob returned no job");
  expectSucceeded(await waitEnded(client, job.id));
  return { runningMs, endedMs: performance.now() - t0 };
}

async function timeSpawn(command: string, args: readonly string[]): Promise<Timing> {
  const t0 = performance.now();
  await exited(spawn(command, args, { stdio: "ignore" }));
  return { endedMs: performance.now() - t0 };
}

const paths = [
  { name: "full stack (gRPC + worker + launcher)", run: fullStack },
  { name: "(a) launcher + hand-made cgroup", run: () => hand.run(ALL_NAMESPACES) },
  {
    name: "(a) without a network namespace",
    run: () => hand.run({ ...ALL_NAMESPACES, net: false }),
  },
  { name: "(a) without namespaces", run: () => hand.run(NO_NAMESPACES) },
  ...peers.map((peer) => ({
    name: `(b) ${peer.name}`,
    run: (): Promise<Timing> => peer.run(),
  })),
  { name: "(c) spawn('true')", run: () => timeSpawn("true", []) },
];

const samples = paths.map(() => ({ running: [] as number[], ended: [] as number[] }));
try {
  await client.listJobs({}); // warm: TLS handshake and HTTP/2 connection
  progress(`start latency: ${options.jobs} rounds of ${paths.length} paths`);
  for (let round = 0; round < options.warmup + options.jobs; round++) {
    for (const [i, path] of paths.entries()) {
      const timing = await path.run();
      if (round < options.warmup) continue;
      if (timing.runningMs !== undefined) samples[i]?.running.push(timing.runningMs);
      samples[i]?.ended.push(timing.endedMs);
    }
  }
} finally {
  await hand.close();
  for (const peer of peers) await peer.close();
  await server.close();
}

const running = samples.map((s) => summarize(s.running));
const ended = samples.map((s) => summarize(s.ended));
const cells = (s: Summary): string[] =>
  s.n === 0 ? ["-", "-", "-"] : [ms(s.p50), ms(s.p90), ms(s.p99)];
const byName = (name: string): { running: Summary; ended: Summary } => {
  const i = paths.findIndex((path) => path.name === name);
  return { running: running[i] as Summary, ended: ended[i] as Summary };
};
const stack = byName("full stack (gRPC + worker + launcher)");
const direct = byName("(a) launcher + hand-made cgroup");
const bareLauncher = byName("(a) without namespaces");
const bare = byName("(c) spawn('true')");
const vsDirect = stack.running.p50 / direct.running.p50;
const peerRows = peers.flatMap((peer) => {
  const other = byName(`(b) ${peer.name}`);
  const value = stack.running.p50 / other.running.p50;
  return [
    [`full stack / (b) ${peer.name}, running p50`, ratio(value), "<= 1x", verdict(value <= 1)],
    [`full stack / (b) ${peer.name}, ended p50`, ratio(stack.ended.p50 / other.ended.p50), "-", ""],
  ];
});
printSection(`1. Start latency (${options.jobs} sequential jobs running \`true\`, ms)`, [
  table(
    ["path", "running p50", "p90", "p99", "ended p50", "p90", "p99"],
    paths.map((path, i) => [
      path.name,
      ...cells(running[i] as Summary),
      ...cells(ended[i] as Summary),
    ]),
  ),
  table(
    ["ratio", "value", "target", ""],
    [
      ["full stack / (a), running p50", ratio(vsDirect), "<= 1.25x", verdict(vsDirect <= 1.25)],
      ["full stack / (a), ended p50", ratio(stack.ended.p50 / direct.ended.p50), "-", ""],
      ...peerRows,
      ["full stack / (c), ended p50", ratio(stack.ended.p50 / bare.ended.p50), "-", ""],
      [
        "(a) / (a) without namespaces, ended p50",
        ratio(direct.ended.p50 / bareLauncher.ended.p50),
        "-",
        "",
      ],
    ],
  ),
  "Running: StartJob's reply (the exec is confirmed); for (a) the launcher's \"ok\" on its " +
    "status channel; for (b) the isolated `echo running`'s line (a little after its exec). " +
    "Ended: the final status on WatchJob (one more call; the record is fsynced first); for " +
    "(a) the launcher's exit and the cgroup removed; for (b) the tool's exit. (a) sends the " +
    "launcher the worker's request for a default job (scratch folder, cgroup view, tmpfs " +
    "sizes, file size limit, system call filter). (b) runs from a shell loop started once " +
    "(no fork of a Node process per run); bwrap and util-linux set no cgroup limits, crun " +
    "and runc set the job's. Paths run in round robin." +
    (missingPeers.length > 0 ? ` Not installed, not measured: ${missingPeers.join(", ")}.` : ""),
]);
