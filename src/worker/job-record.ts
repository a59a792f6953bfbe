/**
 * Job records: one JSON file per job, replaced atomically (write a
 * temporary file, rename it over the record), so a crash of the server or a
 * full disk leaves either the old record or the new one, never half of one.
 *
 * Only what must survive a power loss is also fsynced (file, then folder):
 * a job's final state and a queued job's request. The records written on
 * the way (starting, running) are not: after a power loss the job is gone
 * with the machine either way, and a restarted worker marks a job it finds
 * unfinished as failed. Two fsyncs cost about 12 ms on these disks, which
 * was half of a job's start latency.
 */
import { readdir, readFile, rm } from "node:fs/promises";
import { removeTemporaryFiles, writeFileAtomically } from "../common/files.ts";
import { fromOsError } from "./os-errors.ts";
import type { StateDir } from "./state-dir.ts";
import { isFinalState, type JobStatus, type Usage } from "./types.ts";

const RECORD_VERSION = 1;

interface StoredRecord {
  version: typeof RECORD_VERSION;
  job: JobStatus;
}

export async function writeRecord(file: string, job: JobStatus): Promise<void> {
  const stored: StoredRecord = { version: RECORD_VERSION, job };
  await writeJsonAtomically(file, stored, {
    doing: `write the record of job ${job.id}`,
    durable: isFinalState(job.state),
  });
}

export interface AtomicWriteOptions {
  /** What is being done, for the error message ("write the record of job X"). */
  doing: string;
  /** Also fsync the file and its folder, so it survives a power loss. */
  durable: boolean;
}

/** Writes `value` as JSON to `file` (mode 0600) so that it is whole or absent. */
export async function writeJsonAtomically(
  file: string,
  value: unknown,
  { doing, durable }: AtomicWriteOptions,
): Promise<void> {
  try {
    await writeFileAtomically(file, JSON.stringify(value), { mode: 0o600, durable });
  } catch (err) {
    throw fromOsError(err, doing);
  }
}

export interface UnreadableRecord {
  id: string;
  reason: string;
}

/** Reads every job record in the state directory, oldest first. */
export async function readAllRecords(
  stateDir: StateDir,
): Promise<{ jobs: JobStatus[]; unreadable: UnreadableRecord[] }> {
  const jobs: JobStatus[] = [];
  const unreadable: UnreadableRecord[] = [];
  let ids: string[];
  try {
    ids = await readdir(stateDir.jobsDir);
  } catch (err) {
    throw fromOsError(err, `list the jobs in ${stateDir.jobsDir}`);
  }
  for (const id of ids) {
    const file = stateDir.recordFile(id);
    // A leftover temporary file is an interrupted write: the record beside
    // it is intact. ("record.json.tmp" is what servers before 2026-12 left.)
    await removeTemporaryFiles(stateDir.jobDir(id)).catch(() => undefined);
    await rm(`${file}.tmp`, { force: true });
    try {
      jobs.push(parseRecord(await readFile(file, "utf8"), id));
    } catch (err) {
      unreadable.push({ id, reason: err instanceof Error ? err.message : String(err) });
    }
  }
  jobs.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  return { jobs, unreadable };
}

function parseRecord(text: string, id: string): JobStatus {
  const parsed = JSON.parse(text) as Partial<StoredRecord>;
  const job = parsed.job;
  if (parsed.version !== RECORD_VERSION || job?.id !== id) {
    throw new Error(`record of job ${id} has an unknown format`);
  }
  return upgrade(job);
}

/** Names older servers wrote, as they read now (a record is never rewritten for it). */
const OLD_STOP_OUTCOMES: Readonly<Record<string, JobStatus["stopOutcome"]>> = {
  "before-signal": "already-ended",
  killed: "force-ended",
};

/** A record of an earlier version of this format: fields added since filled in. */
function upgrade(job: JobStatus): JobStatus {
  const outcome = OLD_STOP_OUTCOMES[job.stopOutcome ?? ""] ?? job.stopOutcome;
  // Before end causes were recorded: unknown (the reason still says it).
  const endCause = (job as Partial<JobStatus>).endCause ?? null;
  const program = (job as Partial<JobStatus>).program ?? null;
  const usage = { ...job.usage, diskBytes: (job.usage as Partial<Usage>).diskBytes ?? 0 };
  // Before the reasons were recorded: none known (the names still are).
  const limitsNotInForceReasons = (job as Partial<JobStatus>).limitsNotInForceReasons ?? {};
  return { ...job, stopOutcome: outcome, endCause, program, usage, limitsNotInForceReasons };
}
