/**
 * Benchmark 2, output throughput: a job writes `bytes` of zeros (`head -c`)
 * and one follower streams them over gRPC while it runs. Prints the
 * follower's end-to-end rate (StartJob to last byte), the rate of replaying
 * the finished output, and the same bytes over a raw Node TLS 1.3 socket on
 * loopback (same certificates, a separate process reading the same file).
 * Also the job's own run time with and without the follower (what following
 * costs the job), and the CPU time the sender and the receiver spend per GiB
 * (from /proc/PID/stat; the raw TLS sender's is the baseline): on a machine
 * of few cores the job, the server and the follower share them, so the
 * server's CPU per byte is what slows a followed job.
 */
import { rm } from "node:fs/promises";
import { connect } from "node:tls";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import type { JobClient } from "../src/client/index.ts";
import { startHelper } from "./lib/child.ts";
import { expectSucceeded, runTimeMs, waitEnded } from "./lib/jobs.ts";
import { numberOptions } from "./lib/options.ts";
import { cpuMs } from "./lib/proc.ts";
import type { RawTlsConfig } from "./lib/raw-tls-server.ts";
import { printSection, progress, table } from "./lib/report.ts";
import { startBenchServer, type BenchServer } from "./lib/server.ts";
import { mbps, ms, percent, summarize, verdict } from "./lib/stats.ts";

const options = numberOptions("bench/output-throughput.ts", { bytes: 2 ** 30, rounds: 3 });
const { bytes } = options;

/** One transfer: its wall time and the CPU time of both ends. */
interface Transfer {
  ms: number;
  senderCpuMs: number;
  receiverCpuMs: number;
}

/** Times `receive`, and the CPU time of process `sender` and of this one meanwhile. */
async function transfer(sender: number, receive: () => Promise<void>): Promise<Transfer> {
  const t0 = performance.now();
  const sender0 = cpuMs(sender);
  const receiver0 = process.cpuUsage();
  await receive();
  const receiver = process.cpuUsage(receiver0);
  return {
    ms: performance.now() - t0,
    senderCpuMs: cpuMs(sender) - sender0,
    receiverCpuMs: (receiver.user + receiver.system) / 1000,
  };
}

async function startWriter(client: JobClient): Promise<string> {
  const { job } = await client.startJob({
    command: "head",
    args: ["-c", String(bytes), "/dev/zero"],
    // Room for the output (the default disk limit is 1 GiB).
    limits: { diskBytes: BigInt(bytes) * 2n },
  });
  if (job === undefined) throw new Error("StartJob returned no job");
  return job.id;
}

/** Reads a StreamOutput call to its end; returns the byte count. */
async function drain(client: JobClient, id: string, follow: boolean): Promise<number> {
  let received = 0;
  for await (const { data } of client.streamOutput({ id, follow })) received += data.byteLength;
  return received;
}

function checkCount(received: number, what: string): void {
  if (received !== bytes) throw new Error(`${what} received ${received} bytes, not ${bytes}`);
}

/** The same file over a raw TLS 1.3 socket (a fresh helper process per file). */
async function rawTls(server: BenchServer, file: string): Promise<Transfer> {
  const { pki } = server;
  const config: RawTlsConfig = {
    certPem: pki.server.certPem,
    keyPem: pki.server.keyPem,
    caPem: pki.ca.certPem,
    file,
  };
  const helper = await startHelper<{ port: number; pid: number }>(
    join(import.meta.dirname, "lib", "raw-tls-server.ts"),
    config,
  );
  try {
    const socket = connect({
      host: "127.0.0.1",
      port: helper.ready.port,
      ca: pki.ca.certPem,
      cert: pki.client.certPem,
      key: pki.client.keyPem,
      minVersion: "TLSv1.3",
    });
    await new Promise<void>((resolve, reject) => {
      socket.once("secureConnect", resolve).once("error", reject);
    });
    let received = 0;
    const sample = await transfer(helper.ready.pid, async () => {
      socket.write("go");
      for await (const chunk of socket) {
        received += (chunk as Buffer).byteLength;
        if (received >= bytes) break;
      }
    });
    socket.destroy();
    checkCount(received, "the raw TLS client");
    return sample;
  } finally {
    await helper.stop();
  }
}

const server = await startBenchServer({ outputCapBytes: bytes * 2 });
const client = server.client();
const alone: number[] = [];
const followed: number[] = [];
const endToEnd: Transfer[] = [];
const replay: Transfer[] = [];
const raw: Transfer[] = [];
try {
  await client.listJobs({}); // warm connection
  for (let round = 1; round <= options.rounds; round++) {
    progress(`output throughput: round ${round}/${options.rounds}, ${bytes} bytes`);
    const lone = await startWriter(client);
    const loneJob = await waitEnded(client, lone);
    expectSucceeded(loneJob);
    alone.push(runTimeMs(loneJob));
    await rm(server.outputFile(lone));

    let id = "";
    endToEnd.push(
      await transfer(server.pid, async () => {
        id = await startWriter(client);
        checkCount(await drain(client, id, true), "the follower");
      }),
    );
    const job = await waitEnded(client, id);
    expectSucceeded(job);
    followed.push(runTimeMs(job));

    replay.push(
      await transfer(server.pid, async () => {
        checkCount(await drain(client, id, false), "the replay");
      }),
    );
    raw.push(await rawTls(server, server.outputFile(id)));
    await rm(server.outputFile(id));
  }
} finally {
  await server.close();
}

const p50 = (samples: number[]): number => summarize(samples).p50;
const rateOf = (samples: Transfer[]): number => bytes / p50(samples.map((s) => s.ms));
const rawRate = rateOf(raw);
const followRate = rateOf(endToEnd);
const cost = p50(followed) / p50(alone) - 1;
const rate = (samples: Transfer[]): string => mbps(bytes, p50(samples.map((s) => s.ms)));
const signed = (value: number): string => (value >= 0 ? `+${percent(value)}` : percent(value));
const gib = bytes / 2 ** 30;
const perGib = (samples: Transfer[], side: "senderCpuMs" | "receiverCpuMs"): string =>
  `${ms(p50(samples.map((s) => s[side])) / gib)} ms`;
const cpuRow = (what: string, samples: Transfer[]): string[] => [
  what,
  perGib(samples, "senderCpuMs"),
  perGib(samples, "receiverCpuMs"),
];
printSection(
  `2. Output throughput (${gib.toFixed(2)} GiB of zeros, one follower, median of ${options.rounds})`,
  [
    table(
      ["measure", "value", "vs raw TLS", "target", ""],
      [
        [
          "follower, StartJob to last byte",
          rate(endToEnd),
          percent(followRate / rawRate),
          ">= 60%",
          verdict(followRate / rawRate >= 0.6),
        ],
        ["replay of the finished output", rate(replay), percent(rateOf(replay) / rawRate), "", ""],
        ["baseline: raw TLS 1.3 socket, same file", rate(raw), "100%", "", ""],
      ],
    ),
    table(
      ["job run time", "ms", "", "target", ""],
      [
        ["without a follower", ms(p50(alone)), "", "", ""],
        ["with one follower", ms(p50(followed)), signed(cost), "<= +10%", verdict(cost <= 0.1)],
      ],
    ),
    table(
      ["CPU time per GiB sent", "sender", "receiver (this process)"],
      [
        cpuRow("follower (the server, while the job writes)", endToEnd),
        cpuRow("replay (the server)", replay),
        cpuRow("baseline: raw TLS (a bare Node TLS server)", raw),
      ],
    ),
  ],
);
