/**
 * What a job leaves behind (issues 13.2 and 14.1): a scratch tree deeper
 * than any path, which crashed the server and then kept it from starting;
 * and files in /tmp, /var/tmp and /dev/shm that a later job with the same
 * uid could read, across a restart of the server.
 */
import { lstat, readdir } from "node:fs/promises";
import { join } from "node:path";
import { JobState } from "../../src/gen/jobworker/v1/jobworker_pb.js";
import type { JobClient } from "../../src/client/index.ts";
import {
  answerOf,
  client,
  until,
  type Checks,
  type Pki,
  type ServerChoice,
  type ServerProcess,
  type Servers,
} from "./harness.ts";
import { describe, finalJob, outputText, start } from "./job-calls.ts";
import type { Tenancy } from "./tenant-context.ts";

/** 60 levels of 200-character names (12,000 bytes of path, 3 x PATH_MAX),
 * a file and a symlink to / on each, a fifo and a folder nobody may enter
 * at the bottom; then, given a pause, it waits there. */
function deepTree(pauseSeconds: number): string[] {
  return [
    "-c",
    `import os, time
for i in range(60):
    os.mkdir("d" * 200); os.chdir("d" * 200)
    open("f", "w").write("x"); os.symlink("/", "up")
os.mkfifo("pipe"); os.chmod(".", 0)
print("deep", flush=True)
time.sleep(${pauseSeconds})`,
  ];
}

async function gone(path: string): Promise<boolean> {
  return lstat(path).then(
    () => false,
    () => true,
  );
}

/** The deep tree in a job that ends: removed, and the server lives on. */
export async function deepTreeAtJobEnd(t: Tenancy): Promise<void> {
  const pid = t.server.pid;
  const job = await start(t.mallory, "python3", deepTree(0));
  const end = await finalJob(t.mallory, job.id, 30_000);
  const ended = Date.now();
  const removed = await until(() => gone(job.cwd), 15_000);
  const removedMs = Date.now() - ended;
  const next = await start(t.bob, "/bin/true", []);
  const nextEnd = await finalJob(t.bob, next.id, 10_000);
  t.checks.report(
    end.state === JobState.SUCCEEDED &&
      removed &&
      t.server.alive() &&
      t.server.pid === pid &&
      nextEnd.state === JobState.SUCCEEDED,
    `scratch tree 60 levels x 200-character names: ${describe(end)}; its scratch folder ` +
      `${removed ? `removed ${removedMs} ms after the end` : "STILL THERE"}; server pid ${t.server.pid} ` +
      `(was ${pid}), ${t.server.alive() ? "alive" : "EXITED"}; bob's next job ${describe(nextEnd)}`,
  );
}

/**
 * The deep tree left behind by a server SIGKILLed while its job ran: the
 * next server starts at once and removes the tree in the background.
 * Returns the new server.
 */
export async function deepTreeAcrossCrash(
  t: Tenancy,
  servers: Servers,
  choice: ServerChoice,
): Promise<ServerProcess> {
  const job = await start(t.mallory, "python3", deepTree(600), { timeoutMs: 600_000 });
  const built = await until(async () => (await outputText(t.mallory, job.id)) === "deep\n", 30_000);
  await t.server.kill("SIGKILL");
  const t0 = Date.now();
  const next = await servers.restart(t.server, choice);
  const startMs = Date.now() - t0;
  const removed = await until(() => gone(job.cwd), 30_000);
  const removedMs = Date.now() - t0;
  const mallory = client(t.pki, next.address, "mallory");
  const { job: after } = await mallory.getJob({ id: job.id });
  const echo = await start(mallory, "/bin/echo", ["after"]);
  const echoEnd = await finalJob(mallory, echo.id, 10_000);
  mallory.close();
  t.checks.report(
    built && removed && next.alive() && echoEnd.state === JobState.SUCCEEDED,
    `the same tree left by a server SIGKILLed mid-job: the next server listened after ${startMs} ms, ` +
      `removed the tree ${removed ? `${removedMs} ms after its start` : "NEVER (30 s)"}; ` +
      `the job is ${after === undefined ? "?" : describe(after)}; a new job ${describe(echoEnd)}`,
  );
  return next;
}

/** Starts a job, waiting while the server's one uid is still being freed. */
async function startOnOneUid(c: JobClient, script: string): Promise<string> {
  let id = "";
  await until(async () => {
    const answer = await answerOf(start(c, "/bin/sh", ["-c", script]).then((job) => (id = job.id)));
    if (answer.code !== "OK" && !/no free job uid/.test(answer.message)) {
      throw new Error(`${answer.code} ${answer.message}`);
    }
    return answer.code === "OK";
  }, 15_000);
  return id;
}

/** Scratch folders still on a server's disk (their uids are not free yet). */
export async function scratchLeft(server: ServerProcess): Promise<number> {
  return (await readdir(join(server.stateDir, "scratch")).catch(() => [])).length;
}

/**
 * alice's job leaves a secret in /tmp, /var/tmp and /dev/shm; the server
 * (with one job uid, so the next job must get the same) restarts; bob's
 * job looks for it. Then a second server claims the same uid range while
 * this one runs. Returns the restarted server.
 */
export async function tmpAcrossRestart(
  pki: Pki,
  checks: Checks,
  servers: Servers,
  first: ServerProcess,
  choice: ServerChoice,
): Promise<ServerProcess> {
  const alice = client(pki, first.address, "alice");
  const aliceId = await startOnOneUid(
    alice,
    "for d in /tmp /var/tmp /dev/shm; do echo alice-secret > $d/left-by-alice && chmod 666 $d/left-by-alice; done; ls /tmp /var/tmp /dev/shm | grep -c left-by-alice",
  );
  const aliceEnd = await finalJob(alice, aliceId, 10_000);
  const written = (await outputText(alice, aliceId)).trim();
  alice.close();
  await first.stop();
  const second = await servers.restart(first, choice);
  const bob = client(pki, second.address, "bob");
  const bobId = await startOnOneUid(
    bob,
    "for d in /tmp /var/tmp /dev/shm; do ls -A $d; cat $d/left-by-alice 2>/dev/null; done; echo end",
  );
  const bobEnd = await finalJob(bob, bobId, 10_000);
  // A state directory under /tmp has its path remade in the job's own
  // /tmp, so that its scratch folder stays reachable: that one is its own.
  const ownPath = second.stateDir.startsWith("/tmp/") ? second.stateDir.split("/")[2] : undefined;
  const seen = (await outputText(bob, bobId))
    .split("\n")
    .filter((l) => l !== "" && l !== "end" && l !== ownPath);
  bob.close();
  checks.report(
    written === "3" &&
      aliceEnd.uid !== undefined &&
      aliceEnd.uid === bobEnd.uid &&
      bobEnd.state === JobState.SUCCEEDED &&
      seen.length === 0,
    `/tmp, /var/tmp, /dev/shm across a restart: alice's job (uid ${aliceEnd.uid}) left a file in each ` +
      `(${written} written); the server restarted; bob's job got the same uid ${bobEnd.uid} and saw ` +
      (seen.length === 0 ? "nothing of hers" : seen.join(", ")) +
      (ownPath === undefined ? "" : ` (besides ${ownPath}, the way to its own scratch folder)`),
  );

  const overlapping = await servers
    .fresh({ uidRange: second.uidRange })
    .then((third) => third.stop().then(() => "STARTED"))
    .catch((err: unknown) => (err instanceof Error ? err.message : String(err)));
  const words = /the job uid range [^"\n]*?: give each server on a host its own range/.exec(
    overlapping,
  )?.[0];
  checks.report(
    words !== undefined,
    `a second server on the same uid range ${second.uidRange.first}-${second.uidRange.last} while ` +
      `this one runs: ${words === undefined ? overlapping.slice(0, 300) : `refused: "${words}"`}`,
  );
  return second;
}
