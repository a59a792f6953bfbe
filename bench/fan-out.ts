/**
 * Benchmark 3, fan-out: many concurrent followers of one job that writes
 * random bytes. Every follower hashes what it receives; each digest must
 * equal the sha256 of the output file as read from disk. Prints the server's
 * RSS before, at its peak, and `settleMs` after the followers disconnect
 * (targets: peak within 200 MiB of before, then back within 50 MiB), and
 * the slowest follower's completion time. The job sleeps `delayMs` before
 * writing, so the followers are attached and waiting when output starts.
 * The followers are all the bench user's: its cap on open streams is raised
 * to fit them.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import type { JobClient } from "../src/client/index.ts";
import { expectSucceeded, waitEnded } from "./lib/jobs.ts";
import { numberOptions } from "./lib/options.ts";
import { PeakRss } from "./lib/proc.ts";
import { printSection, progress, table } from "./lib/report.ts";
import { BENCH_USER, startBenchServer } from "./lib/server.ts";
import { mib, ms, summarize, verdict } from "./lib/stats.ts";

const options = numberOptions("bench/fan-out.ts", {
  followers: 1000,
  bytes: 4 * 2 ** 20,
  connections: 10,
  delayMs: 3000,
  settleMs: 30_000,
});

async function sha256(chunks: AsyncIterable<Uint8Array>): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of chunks) hash.update(chunk);
  return hash.digest("hex");
}

// One user's followers, beyond the default per-user cap on streams.
const server = await startBenchServer(
  {},
  {
    roles: {},
    users: { [BENCH_USER]: { maxStreams: options.followers + 10 } },
  },
);
const control = server.client();
const clients: JobClient[] = Array.from({ length: options.connections }, () => server.client());
let before: number;
let peak: number;
let after: number;
let fileDigest: string;
const digests: (string | Error)[] = [];
const doneAt: number[] = [];
try {
  // Warm every connection (and the server) before the baseline RSS.
  await Promise.all([control, ...clients].map((client) => client.listJobs({})));
  await sleep(500);
  before = server.rss().rssBytes;
  const peakRss = new PeakRss(server.pid);
  progress(`fan-out: ${options.followers} followers of ${options.bytes} bytes`);
  const t0 = performance.now();
  const delay = (options.delayMs / 1000).toFixed(3);
  const { job } = await control.startJob({
    command: "sh",
    args: ["-c", 'sleep "$1"; exec head -c "$2" /dev/urandom', "sh", delay, String(options.bytes)],
  });
  if (job === undefined) throw new Error("StartJob returned no job");
  const followers = Array.from({ length: options.followers }, async (_, i) => {
    const client = clients[i % clients.length] as JobClient;
    try {
      digests[i] = await sha256(
        (async function* () {
          for await (const { data } of client.streamOutput({ id: job.id, follow: true })) {
            yield data;
          }
        })(),
      );
    } catch (err) {
      digests[i] = err instanceof Error ? err : new Error(String(err));
    }
    doneAt[i] = performance.now() - t0;
  });
  await Promise.all(followers);
  peak = peakRss.stop();
  expectSucceeded(await waitEnded(control, job.id));
  fileDigest = await sha256(createReadStream(server.outputFile(job.id)));
  for (const client of clients) client.close();
  await sleep(options.settleMs);
  after = server.rss().rssBytes;
} finally {
  await server.close();
}

const mismatches = digests.filter((digest) => digest !== fileDigest).length;
const firstError = digests.find((digest) => digest instanceof Error);
if (firstError !== undefined) console.error("  first follower error:", firstError);
const done = summarize(doneAt);
const growth = peak - before;
printSection(
  `3. Fan-out (${options.followers} followers of ${mib(options.bytes)} on ${options.connections} connections)`,
  [
    table(
      ["measure", "value", "target", ""],
      [
        ["sha256 mismatches (or errors)", String(mismatches), "0", verdict(mismatches === 0)],
        ["server RSS before", mib(before), "", ""],
        [
          "server RSS peak",
          `${mib(peak)} (+${mib(growth)})`,
          "<= +200 MiB",
          verdict(growth <= 200 * 2 ** 20),
        ],
        [
          `server RSS ${options.settleMs} ms after disconnect`,
          `${mib(after)} (+${mib(after - before)})`,
          "<= +50 MiB",
          verdict(after - before <= 50 * 2 ** 20),
        ],
        ["slowest follower done (from StartJob)", `${ms(done.max)} ms`, "", ""],
        ["median follower done", `${ms(done.p50)} ms`, "", ""],
        [
          "aggregate delivered",
          `${((options.followers * options.bytes) / 1e6 / ((done.max - options.delayMs) / 1000)).toFixed(0)} MB/s`,
          "",
          "",
        ],
      ],
    ),
    `The job sleeps ${options.delayMs} ms before writing, so the followers are attached ` +
      "and waiting when its output starts. Sized down from 100 MiB (--bytes) so a full run " +
      "fits in 10 minutes on 2 cores: 1,000 followers of 100 MiB are 100 GiB through TLS.",
  ],
);
