/**
 * Load: 200 jobs at once, each followed by 5 clients, for 2 minutes, with
 * stops and starts mixed in. Every job prints numbered lines (a tenth of
 * them in a burst, the rest a line every 20 ms), so its output can be
 * checked whole; every follower's copy must have the sha256 of the job's
 * output as the server holds it once the job has ended. The server's RSS
 * and descriptors are sampled all along.
 *
 * Each of the 200 slots runs jobs one after another: start, 5 followers
 * (joining within the first 2 s, from the first byte), a stop request for
 * one job in six, the final state (WatchJob), the checks, the next job.
 * When the time is up, jobs still running are stopped.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { JobState, type Job } from "../../src/gen/jobworker/v1/jobworker_pb.js";
import type { JobClient } from "../../src/client/index.ts";
import {
  Checks,
  client,
  fdCount,
  jobUidProcesses,
  reportServerLog,
  rssMiB,
  type PolicyFile,
  type Pki,
  type Servers,
  type Who,
} from "./harness.ts";
import { FINAL, checkLines, lineProducer, outputOf, sha256, stateName } from "./job-calls.ts";

/** The job's final status, from WatchJob (no polling: 200 jobs at once). */
async function endOf(c: JobClient, id: string): Promise<Job> {
  for await (const { job } of c.watchJob({ id })) {
    if (job !== undefined && FINAL.has(job.state)) return job;
  }
  throw new Error(`the watch of job ${id} ended before the job did`);
}

export interface LoadOptions {
  seconds: number;
  jobs: number;
  followersPerJob: number;
}

const MiB = 1024n * 1024n;

/**
 * Each of alice's and bob's 100 jobs has 4 followers, a WatchJob and, at its
 * end, a read of the whole output: up to 600 streams per owner at once (and
 * 200 of the admin's followers), past the default cap of 256 per user. The
 * load is the test here, not the cap (the hostile-tenant section tests it).
 */
const LOAD_POLICY: PolicyFile = {
  users: { alice: { maxStreams: 2000 }, bob: { maxStreams: 2000 }, root: { maxStreams: 2000 } },
};
/** Client connections per identity: followers and calls share them. */
const CONNECTIONS_PER_IDENTITY = 8;

interface Tally {
  jobs: number;
  stopped: number;
  succeeded: number;
  other: Map<string, number>;
  streams: number;
  bytesChecked: number;
  errors: string[];
}

export async function load(pki: Pki, servers: Servers, options: LoadOptions): Promise<Checks> {
  const checks = new Checks("load");
  // Room for every job: each reserves the limits it asks for (below).
  const server = await servers.fresh({ extraArgs: ["--capacity-cpu", "64"], policy: LOAD_POLICY });
  const pools: Record<Who, JobClient[]> = {
    alice: [],
    bob: [],
    mallory: [],
    olga: [],
    root: [],
  };
  for (const who of ["alice", "bob", "root"] as const) {
    for (let i = 0; i < CONNECTIONS_PER_IDENTITY; i++) {
      pools[who].push(client(pki, server.address, who));
    }
  }
  let turn = 0;
  const connection = (who: Who): JobClient => {
    const pool = pools[who];
    const chosen = pool[turn++ % pool.length];
    if (chosen === undefined) throw new Error(`no connection for ${who}`);
    return chosen;
  };

  const tally: Tally = {
    jobs: 0,
    stopped: 0,
    succeeded: 0,
    other: new Map(),
    streams: 0,
    bytesChecked: 0,
    errors: [],
  };
  const unexpected = (what: string, err: unknown): void => {
    tally.errors.push(`${what}: ${err instanceof Error ? err.message : String(err)}`);
  };

  const samples: { at: number; rss: number; fds: number }[] = [];
  const sampling = { on: true };
  const t0 = Date.now();
  const sampler = (async () => {
    while (sampling.on) {
      samples.push({
        at: (Date.now() - t0) / 1000,
        rss: await rssMiB(server.pid),
        fds: await fdCount(server.pid),
      });
      await sleep(2000);
    }
  })();

  const deadline = t0 + options.seconds * 1000;
  const runJob = async (slot: number, serial: number): Promise<void> => {
    const owner: Who = slot % 2 === 0 ? "alice" : "bob";
    const label = `s${slot}j${serial}`;
    const burst = Math.random() < 0.1;
    const padding = Math.floor(Math.random() * 120);
    const count = burst ? 20_000 : 300 + Math.floor(Math.random() * 1200);
    const { command, args } = lineProducer(label, count, burst ? 0 : 20, padding);
    const owned = connection(owner);
    const { job } = await owned.startJob({
      command,
      args,
      limits: { cpu: 0.25, memoryBytes: 64n * MiB, pids: 16 },
      timeoutMs: 600_000n,
    });
    if (job === undefined) throw new Error("StartJob returned no job");
    tally.jobs++;
    const followers = Array.from({ length: options.followersPerJob }, async (_, k) => {
      await sleep(Math.random() * 2000);
      // Followers are the owner or an admin.
      const reader = connection(k === 0 ? "root" : owner);
      const chunks: Buffer[] = [];
      let expected = 0n;
      for await (const piece of reader.streamOutput({ id: job.id, offset: 0n, follow: true })) {
        if (piece.offset !== expected) {
          throw new Error(`offset ${piece.offset} where ${expected} was next`);
        }
        chunks.push(Buffer.from(piece.data));
        expected += BigInt(piece.data.length);
      }
      tally.streams++;
      return Buffer.concat(chunks);
    });
    // One job in six is stopped while it runs; when the time is up, every
    // job still running is.
    const stop = (): void => {
      owned.stopJob({ id: job.id, graceMs: 1000n }).catch((err: unknown) => {
        unexpected(`${label} stop`, err);
      });
    };
    const stopTimers = [setTimeout(stop, Math.max(0, deadline - Date.now()))];
    if (Math.random() < 1 / 6) stopTimers.push(setTimeout(stop, 500 + Math.random() * 8000));
    const end = await endOf(owned, job.id);
    for (const timer of stopTimers) clearTimeout(timer);
    const copies = await Promise.all(followers);

    const full = await outputOf(owned, job.id);
    const lines = checkLines(label, full, padding);
    if (lines instanceof Error) throw new Error(`${label}: output ${lines.message}`);
    if (end.state === JobState.SUCCEEDED) {
      tally.succeeded++;
      if (lines !== count) throw new Error(`${label}: succeeded with ${lines} of ${count} lines`);
    } else if (end.state === JobState.STOPPED) {
      tally.stopped++;
    } else {
      const key = `${stateName(end.state)} ${end.reason}`;
      tally.other.set(key, (tally.other.get(key) ?? 0) + 1);
    }
    const digest = sha256(full);
    for (const [k, copy] of copies.entries()) {
      if (sha256(copy) !== digest) {
        throw new Error(
          `${label}: follower ${k} has ${copy.length} bytes, sha256 differs from the job's ${full.length}`,
        );
      }
      tally.bytesChecked += copy.length;
    }
  };

  const slots = Array.from({ length: options.jobs }, async (_, slot) => {
    // Spread the first starts over 2 s rather than 200 at the same instant.
    await sleep((slot / options.jobs) * 2000);
    for (let serial = 0; Date.now() < deadline; serial++) {
      try {
        await runJob(slot, serial);
      } catch (err) {
        unexpected(`slot ${slot}`, err);
        await sleep(500);
      }
    }
  });
  await Promise.all(slots);
  sampling.on = false;
  await sampler;
  const seconds = (Date.now() - t0) / 1000;

  const left = await jobUidProcesses(server.uidRange);
  const rss = samples.map((s) => s.rss);
  const half = Math.floor(rss.length / 2);
  const firstHalfMax = Math.max(...rss.slice(0, half));
  const secondHalfMax = Math.max(...rss.slice(half));
  const fds = samples.map((s) => s.fds);
  const others = [...tally.other.entries()].map(([k, n]) => `${n}x ${k}`).join("; ");
  console.log(
    `  ${tally.jobs} jobs in ${seconds.toFixed(0)} s (${options.jobs} at a time): ` +
      `${tally.succeeded} succeeded, ${tally.stopped} stopped${others === "" ? "" : `, ${others}`}; ` +
      `${tally.streams} follower streams, ${(tally.bytesChecked / 1048576).toFixed(1)} MiB checked`,
  );
  console.log(
    `  server RSS (MiB) every ${(samples.length > 1 ? (samples[1]?.at ?? 0) - (samples[0]?.at ?? 0) : 0).toFixed(0)} s: ` +
      rss.map((r) => r.toFixed(0)).join(" "),
  );
  console.log(`  server descriptors: min ${Math.min(...fds)}, max ${Math.max(...fds)}`);
  checks.report(
    tally.errors.length === 0 && tally.other.size === 0,
    `${tally.streams} follower streams checked byte for byte; ${tally.errors.length} unexpected errors or differences` +
      (tally.errors.length === 0 ? "" : `: ${tally.errors.slice(0, 3).join(" | ")}`),
  );
  checks.report(
    secondHalfMax <= firstHalfMax * 1.2 + 32,
    `server RSS stable: max ${firstHalfMax} MiB in the first half, ${secondHalfMax} MiB in the second`,
  );
  checks.report(left.length === 0, `job processes left after the run: ${left.length}`);
  reportServerLog(checks, server);
  for (const pool of Object.values(pools)) for (const c of pool) c.close();
  await server.stop();
  return checks;
}
