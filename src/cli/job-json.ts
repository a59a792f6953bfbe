/**
 * The job object the CLI prints with --json (status, ps, start, stop,
 * watch): the API's Job with camelCase keys, lowercase states, plain numbers
 * instead of 64-bit integers, ISO 8601 times, and null wherever a value is
 * not set. Scripts rely on this shape; add keys, never rename them.
 */
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import type {
  EndCause,
  JobState as JobStateWord,
  StopOutcome as StopOutcomeWord,
} from "../common/job-vocabulary.ts";
import {
  EndCause as ProtoEndCause,
  JobState,
  StopOutcome,
  type Job,
  type Limits,
  type Usage,
} from "../gen/jobworker/v1/jobworker_pb.js";

/** A job's state: the library's and the API's vocabulary. */
export type JobStateName = JobStateWord;

export interface LimitsJson {
  cpu: number | null;
  memoryBytes: number | null;
  ioReadBytesPerSecond: number | null;
  ioWriteBytesPerSecond: number | null;
  pids: number | null;
  cpuWeight: number | null;
  ioWeight: number | null;
  ioReadIopsPerSecond: number | null;
  ioWriteIopsPerSecond: number | null;
  diskBytes: number | null;
}

export interface UsageJson {
  cpuUsec: number;
  cpuThrottledUsec: number;
  memoryCurrentBytes: number;
  memoryPeakBytes: number;
  ioReadBytes: number;
  ioWriteBytes: number;
  pids: number;
  oomKills: number;
  diskBytes: number;
}

export interface JobJson {
  id: string;
  owner: string;
  command: string;
  args: string[];
  state: JobStateName;
  /** 1-based place in the admission queue while queued; null otherwise. */
  queuePosition: number | null;
  exitCode: number | null;
  signal: string | null;
  oomKilled: boolean;
  reason: string;
  pid: number | null;
  /** The uid (and gid) the command runs as; null when it runs as the server's user. */
  uid: number | null;
  createdAt: string | null;
  startedAt: string | null;
  endedAt: string | null;
  limits: LimitsJson;
  limitsNotInForce: string[];
  /** Why each of limitsNotInForce is not in force, in words, by its name. */
  limitsNotInForceReasons: Record<string, string>;
  timeoutMs: number | null;
  usage: UsageJson;
  outputBytes: number;
  envNames: string[];
  cwd: string | null;
  /** How a stop (by request, timeout, output cap, shutdown) ended the job; null when none did. */
  stopOutcome: StopOutcomeName | null;
  /** Why the job ended; null until it has (or when the server did not say). */
  endCause: EndCauseName | null;
  /** The real path of the program that runs; null before it runs. */
  program: string | null;
}

/** Why a job ended: the library's and the API's vocabulary. */
export type EndCauseName = EndCause;

/** How a stop ended the job: the library's and the API's vocabulary. */
export type StopOutcomeName = StopOutcomeWord;

const END_CAUSE_NAMES: ReadonlyMap<ProtoEndCause, EndCauseName> = new Map([
  [ProtoEndCause.START_FAILED, "start-failed"],
  [ProtoEndCause.EXITED, "exited"],
  [ProtoEndCause.SIGNALED, "signaled"],
  [ProtoEndCause.OOM, "oom"],
  [ProtoEndCause.TIMEOUT, "timeout"],
  [ProtoEndCause.OUTPUT_CAP, "output-cap"],
  [ProtoEndCause.DISK_LIMIT, "disk-limit"],
  [ProtoEndCause.DISK_FULL, "disk-full"],
  [ProtoEndCause.STOPPED, "stopped"],
  [ProtoEndCause.SERVER_RESTART, "server-restart"],
]);

const STATE_NAMES: ReadonlyMap<JobState, JobStateName> = new Map([
  [JobState.QUEUED, "queued"],
  [JobState.STARTING, "starting"],
  [JobState.RUNNING, "running"],
  [JobState.SUCCEEDED, "succeeded"],
  [JobState.FAILED, "failed"],
  [JobState.STOPPED, "stopped"],
]);

const STOP_OUTCOME_NAMES: ReadonlyMap<StopOutcome, StopOutcomeName> = new Map([
  [StopOutcome.ALREADY_ENDED, "already-ended"],
  [StopOutcome.NEVER_STARTED, "never-started"],
  [StopOutcome.TERMINATED, "terminated"],
  [StopOutcome.FORCE_ENDED, "force-ended"],
]);

/** The JSON name of a stop outcome; null for UNSPECIFIED (or one this CLI does not know). */
export function stopOutcomeName(outcome: StopOutcome): StopOutcomeName | null {
  return STOP_OUTCOME_NAMES.get(outcome) ?? null;
}

const FINAL_STATE_NAMES: readonly JobStateName[] = ["succeeded", "failed", "stopped"];

export function isFinal(state: JobStateName): boolean {
  return FINAL_STATE_NAMES.includes(state);
}

function iso(timestamp: Timestamp | undefined): string | null {
  return timestamp === undefined ? null : timestampDate(timestamp).toISOString();
}

function optionalNumber(value: bigint | number | undefined): number | null {
  return value === undefined ? null : Number(value);
}

function limitsJson(limits: Limits | undefined): LimitsJson {
  return {
    cpu: limits?.cpu ?? null,
    memoryBytes: optionalNumber(limits?.memoryBytes),
    ioReadBytesPerSecond: optionalNumber(limits?.ioReadBytesPerSecond),
    ioWriteBytesPerSecond: optionalNumber(limits?.ioWriteBytesPerSecond),
    pids: limits?.pids ?? null,
    cpuWeight: limits?.cpuWeight ?? null,
    ioWeight: limits?.ioWeight ?? null,
    ioReadIopsPerSecond: optionalNumber(limits?.ioReadIopsPerSecond),
    ioWriteIopsPerSecond: optionalNumber(limits?.ioWriteIopsPerSecond),
    diskBytes: optionalNumber(limits?.diskBytes),
  };
}

function usageJson(usage: Usage | undefined): UsageJson {
  return {
    cpuUsec: Number(usage?.cpuUsec ?? 0n),
    cpuThrottledUsec: Number(usage?.cpuThrottledUsec ?? 0n),
    memoryCurrentBytes: Number(usage?.memoryCurrentBytes ?? 0n),
    memoryPeakBytes: Number(usage?.memoryPeakBytes ?? 0n),
    ioReadBytes: Number(usage?.ioReadBytes ?? 0n),
    ioWriteBytes: Number(usage?.ioWriteBytes ?? 0n),
    pids: usage?.pids ?? 0,
    oomKills: usage?.oomKills ?? 0,
    diskBytes: Number(usage?.diskBytes ?? 0n),
  };
}

export function jobToJson(job: Job): JobJson {
  return {
    id: job.id,
    owner: job.owner,
    command: job.command,
    args: [...job.args],
    // An unknown state (a newer server) reads as "starting": not final, so
    // nothing treats the job as ended.
    state: STATE_NAMES.get(job.state) ?? "starting",
    queuePosition: job.queuePosition ?? null,
    exitCode: job.exitCode ?? null,
    signal: job.signal ?? null,
    oomKilled: job.oomKilled,
    reason: job.reason,
    pid: job.pid === 0 ? null : job.pid,
    uid: job.uid ?? null,
    createdAt: iso(job.createdAt),
    startedAt: iso(job.startedAt),
    endedAt: iso(job.endedAt),
    limits: limitsJson(job.limits),
    limitsNotInForce: [...job.limitsNotInForce],
    limitsNotInForceReasons: { ...job.limitsNotInForceReasons },
    timeoutMs: job.timeoutMs === 0n ? null : Number(job.timeoutMs),
    usage: usageJson(job.usage),
    outputBytes: Number(job.outputBytes),
    envNames: [...job.envNames],
    cwd: job.cwd === "" ? null : job.cwd,
    stopOutcome: stopOutcomeName(job.stopOutcome),
    endCause: END_CAUSE_NAMES.get(job.endCause) ?? null,
    program: job.program === "" ? null : job.program,
  };
}

/** Pretty JSON, one object or array, with a final newline. */
export function toJsonText(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
