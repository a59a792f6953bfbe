/**
 * Fair admission (issue 14.3): 300 queued jobs of mallory's put bob's first
 * job at #299 behind them. On a server with room for 3 jobs, and a policy
 * holding mallory to 2 running and 300 queued jobs:
 *
 *   - her 2 jobs run, her next 300 wait although the host has room (her
 *     running cap), and a 301st is refused (her queued cap);
 *   - alice's job takes the host's last place at once;
 *   - bob's job waits: its place (GetJob, and `jobworker ps` as bob and as
 *     the admin) must be first or second, not behind mallory's 300;
 *   - one of mallory's jobs is stopped: of her queued jobs, at most one may
 *     start before bob's.
 */
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { JobState, type Job } from "../../src/gen/jobworker/v1/jobworker_pb.js";
import { Checks, answerOf, client, type Pki, type Servers, type ServerChoice } from "./harness.ts";
import { cliEnv, runCli } from "./cli-process.ts";
import { finalJob, start, stateName } from "./job-calls.ts";

const MALLORY_QUEUED = 300;

const CHOICE: ServerChoice = {
  extraArgs: ["--max-running", "3", "--capacity-cpu", "64"],
  policy: { users: { mallory: { maxRunningJobs: 2, maxQueuedJobs: MALLORY_QUEUED } } },
};

/** bob's job's place in a `jobworker ps` table ("queued (#N)"), as `who` sees it. */
function placeIn(table: string, id: string): string {
  const line = table.split("\n").find((l) => l.startsWith(id)) ?? "";
  return /queued \(#\d+\)/.exec(line)?.[0] ?? `not queued: "${line.trim()}"`;
}

export async function fairAdmission(pki: Pki, servers: Servers, checks: Checks): Promise<void> {
  const server = await servers.fresh(CHOICE);
  const mallory = client(pki, server.address, "mallory");
  const alice = client(pki, server.address, "alice");
  const bob = client(pki, server.address, "bob");
  try {
    const sleepers = [
      await start(mallory, "/bin/sleep", ["600"], { timeoutMs: 600_000 }),
      await start(mallory, "/bin/sleep", ["600"], { timeoutMs: 600_000 }),
    ];
    const queued: Job[] = [];
    for (let batch = 0; batch < MALLORY_QUEUED / 20; batch++) {
      queued.push(
        ...(await Promise.all(
          Array.from({ length: 20 }, () => start(mallory, "/bin/true", [], { timeoutMs: 600_000 })),
        )),
      );
    }
    const beyond = await answerOf(start(mallory, "/bin/true", []));
    const waiting = queued.filter((job) => job.state === JobState.QUEUED).length;
    checks.report(
      sleepers.every((job) => job.state === JobState.RUNNING) &&
        waiting === MALLORY_QUEUED &&
        beyond.code === "ResourceExhausted",
      `mallory (maxRunningJobs 2, maxQueuedJobs ${MALLORY_QUEUED}) on a host with room for 3: ` +
        `${sleepers.filter((job) => job.state === JobState.RUNNING).length} running, ${waiting} of ` +
        `${MALLORY_QUEUED} more queued; one more: ${beyond.code} "${beyond.message}"`,
    );

    const aliceJob = await start(alice, "/bin/sleep", ["600"], { timeoutMs: 600_000 });
    const bobJob = await start(bob, "/bin/echo", ["fair"]);
    const { job: bobNow } = await bob.getJob({ id: bobJob.id });
    const bobPs = await runCli(["ps"], await cliEnv(pki, server.address, "bob"));
    const adminPs = await runCli(["ps"], await cliEnv(pki, server.address, "root"));
    const place = bobNow?.queuePosition;
    checks.report(
      aliceJob.state === JobState.RUNNING &&
        bobNow?.state === JobState.QUEUED &&
        place !== undefined &&
        place <= 2 &&
        placeIn(bobPs.stdout, bobJob.id) === `queued (#${place})` &&
        placeIn(adminPs.stdout, bobJob.id) === `queued (#${place})`,
      `behind mallory's ${MALLORY_QUEUED} queued jobs: alice's job ${stateName(aliceJob.state)} at once; ` +
        `bob's ${stateName(bobNow?.state)} at place #${place ?? "?"} (GetJob), ` +
        `\`jobworker ps\` as bob "${placeIn(bobPs.stdout, bobJob.id)}", as the admin "${placeIn(adminPs.stdout, bobJob.id)}"`,
    );

    await mallory.stopJob({ id: sleepers[0]?.id ?? "", graceMs: 0n });
    const bobEnd = await finalJob(bob, bobJob.id, 30_000);
    const started = (job: Job): number =>
      job.startedAt === undefined ? Infinity : timestampMs(job.startedAt);
    const queuedIds = new Set(queued.map((job) => job.id));
    const { jobs } = await mallory.listJobs({});
    const ahead = jobs.filter(
      (job) => queuedIds.has(job.id) && started(job) < started(bobEnd),
    ).length;
    checks.report(
      bobEnd.state === JobState.SUCCEEDED && ahead <= 1,
      `one of mallory's jobs stopped, a place free: ${ahead} of her queued jobs started before bob's, ` +
        `which ${stateName(bobEnd.state)}`,
    );
  } finally {
    for (const c of [mallory, alice, bob]) c.close();
    await server.stop();
  }
}
