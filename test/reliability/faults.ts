/**
 * Faults: what the server does when things break under it.
 *
 *   crash        the server SIGKILLed while jobs run (one queued) and CLI
 *                clients follow them: the jobs die with it, a new server on
 *                the same state directory lists every job with its complete
 *                output, starts the queued one, and the clients reconnect
 *                and end with exactly the bytes the server holds.
 *   drops        10,000 output streams opened and dropped mid-way (cancelled
 *                calls and cut connections): the server's descriptors and
 *                RSS return to their baseline.
 *   full disk    the state directory on a small tmpfs that a job's output
 *                fills: clear errors, records whole, and the service recovers
 *                when space returns (the tmpfs is grown).
 */
import { execFileSync } from "node:child_process";
import { mkdir, readdir } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Code, ConnectError } from "@connectrpc/connect";
import { JobState, type Job } from "../../src/gen/jobworker/v1/jobworker_pb.js";
import type { JobClient } from "../../src/client/index.ts";
import { fillUp } from "../helpers/disk.ts";
import { cliEnv, spawnCli } from "./cli-process.ts";
import {
  Checks,
  cgroupPids,
  client,
  fdCount,
  fdTargets,
  rssMiB,
  reportServerLog,
  until,
  type Pki,
  type Servers,
  type Who,
} from "./harness.ts";
import {
  FINAL,
  checkLines,
  describe,
  expectedLines,
  finalJob,
  lineProducer,
  outputOf,
  processesOfUid,
  sha256,
  start,
  stateName,
} from "./job-calls.ts";

// ---------------------------------------------------------------- crash

export async function crashAndRestart(pki: Pki, servers: Servers): Promise<Checks> {
  const checks = new Checks("crash");
  const who: Who = "alice";
  // Five at a time, so the last ticker waits in the queue across the crash
  // (and with CPU capacity to spare: each job reserves its default 1 core)
  const first = await servers.fresh({ extraArgs: ["--max-running", "5", "--capacity-cpu", "64"] });
  const alice = client(pki, first.address, who);

  // Two jobs that finish before the crash, with output known in advance.
  const finished: Job[] = [];
  for (const label of ["done-a", "done-b"]) {
    const { command, args } = lineProducer(label, 20_000, 0);
    finished.push(await start(alice, command, args));
  }
  for (const job of finished) await finalJob(alice, job.id, 20_000);

  // Four running jobs: three tickers and a daemon that left its session.
  const tickers: Job[] = [];
  for (const label of ["tick-a", "tick-b", "tick-c"]) {
    const { command, args } = lineProducer(label, 1_000_000, 10);
    tickers.push(await start(alice, command, args, { timeoutMs: 600_000 }));
  }
  const daemon = await start(
    alice,
    "/bin/sh",
    [
      "-c",
      "setsid /bin/sh -c 'trap \"\" TERM HUP; exec sleep 600' </dev/null >/dev/null 2>&1 & echo forked; exec sleep 600",
    ],
    { timeoutMs: 600_000 },
  );
  const { command, args } = lineProducer("tick-q", 1_000_000, 10);
  const fifth = await start(alice, command, args, { timeoutMs: 600_000 });
  const queued = await start(alice, command, args, { timeoutMs: 600_000 });
  const followed = [...tickers, daemon, queued];
  const env = await cliEnv(pki, first.address, who);
  const followers = followed.map((job) =>
    spawnCli(["logs", "-f", job.id, "--reconnect-timeout", "60s"], env),
  );
  // Every follower past its first call: a connection lost before the first
  // answer could be a refused certificate, which the CLI does not retry.
  // (The queued job's follower prints nothing yet: it counts once it has a
  // socket, plus a second for its first round trip.)
  const connected = await until(async () => {
    for (const follower of followers) {
      const targets = await fdTargets(follower.child.pid ?? -1).catch(() => []);
      if (!targets.some((target) => target.startsWith("socket:"))) return false;
    }
    return true;
  }, 20_000);
  await sleep(1000);
  const ran =
    connected &&
    (await until(() => followers.slice(0, 3).every((f) => f.stdout().length > 2000), 20_000));
  const { job: queuedBefore } = await alice.getJob({ id: queued.id });
  checks.report(
    ran && queuedBefore?.state === JobState.QUEUED,
    `before the crash: ${tickers.length} tickers and a daemon running and followed, ` +
      `one job ${stateName(queuedBefore?.state)} (max 5 running)`,
  );
  const killedJobs = [...tickers, daemon, fifth];
  const uids = killedJobs.map((job) => job.uid ?? -1);
  alice.close();

  // SIGKILL: no shutdown code runs. The launchers die with the server
  // (PR_SET_PDEATHSIG), and with each its pid namespace.
  const killedAt = Date.now();
  await first.kill("SIGKILL");
  const orphansGone = await until(async () => {
    for (const uid of uids) if ((await processesOfUid(uid)).length > 0) return false;
    return true;
  }, 10_000);
  checks.report(
    orphansGone,
    `server SIGKILLed: no process of the ${killedJobs.length} running jobs left after ${Date.now() - killedAt} ms`,
  );
  const seenBefore = followers.map((f) => f.stdout());

  await sleep(500);
  const second = await servers.restart(first);
  const admin = client(pki, second.address, "root");
  const again = client(pki, second.address, who);
  const { jobs } = await admin.listJobs({});
  const listed = new Set(jobs.map((job) => job.id));
  const all = [...finished, ...killedJobs, queued];
  checks.report(
    all.every((job) => listed.has(job.id)),
    `restarted on the same state directory: ${all.filter((job) => listed.has(job.id)).length} of ${all.length} earlier jobs listed`,
  );

  for (const [i, job] of finished.entries()) {
    const label = i === 0 ? "done-a" : "done-b";
    const output = await outputOf(again, job.id);
    const end = await finalJob(again, job.id, 1000);
    checks.report(
      end.state === JobState.SUCCEEDED && sha256(output) === sha256(expectedLines(label, 20_000)),
      `finished before the crash: ${describe(end)}, ${output.length} bytes, sha256 as expected`,
    );
  }
  for (const [i, job] of [...tickers, fifth].entries()) {
    const label = i < tickers.length ? `tick-${"abc"[i]}` : "tick-q";
    const end = await finalJob(again, job.id, 1000);
    const output = await outputOf(again, job.id);
    const lines = checkLines(label, output);
    const sawBefore = i < tickers.length ? (seenBefore[i] ?? Buffer.alloc(0)) : Buffer.alloc(0);
    const keepsAllSeen = output.subarray(0, sawBefore.length).equals(sawBefore);
    checks.report(
      end.state === JobState.FAILED &&
        /server stopped while the job was running/.test(end.reason) &&
        typeof lines === "number" &&
        keepsAllSeen,
      `running at the crash (${label}): ${describe(end)}; ` +
        `${typeof lines === "number" ? `${lines} whole lines in order` : lines.message}, ` +
        `holds all ${sawBefore.length} bytes its follower had before the crash`,
    );
  }
  const cgroupsLeft = (
    await Promise.all(killedJobs.map((job) => cgroupPids(second.cgroupParent, job.id)))
  ).flat();
  checks.report(cgroupsLeft.length === 0, `killed jobs' cgroups: ${cgroupsLeft.length} pids left`);

  // The queued job comes back queued and runs once the killed ones are failed.
  const queuedRuns = await until(async () => {
    const { job } = await again.getJob({ id: queued.id });
    return job?.state === JobState.RUNNING && job.outputBytes > 100n;
  }, 15_000);
  await again.stopJob({ id: queued.id, graceMs: 2000n });
  const queuedEnd = await finalJob(again, queued.id, 10_000);
  checks.report(
    queuedRuns && queuedEnd.state === JobState.STOPPED,
    `queued at the crash: ran after the restart, then ${describe(queuedEnd)}`,
  );

  // Every follower reconnected by itself and ended with the server's bytes.
  const deadline = sleep(60_000).then(() => undefined);
  const codes = await Promise.all(
    followers.map((f) => Promise.race([f.exited.then(({ code }) => code), deadline])),
  );
  for (const [i, follower] of followers.entries()) {
    const job = followed[i];
    if (job === undefined) continue;
    const server = await outputOf(again, job.id);
    const got = follower.stdout();
    const reconnected = /reconnected/.test(follower.stderr());
    checks.report(
      codes[i] === 0 && sha256(got) === sha256(server),
      `CLI follower of ${job.id.slice(0, 8)}: exit ${codes[i] ?? "none (still running)"}, ` +
        `${got.length} of ${server.length} bytes, sha256 ${sha256(got) === sha256(server) ? "equal" : "DIFFERENT"}` +
        `${reconnected ? ", reconnected" : ""}${codes[i] === 0 ? "" : `; stderr: ${follower.stderr().slice(-300)}`}`,
    );
  }
  for (const follower of followers) follower.child.kill("SIGKILL");
  reportServerLog(checks, second, "restarted server");
  admin.close();
  again.close();
  await second.stop();
  return checks;
}

// ---------------------------------------------------------------- drops

/** Opens a followed output stream and drops it once some output arrived. */
async function openAndDrop(
  c: JobClient,
  id: string,
  offset: bigint,
  drop: "cancel" | "disconnect",
): Promise<"dropped" | Error> {
  const abort = new AbortController();
  try {
    for await (const piece of c.streamOutput(
      { id, offset, follow: true },
      { signal: abort.signal },
    )) {
      if (piece.data.length > 0) {
        if (drop === "cancel") abort.abort();
        else c.close();
      }
    }
    return new Error("the stream ended before it was dropped");
  } catch (err) {
    const code = ConnectError.from(err).code;
    // What a dropped call looks like from this side: cancelled, or the
    // connection gone under it.
    if (code === Code.Canceled || code === Code.Unavailable || code === Code.Aborted) {
      return "dropped";
    }
    return err instanceof Error ? err : new Error(String(err));
  }
}

export async function droppedStreams(pki: Pki, servers: Servers, streams: number): Promise<Checks> {
  const checks = new Checks("drops");
  const figures = {
    fds: { baseline: 0, peak: 0, after: 0 },
    rss: { baseline: 0, peak: 0, after: 0 },
    seconds: 0,
  };
  // One batch in five opens 100 connections of alice's at once, and a
  // connection or stream counts until the server has seen it end: past the
  // default caps of 32 connections and 256 streams per user, which this
  // section is not about (the hostile-tenant section tests them).
  const server = await servers.fresh({
    policy: { users: { alice: { maxConnections: 1000, maxStreams: 1000 } } },
  });
  const alice = client(pki, server.address, "alice");
  const big = lineProducer("big", 200_000, 0, 40);
  const bigJob = await start(alice, big.command, big.args);
  await finalJob(alice, bigJob.id, 30_000);
  const bigSize = (await finalJob(alice, bigJob.id, 0)).outputBytes;
  const ticker = lineProducer("live", 1_000_000, 5);
  const live = await start(alice, ticker.command, ticker.args, { timeoutMs: 600_000 });

  const CONCURRENT = 100;
  const errors: Error[] = [];
  let dropped = 0;
  const run = async (count: number): Promise<void> => {
    for (let batch = 0; batch < count / CONCURRENT; batch++) {
      // A batch shares one connection and cancels its calls (RST_STREAM);
      // every 5th gives each call a connection of its own and cuts it. A
      // connection is never asked to reset more than CONCURRENT streams:
      // nghttp2 answers a client that resets streams faster than ~1,000 at
      // once / 33 a second with GOAWAY ENHANCE_YOUR_CALM (its defence
      // against HTTP/2 "rapid reset" floods, CVE-2023-44487), which we keep.
      const cut = batch % 5 === 4;
      const shared = cut ? undefined : client(pki, server.address, "alice");
      const calls = Array.from({ length: CONCURRENT }, (_, i) => {
        const onBig = i % 2 === 0;
        const id = onBig ? bigJob.id : live.id;
        const offset = onBig ? BigInt(Math.floor(Math.random() * Number(bigSize))) : 0n;
        if (shared !== undefined) return openAndDrop(shared, id, offset, "cancel");
        const own = client(pki, server.address, "alice");
        return openAndDrop(own, id, offset, "disconnect").finally(() => {
          own.close();
        });
      });
      for (const outcome of await Promise.all(calls)) {
        if (outcome === "dropped") dropped++;
        else errors.push(outcome);
      }
      shared?.close();
    }
  };

  // Warm up (first connections, code paths compiled, the V8 heap grown to
  // its working size), then take the baseline.
  await run(4000);
  await sleep(2000);
  figures.fds.baseline = await fdCount(server.pid);
  const baselineTargets = await fdTargets(server.pid);
  figures.rss.baseline = await rssMiB(server.pid);
  dropped = 0;
  const peaks = { fds: 0, rss: 0 };
  const sampling = { on: true };
  const sampler = (async () => {
    while (sampling.on) {
      peaks.fds = Math.max(peaks.fds, await fdCount(server.pid));
      peaks.rss = Math.max(peaks.rss, await rssMiB(server.pid));
      await sleep(200);
    }
  })();
  const t0 = Date.now();
  await run(streams);
  figures.seconds = (Date.now() - t0) / 1000;
  sampling.on = false;
  await sampler;
  figures.fds.peak = peaks.fds;
  figures.rss.peak = peaks.rss;

  // Back to baseline: every descriptor, and RSS within a small margin (V8
  // keeps some heap it grew into; what matters is that it does not keep
  // what 10,000 streams held).
  // Up to 45 s: a connection whose close the server missed is found dead by
  // its keepalive ping (30 s, then 10 s for the answer).
  const settling = Date.now();
  const fdsBack = await until(
    async () => (figures.fds.after = await fdCount(server.pid)) <= figures.fds.baseline,
    45_000,
  );
  const settledMs = Date.now() - settling;
  const rssMargin = Math.max(24, figures.rss.baseline * 0.25);
  const rssBack = await until(
    async () => (figures.rss.after = await rssMiB(server.pid)) <= figures.rss.baseline + rssMargin,
    15_000,
  );
  const { job: liveNow } = await alice.getJob({ id: live.id });
  checks.report(
    dropped === streams && errors.length === 0,
    `${dropped} of ${streams} streams opened and dropped mid-way in ${figures.seconds.toFixed(1)} s ` +
      `(4 in 5 cancelled, 1 in 5 by cutting the connection); ${errors.length} unexpected errors` +
      (errors.length === 0 ? "" : `, e.g. ${errors[0]?.message}`),
  );
  const extra = fdsBack
    ? []
    : (await fdTargets(server.pid)).filter((target) => !baselineTargets.includes(target));
  checks.report(
    fdsBack,
    `server descriptors: baseline ${figures.fds.baseline}, peak ${figures.fds.peak}, ` +
      `after ${figures.fds.after} (${(settledMs / 1000).toFixed(1)} s after the last drop)` +
      (extra.length === 0 ? "" : ` (not in the baseline: ${extra.join(", ")})`),
  );
  checks.report(
    rssBack,
    `server RSS: baseline ${figures.rss.baseline} MiB, peak ${figures.rss.peak} MiB, ` +
      `after ${figures.rss.after} MiB (allowed: baseline + ${rssMargin.toFixed(0)} MiB)`,
  );
  const followedToEnd = await alice.stopJob({ id: live.id, graceMs: 1000n }).then(async () => {
    await finalJob(alice, live.id, 10_000);
    return checkLines("live", await outputOf(alice, live.id));
  });
  checks.report(
    liveNow?.state === JobState.RUNNING && typeof followedToEnd === "number",
    `the followed job kept running through it and its output is whole (${typeof followedToEnd === "number" ? `${followedToEnd} lines` : followedToEnd.message})`,
  );
  reportServerLog(checks, server);
  alice.close();
  await server.stop();
  return checks;
}

// ---------------------------------------------------------------- full disk

function mountTmpfs(dir: string, size: string, remount = false): void {
  const options = remount ? `remount,size=${size}` : `size=${size},mode=0711`;
  execFileSync("mount", ["-t", "tmpfs", "-o", options, "jobworker-rel", dir]);
}

export async function fullDisk(pki: Pki, root: string, servers: Servers): Promise<Checks> {
  const checks = new Checks("full-disk");
  const mountPoint = join(root, "small-disk");
  await mkdir(mountPoint, { mode: 0o711 });
  mountTmpfs(mountPoint, "8m");
  try {
    await onFullDisk(pki, mountPoint, servers, checks);
  } finally {
    execFileSync("umount", ["-l", mountPoint]);
  }
  return checks;
}

async function onFullDisk(
  pki: Pki,
  mountPoint: string,
  servers: Servers,
  checks: Checks,
): Promise<void> {
  const stateDir = join(mountPoint, "state");
  const first = await servers.fresh({ stateDir });
  const alice = client(pki, first.address, "alice");

  // A job running before the disk fills, stopped while it is full: its
  // final record can only be written once space returns.
  const sleeper = await start(alice, "/bin/sleep", ["600"], { timeoutMs: 600_000 });
  // The flood: 64 MiB of output into 8 MiB of disk.
  const flood = await start(alice, "/usr/bin/head", ["-c", "64M", "/dev/zero"]);
  const floodEnd = await finalJob(alice, flood.id, 20_000);
  checks.report(
    floodEnd.state === JobState.FAILED && /file system is full/.test(floodEnd.reason),
    `a job's output fills the state disk: ${describe(floodEnd)}, ${floodEnd.outputBytes} bytes kept`,
  );

  // The job's writes stop at a full disk, but replacing its record frees a
  // block or two afterwards: fill those, so the disk is full for certain.
  await fillUp(join(mountPoint, "filler"));
  const refused = await start(alice, "/bin/echo", ["hello"]).then(
    (job) => new Error(`started ${job.id} on a full disk`),
    (err: unknown) => ConnectError.from(err),
  );
  checks.report(
    refused instanceof ConnectError &&
      refused.code === Code.ResourceExhausted &&
      /no space left on device/.test(refused.rawMessage),
    `a start on the full disk: ${refused instanceof ConnectError ? `${Code[refused.code]} "${refused.rawMessage}"` : refused.message}`,
  );
  await alice.stopJob({ id: sleeper.id, graceMs: 1000n });
  const sleeperEnd = await finalJob(alice, sleeper.id, 10_000);
  const { jobs: listedFull } = await alice.listJobs({});
  checks.report(
    sleeperEnd.state === JobState.STOPPED && listedFull.length === 2 && first.alive(),
    `while full: a stop answers (${describe(sleeperEnd)}), ${listedFull.length} jobs listed, server up`,
  );
  const refusedWrites = first
    .log()
    .split("\n")
    .filter((l) => /record not written/.test(l));

  // Space returns: the record the disk refused is written by the retry,
  // and new jobs start.
  mountTmpfs(mountPoint, "128m", true);
  const echo = await until(async () => {
    try {
      const job = await start(alice, "/bin/echo", ["back"]);
      return (await finalJob(alice, job.id, 10_000)).state === JobState.SUCCEEDED;
    } catch {
      return false;
    }
  }, 10_000);
  await sleep(1500);
  alice.close();
  await first.kill("SIGKILL");
  const leftovers = await temporaryFiles(stateDir);

  // A new server reads every record back: all whole, states as before.
  const second = await servers.restart(first);
  const again = client(pki, second.address, "alice");
  const { jobs } = await again.listJobs({});
  const stateOf = (id: string): string => stateName(jobs.find((job) => job.id === id)?.state);
  checks.report(
    echo && refusedWrites.length > 0,
    `space returned: a new job ran; ${refusedWrites.length} refused record writes were logged and retried`,
  );
  checks.report(
    jobs.length === 3 &&
      jobs.every((job) => FINAL.has(job.state)) &&
      stateOf(sleeper.id) === "STOPPED" &&
      stateOf(flood.id) === "FAILED" &&
      leftovers.length === 0,
    `after a SIGKILL and a restart: ${jobs.length} jobs read back (${jobs.map((job) => stateName(job.state)).join(", ")}); ` +
      `the stop made on the full disk is on record as ${stateOf(sleeper.id)}; ${leftovers.length} temporary files left`,
  );
  again.close();
  await second.stop();
}

/** Half-written records (`*.tmp`) anywhere in the state directory. */
async function temporaryFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true });
  return entries.filter((name) => name.endsWith(".tmp"));
}
