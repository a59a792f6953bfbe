/** Public value types of the job library. */
import type { EndCause, JobState, StopOutcome } from "../common/job-vocabulary.ts";

/** Resource limits of one job. Every field is optional in a request; the
 * worker fills the gaps from its defaults and checks its ceilings. */
export interface Limits {
  /** CPU in cores, fractional (0.5 = half a core). */
  cpu?: number;
  /** Memory in bytes (RAM; swap is not allowed on top). */
  memoryBytes?: number;
  /** Disk read bandwidth in bytes per second, per whole disk. */
  ioReadBytesPerSecond?: number;
  /** Disk write bandwidth in bytes per second, per whole disk. */
  ioWriteBytesPerSecond?: number;
  /** Maximum number of processes (and threads) in the job. */
  pids?: number;
  /** Proportional CPU share under contention, 1-10000 (100 = normal); never caps an idle host. */
  cpuWeight?: number;
  /** Proportional disk share, 1-10000 (100 = normal); in force only where the
   * disk's scheduler honours it (BFQ), refused elsewhere. */
  ioWeight?: number;
  /** Disk read operations per second, per whole disk. */
  ioReadIopsPerSecond?: number;
  /** Disk write operations per second, per whole disk. */
  ioWriteIopsPerSecond?: number;
  /** Disk space: the output's allocated bytes plus the scratch folder's (each
   * file, folder or link counted as at least 4 KiB); also the largest any
   * one file of the job may grow (RLIMIT_FSIZE). Not a cgroup limit: the
   * worker measures and enforces it. */
  diskBytes?: number;
}

export type LimitName = keyof Limits;

/** The limits a cgroup enforces (all but the disk limit). */
export type CgroupLimitName = Exclude<LimitName, "diskBytes">;

export const LIMIT_NAMES: readonly LimitName[] = [
  "cpu",
  "memoryBytes",
  "ioReadBytesPerSecond",
  "ioWriteBytesPerSecond",
  "pids",
  "cpuWeight",
  "ioWeight",
  "ioReadIopsPerSecond",
  "ioWriteIopsPerSecond",
  "diskBytes",
];

export const CGROUP_LIMIT_NAMES: readonly CgroupLimitName[] = LIMIT_NAMES.filter(
  (name): name is CgroupLimitName => name !== "diskBytes",
);

/** What a caller asks the worker to run. */
export interface JobSpec {
  /** Program to execute: an absolute path or a name looked up on the job's PATH. */
  command: string;
  args?: readonly string[];
  /** The job's whole environment besides a minimal PATH (never the server's). */
  env?: Readonly<Record<string, string>>;
  /** Working directory; default: a fresh scratch folder owned by the job's uid. */
  cwd?: string;
  /** Who the job belongs to (the authenticated user name, supplied by the caller). */
  owner: string;
  limits?: Limits;
  /** Milliseconds after which the job is stopped and ends `failed` ("timed out"). */
  timeoutMs?: number;
}

/** What a caller's policy says about one start: its rules, layered over the server's own. */
export interface StartPolicy {
  /** Limits where the request is silent (before the server's defaults). */
  defaultLimits?: Limits;
  /** The highest limits the caller may ask for (besides the server's ceilings). */
  ceilings?: Limits;
  /**
   * The programs the job may run: absolute paths, or bare names as found on
   * the server's PATH. Compared on real paths with the program the launcher
   * found for the request, after that lookup. Absent: any program.
   */
  allowedPrograms?: readonly string[];
  /** Who asks, as refusals name them ("alice (role user)"). @default "owner" */
  caller?: string;
  /** Run the job without the default system call filter. @default false */
  unconfined?: boolean;
  /** Jobs of this owner starting or running at once; more wait their turn. @default no cap */
  maxRunningJobs?: number;
  /** Jobs of this owner waiting in the queue; more are refused. @default no cap */
  maxQueuedJobs?: number;
}

export const FINAL_STATES: readonly JobState[] = ["succeeded", "failed", "stopped"];

export function isFinalState(state: JobState): boolean {
  return FINAL_STATES.includes(state);
}

/** Resource usage read from the job's cgroup (kept in the record once it ends). */
export interface Usage {
  /** CPU time used, in microseconds (user + system). */
  cpuUsec: number;
  /** Time the job was throttled by its CPU limit, in microseconds. */
  cpuThrottledUsec: number;
  memoryCurrentBytes: number;
  memoryPeakBytes: number;
  ioReadBytes: number;
  ioWriteBytes: number;
  /** Processes (tasks) in the job now. */
  pids: number;
  /** Times the kernel's OOM killer killed a process of this job. */
  oomKills: number;
  /** Disk space counted against the disk limit: the output's allocated
   * bytes plus the scratch folder's, as last measured. */
  diskBytes: number;
}

/** What a cgroup tells of a job's usage (the disk is measured apart). */
export type CgroupUsage = Omit<Usage, "diskBytes">;

export const ZERO_USAGE: Readonly<Usage> = {
  cpuUsec: 0,
  cpuThrottledUsec: 0,
  memoryCurrentBytes: 0,
  memoryPeakBytes: 0,
  ioReadBytes: 0,
  ioWriteBytes: 0,
  pids: 0,
  oomKills: 0,
  diskBytes: 0,
};

/** Everything known about a job. Plain data: safe to serialize. */
export interface JobStatus {
  id: string;
  owner: string;
  command: string;
  args: string[];
  /** Names of the environment variables given (values are not echoed back). */
  envNames: string[];
  cwd: string;
  state: JobState;
  /** 1-based place in the admission queue while `queued`; null otherwise. */
  queuePosition: number | null;
  /** Exit code when the command exited by itself; null otherwise. */
  exitCode: number | null;
  /** Name of the signal that ended the command ("SIGKILL"); null otherwise. */
  signal: string | null;
  oomKilled: boolean;
  /** Why the job is in its state, in words ("exited with code 3"). */
  reason: string;
  /** Host PID of the job's launcher (its supervisor process); null before start. */
  pid: number | null;
  /** The uid (and gid) the command runs as; null when it runs as the server's user. */
  uid: number | null;
  createdAt: string;
  startedAt: string | null;
  endedAt: string | null;
  /** The limits requested after defaults, and which of them the host enforces. */
  limits: Limits;
  /** Limits that are set but not enforced by the host (unless the worker is strict: then refused). */
  limitsNotInForce: LimitName[];
  /** Why, for each of `limitsNotInForce`, in words ("the disk vda of the state
   * directory uses the mq-deadline scheduler, which ignores io weights (BFQ needed)"). */
  limitsNotInForceReasons: Partial<Record<LimitName, string>>;
  timeoutMs: number | null;
  usage: Usage;
  /** Bytes of output written so far. */
  outputBytes: number;
  /** How a stop (by request, timeout, output cap or shutdown) ended the job; null when none did. */
  stopOutcome: StopOutcome | null;
  /** Why the job ended, as data (the reason says it in words); null until it has. */
  endCause: EndCause | null;
  /** The real path of the program that runs (every symlink resolved), as the
   * launcher found it for `command`; null before it runs. */
  program: string | null;
}

export type { EndCause, JobState, StopOutcome } from "../common/job-vocabulary.ts";

/** Filter for `Worker.list`. */
export interface ListFilter {
  owner?: string;
  states?: readonly JobState[];
}
