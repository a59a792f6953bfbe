/**
 * The job library's public surface. Other layers import from here only.
 */
export {
  Worker,
  ORPHAN_REASON,
  MIN_ID_PREFIX,
  type StopOptions,
  type WatchOptions,
} from "./worker.ts";
export type { WorkerOptions, IsolationOptions } from "./options.ts";
export type { ReadOutputOptions } from "./output-reader.ts";
export type { OutputChunk } from "./output-chunks.ts";
export type { HostLoad, Load, LoadUsage } from "./host-load.ts";
export {
  JobError,
  isJobError,
  JOB_ERROR_CODES,
  type JobErrorCode,
  type StartFailure,
} from "./errors.ts";
export { limitValueProblem, MIN_MEMORY_BYTES, MIN_PIDS } from "./limits.ts";
export { jobChannel, type JobEvent } from "./job.ts";
export { workerChannel, type WorkerEvent } from "./worker-events.ts";
export {
  FINAL_STATES,
  isFinalState,
  LIMIT_NAMES,
  type JobSpec,
  type JobState,
  type JobStatus,
  type LimitName,
  type Limits,
  type ListFilter,
  type StartPolicy,
  type StopOutcome,
  type EndCause,
  type Usage,
} from "./types.ts";
