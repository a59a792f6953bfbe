/**
 * How a job ended, decided once from what is known when its launcher exits:
 * the first reason anyone asked it to stop (never overwritten), the exit
 * status, and the kernel's OOM-kill counter (not guessed from SIGKILL).
 */
import { formatBytes, formatDuration } from "../common/format.ts";
import type { EndCause, JobState, StopOutcome } from "./types.ts";

export type StopCause = "request" | "timeout" | "output-cap" | "disk-limit" | "shutdown";

/** The first stop asked for, and how far the escalation went. */
export interface StopRecord {
  cause: StopCause;
  /** What the stop's cause was about, in words ("exceeded its disk limit of 1 GiB (...)"). */
  detail?: string;
  graceMs: number;
  /** "term": SIGTERM sent; "kill": the grace ran out and SIGKILL was sent. */
  stage: "pending" | "term" | "kill";
}

export interface EndFacts {
  exitCode: number | null;
  signal: string | null;
  oomKills: number;
  stop: StopRecord | undefined;
  timeoutMs: number | null;
  outputCapBytes: number;
  memoryLimitBytes: number | undefined;
  diskLimitBytes: number | undefined;
  /** The file system of the state directory had no space left when the job
   * ended: its writes to the output file may have failed. */
  outputDiskFull: boolean;
}

export interface EndVerdict {
  state: Extract<JobState, "succeeded" | "failed" | "stopped">;
  cause: EndCause;
  reason: string;
  oomKilled: boolean;
}

const OUTCOME_OF_STAGE: Readonly<Record<StopRecord["stage"], StopOutcome>> = {
  pending: "already-ended",
  term: "terminated",
  kill: "force-ended",
};

const CAUSE_OF_STOP: Readonly<Record<StopCause, EndCause>> = {
  request: "stopped",
  shutdown: "stopped",
  timeout: "timeout",
  "output-cap": "output-cap",
  "disk-limit": "disk-limit",
};

export function stopOutcomeOf(stop: StopRecord | undefined): StopOutcome | null {
  return stop === undefined ? null : OUTCOME_OF_STAGE[stop.stage];
}

function describeExit(exitCode: number | null, signal: string | null): string {
  if (signal !== null) return `killed by ${signal}`;
  return `exited with code ${exitCode ?? "unknown"}`;
}

/** Space for the output ran out: said after the reason, whatever the state. */
export const OUTPUT_DISK_FULL_NOTE =
  "the state directory's file system is full, so output may be missing";

export function decideEnd(facts: EndFacts): EndVerdict {
  const verdict = verdictOf(facts);
  const { state, reason, oomKilled } = verdict;
  const cause = verdict.cause ?? (facts.signal !== null ? "signaled" : "exited");
  // A full state disk outweighs how the job ended by itself: its output may be missing.
  if (facts.outputDiskFull) {
    const fullCause = facts.stop === undefined ? "disk-full" : cause;
    return { state, cause: fullCause, reason: `${reason} (${OUTPUT_DISK_FULL_NOTE})`, oomKilled };
  }
  return { state, cause, reason, oomKilled };
}

/** The verdict; `cause` left out where the exit status alone decides it. */
function verdictOf(facts: EndFacts): Omit<EndVerdict, "cause"> & { cause?: EndCause } {
  const oomKilled = facts.oomKills > 0;
  const exit = describeExit(facts.exitCode, facts.signal);
  const { stop } = facts;
  if (stop !== undefined) {
    const how = howStopped(stop, exit);
    const cause = CAUSE_OF_STOP[stop.cause];
    switch (stop.cause) {
      case "request":
        return { state: "stopped", cause, reason: `stopped by request: ${how}`, oomKilled };
      case "shutdown":
        return {
          state: "stopped",
          cause,
          reason: `stopped because the server shut down: ${how}`,
          oomKilled,
        };
      case "timeout":
        return {
          state: "failed",
          cause,
          reason: `timed out after ${formatDuration(facts.timeoutMs ?? 0)}: ${how}`,
          oomKilled,
        };
      case "output-cap":
        return {
          state: "failed",
          cause,
          reason: `output exceeded the cap of ${formatBytes(facts.outputCapBytes)}: ${how}`,
          oomKilled,
        };
      case "disk-limit":
        return {
          state: "failed",
          cause,
          reason: `${stop.detail ?? "exceeded its disk limit"}: ${how}`,
          oomKilled,
        };
    }
  }
  if (facts.signal === "SIGXFSZ" && facts.diskLimitBytes !== undefined) {
    // RLIMIT_FSIZE: a file (or a sparse output) grew to the disk limit.
    return {
      state: "failed",
      cause: "disk-limit",
      reason: `a file grew to its disk limit of ${formatBytes(facts.diskLimitBytes)}: ${exit}`,
      oomKilled,
    };
  }
  if (facts.exitCode === 0) {
    const note = oomKilled ? ` (the OOM killer killed ${facts.oomKills} of its processes)` : "";
    return { state: "succeeded", reason: `${exit}${note}`, oomKilled };
  }
  if (oomKilled) {
    const limit =
      facts.memoryLimitBytes === undefined ? "" : ` (limit ${formatBytes(facts.memoryLimitBytes)})`;
    return { state: "failed", cause: "oom", reason: `out of memory${limit}: ${exit}`, oomKilled };
  }
  return { state: "failed", reason: exit, oomKilled };
}

function howStopped(stop: StopRecord, exit: string): string {
  switch (stop.stage) {
    case "pending":
      return `ended before it was signalled (${exit})`;
    case "term":
      return `ended after SIGTERM (${exit})`;
    case "kill":
      return stop.graceMs === 0
        ? "killed with SIGKILL (no grace period)"
        : `killed with SIGKILL after the ${formatDuration(stop.graceMs)} grace period`;
  }
}
