/**
 * One interface over cgroup v1 and v2 (as containerd's cgroups library does):
 * the worker asks for a cgroup with typed limits and gets back the files the
 * launcher must join, usage, and a kill that reaches every process.
 */
import type { CgroupView } from "../launcher.ts";
import type { CgroupUsage, LimitName, Limits } from "../types.ts";

type CgroupMode = "v1" | "v2";

/** Which of our limits this host can enforce, and why not where it cannot. */
export interface CgroupCapabilities {
  mode: CgroupMode;
  /** For each limit the host cannot enforce: the reason, in words. */
  unenforceable: Partial<Record<LimitName, string>>;
}

export interface CgroupDriver {
  readonly mode: CgroupMode;
  /** What this host can enforce (detected once, at open). */
  capabilities(): CgroupCapabilities;
  /** What a job mounts at /sys/fs/cgroup inside its cgroup namespace to see
   * its own cgroup (and nothing else). */
  readonly view: CgroupView;
  /**
   * Creates the job's cgroup(s) under the jobworker parent and writes the
   * limits. Limits named in `skip` are not written (they are known not to be
   * in force and the worker allowed that). Fails with a JobError when a limit
   * cannot be written.
   */
  create(jobId: string, limits: Limits, skip: readonly LimitName[]): Promise<JobCgroup>;
  /** Opens the cgroup of a job created by an earlier process, if it still exists. */
  open(jobId: string): Promise<JobCgroup | undefined>;
  /**
   * Writes totals for all jobs together on the jobworker parent cgroup, so
   * the kernel enforces the sum as well. A limit left out is lifted (no
   * total). On v1 the kernel refuses (invalid_argument) a CPU total below the
   * CPU limit of a job in it, and a job whose CPU limit exceeds the total; a
   * memory total below what the jobs use now makes the kernel reclaim, and on
   * v2 OOM-kill, inside them.
   */
  setParentLimits(limits: ParentLimits): Promise<void>;
}

/** The limits the parent cgroup can hold as totals for all jobs together. */
export type ParentLimits = Pick<Limits, "cpu" | "memoryBytes" | "pids">;

export interface JobCgroup {
  readonly jobId: string;
  /** The `cgroup.procs` files the launcher writes its PID to (one per v1 hierarchy). */
  readonly procsFiles: readonly string[];
  usage(): Promise<CgroupUsage>;
  /** PIDs of every process in the cgroup. */
  pids(): Promise<number[]>;
  /** SIGKILLs every process atomically (v2 cgroup.kill, v1 freeze-kill-thaw)
   * and resolves once the cgroup is empty. */
  killAll(): Promise<void>;
  /** Removes the cgroup(s); kills what is left first. Idempotent. */
  remove(): Promise<void>;
}
