/**
 * Benchmark 5, API rate: GetJob (the status RPC) with a fixed number of
 * calls in flight, against a trivial unary handler on the same server stack
 * (grpc.health.v1 Check: same TLS, HTTP/2, connect router, identity gate
 * and error interceptor, no work behind it). Measured in alternating slices
 * so drifting load on this shared machine hits both alike. GetJob is
 * measured on a running job (live usage read from its cgroup) and on an
 * ended one (the record only).
 */
import { closedLoop, type LoadResult } from "./lib/load.ts";
import { expectSucceeded, waitEnded } from "./lib/jobs.ts";
import { numberOptions } from "./lib/options.ts";
import { printSection, progress, table } from "./lib/report.ts";
import { startBenchServer } from "./lib/server.ts";
import { ms, percent, summarize, verdict } from "./lib/stats.ts";

const options = numberOptions("bench/api-rate.ts", {
  inFlight: 64,
  seconds: 10,
  slices: 4,
  connections: 1,
});

const server = await startBenchServer();
const jobClients = Array.from({ length: options.connections }, () => server.client());
const healthClients = Array.from({ length: options.connections }, () => server.health());
const pick = <T>(list: T[], i: number): T => list[i % list.length] as T;
const runs = {
  baseline: [] as LoadResult[],
  running: [] as LoadResult[],
  ended: [] as LoadResult[],
};
try {
  const control = pick(jobClients, 0);
  const { job: ended } = await control.startJob({ command: "true" });
  const { job: running } = await control.startJob({ command: "sleep", args: ["3600"] });
  if (ended === undefined || running === undefined) throw new Error("StartJob returned no job");
  expectSucceeded(await waitEnded(control, ended.id));
  const calls = {
    baseline: (i: number) => pick(healthClients, i).check({}),
    running: (i: number) => pick(jobClients, i).getJob({ id: running.id }),
    ended: (i: number) => pick(jobClients, i).getJob({ id: ended.id }),
  };
  // Warm up every path (connections, JIT) before measuring.
  for (const call of Object.values(calls)) {
    await closedLoop(options.inFlight, { durationMs: 500 }, call);
  }
  const sliceMs = (options.seconds * 1000) / options.slices;
  for (let slice = 1; slice <= options.slices; slice++) {
    progress(`api rate: slice ${slice}/${options.slices}`);
    for (const name of ["baseline", "running", "ended"] as const) {
      runs[name].push(await closedLoop(options.inFlight, { durationMs: sliceMs }, calls[name]));
    }
  }
  await control.stopJob({ id: running.id, graceMs: 0n });
} finally {
  await server.close();
}

function combine(results: LoadResult[]): {
  rate: number;
  p50: number;
  p99: number;
  errors: number;
} {
  const latencies = results.flatMap((r) => r.latencies);
  const elapsed = results.reduce((total, r) => total + r.elapsedMs, 0);
  const { p50, p99 } = summarize(latencies);
  const errors = results.reduce((total, r) => total + r.errors, 0);
  return { rate: latencies.length / (elapsed / 1000), p50, p99, errors };
}
const baseline = combine(runs.baseline);
const row = (name: string, r: ReturnType<typeof combine>, target: boolean): string[] => [
  name,
  r.rate.toFixed(0),
  ms(r.p50),
  ms(r.p99),
  String(r.errors),
  percent(r.rate / baseline.rate),
  target ? ">= 70%" : "",
  target ? verdict(r.rate / baseline.rate >= 0.7) : "",
];
printSection(
  `5. API rate (${options.inFlight} calls in flight on ${options.connections} connection(s), ${options.seconds} s each)`,
  [
    table(
      ["call", "requests/s", "p50 ms", "p99 ms", "errors", "vs baseline", "target", ""],
      [
        row("GetJob, running job (live usage)", combine(runs.running), true),
        row("GetJob, ended job", combine(runs.ended), true),
        row("baseline: health Check (trivial unary)", baseline, false),
      ],
    ),
    "The load generator is one Node process on the same 2 cores as the server: " +
      "for the trivial baseline it is as busy as the server is.",
  ],
);
