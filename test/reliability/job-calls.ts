/**
 * Job calls the reliability sections share: start with limits, wait for the
 * final state, read the whole output, find a uid's processes, and the
 * deterministic line producer whose output can be checked byte for byte.
 */
import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { JobState, type Job } from "../../src/gen/jobworker/v1/jobworker_pb.js";
import type { JobClient } from "../../src/client/index.ts";

export const FINAL = new Set<JobState>([JobState.SUCCEEDED, JobState.FAILED, JobState.STOPPED]);

export function stateName(state: JobState | undefined): string {
  return JobState[state ?? JobState.UNSPECIFIED];
}

export function describe(job: Job): string {
  return `${stateName(job.state)} "${job.reason}"`;
}

export interface StartExtras {
  pids?: number;
  memoryBytes?: bigint;
  timeoutMs?: number;
}

export async function start(
  c: JobClient,
  command: string,
  args: string[],
  extra: StartExtras = {},
): Promise<Job> {
  const { job } = await c.startJob({
    command,
    args,
    limits: {
      ...(extra.pids === undefined ? {} : { pids: extra.pids }),
      ...(extra.memoryBytes === undefined ? {} : { memoryBytes: extra.memoryBytes }),
    },
    timeoutMs: BigInt(extra.timeoutMs ?? 30_000),
  });
  if (job === undefined) throw new Error(`starting ${command} returned no job`);
  return job;
}

/** The job once it has ended, or as it is after `ms`. */
export async function finalJob(c: JobClient, id: string, ms: number): Promise<Job> {
  const deadline = Date.now() + ms;
  for (;;) {
    const { job } = await c.getJob({ id });
    if (job === undefined) throw new Error(`job ${id} has no status`);
    if (FINAL.has(job.state) || Date.now() > deadline) return job;
    await sleep(50);
  }
}

/** Everything the job has written so far. */
export async function outputOf(c: JobClient, id: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const piece of c.streamOutput({ id, offset: 0n, follow: false })) {
    chunks.push(Buffer.from(piece.data));
  }
  return Buffer.concat(chunks);
}

export async function outputText(c: JobClient, id: string): Promise<string> {
  return (await outputOf(c, id)).toString("utf8");
}

export function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Processes on the host running as `uid`, as "pid name" strings. */
export async function processesOfUid(uid: number): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = await readFile(`/proc/${entry}/status`, "utf8");
      if (Number(/Uid:\s+(\d+)/.exec(status)?.[1] ?? "-1") === uid) {
        found.push(`${entry} ${/Name:\s+(.*)/.exec(status)?.[1] ?? "?"}`);
      }
    } catch {
      // exited while we looked
    }
  }
  return found;
}

/**
 * A job printing "LABEL N PADDING\n" for N = 1..count, one write per line,
 * pausing `pauseMs` after each (perl: small, starts in milliseconds, and
 * Debian always has it). Its output, or any prefix of it cut at a line end,
 * is checked by `checkLines`.
 */
export function lineProducer(
  label: string,
  count: number,
  pauseMs: number,
  padding = 0,
): { command: string; args: string[] } {
  const script =
    '$| = 1; my ($label, $count, $pause, $pad) = @ARGV; my $tail = "x" x $pad; ' +
    'for my $i (1 .. $count) { print "$label $i $tail\\n"; ' +
    "select(undef, undef, undef, $pause / 1000) if $pause > 0 }";
  return {
    command: "/usr/bin/perl",
    args: ["-e", script, label, String(count), String(pauseMs), String(padding)],
  };
}

/** The first `lines` lines `lineProducer(label, _, _, padding)` prints. */
export function expectedLines(label: string, lines: number, padding = 0): Buffer {
  const tail = "x".repeat(padding);
  const parts: string[] = [];
  for (let i = 1; i <= lines; i++) parts.push(`${label} ${i} ${tail}\n`);
  return Buffer.from(parts.join(""));
}

/** How many whole lines of `lineProducer(label, …)` output `data` is, or an
 * error saying where it stops matching (a lost, repeated or torn byte). */
export function checkLines(label: string, data: Buffer, padding = 0): number | Error {
  const text = data.toString("utf8");
  const lines = text.split("\n");
  if (lines.pop() !== "") return new Error(`ends mid-line after ${data.length} bytes`);
  const tail = "x".repeat(padding);
  for (const [i, line] of lines.entries()) {
    if (line !== `${label} ${i + 1} ${tail}`) {
      return new Error(`line ${i + 1} is ${JSON.stringify(line.slice(0, 60))}`);
    }
  }
  return lines.length;
}
