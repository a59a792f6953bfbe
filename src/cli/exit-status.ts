/**
 * The exit status `run` and `wait` end with, the shell's convention: the
 * job's own exit code, 128 + N when signal N ended it (137 for SIGKILL), and
 * 127 when the command could not be started at all (as a shell says for a
 * command it cannot find). A job that failed with neither (the launcher
 * broke) ends with 1.
 */
import { constants } from "node:os";
import type { JobJson } from "./job-json.ts";

const SIGNAL_NUMBERS: Readonly<Record<string, number>> = constants.signals;

export function jobExitStatus(job: Pick<JobJson, "exitCode" | "signal" | "endCause">): number {
  if (job.exitCode !== null) return job.exitCode;
  if (job.signal !== null) {
    const number = SIGNAL_NUMBERS[job.signal];
    return number === undefined ? 1 : 128 + number;
  }
  if (job.endCause === "start-failed") return 127;
  return 1;
}

/**
 * Whether a finished job's end deserves a line on stderr after its output:
 * anything but "it exited by itself" (which its output and the exit status
 * already tell).
 */
export function endNeedsExplaining(job: Pick<JobJson, "state" | "endCause">): boolean {
  return !(job.state === "succeeded" || job.endCause === "exited");
}
