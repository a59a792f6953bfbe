/**
 * Worker options, documented once with their defaults, validated eagerly
 * and compiled into a fully resolved form at open.
 */
import { readFileSync } from "node:fs";
import { availableParallelism, totalmem } from "node:os";
import { resolve } from "node:path";
import type { Capacity } from "./admission.ts";
import { JobError } from "./errors.ts";
import { execBudgetBytes } from "./exec-limits.ts";
import { checkLimitValues } from "./limits.ts";
import type { Limits } from "./types.ts";
import { DEFAULT_UID_RANGE, type UidRange } from "./uid-pool.ts";
import { DEFAULT_UID_REGISTRY } from "./uid-range-registry.ts";

export interface IsolationOptions {
  /** New pid namespace with its own /proc. @default true */
  pid?: boolean;
  /** New mount namespace (private mounts). @default true */
  mount?: boolean;
  /** New uts namespace (the job's own hostname). @default true */
  uts?: boolean;
  /** New ipc namespace. @default true */
  ipc?: boolean;
  /** New network namespace with loopback only. @default true */
  net?: boolean;
  /** New cgroup namespace, with /sys/fs/cgroup showing only the job's own
   * cgroup (needs the mount namespace too). @default true */
  cgroup?: boolean;
  /** Run each job as an unprivileged uid/gid of its own from `uidRange`. @default true */
  user?: boolean;
}

export interface WorkerOptions {
  /** Folder holding job records, output and scratch folders (created if missing). */
  stateDir: string;
  /** Name of the parent cgroup all job cgroups live under. @default "jobworker" */
  cgroupParent?: string;
  /** Limits applied where a job's spec is silent, each key over the built-in
   * default. @default { cpu: 1, memoryBytes: 1 GiB, pids: 1024, diskBytes: 1 GiB } (io unlimited) */
  defaultLimits?: Limits;
  /** Limits no job may exceed (a request above one is refused).
   * @default { cpu: the host's cores } */
  ceilings?: Limits;
  /** Refuse a job whose limits the host cannot all enforce. Otherwise (as
   * docker does) it runs, and its status lists those limits as not in
   * force, each with the reason. @default false */
  strictLimits?: boolean;
  /** Output a job may write before it is stopped. @default 1 GiB */
  outputCapBytes?: number;
  /** Time between SIGTERM and SIGKILL when stopping. @default 10 s */
  defaultGraceMs?: number;
  isolation?: IsolationOptions;
  /** Ids handed to jobs as uid and gid; no other server on the host may
   * use an overlapping range. @default 600000-665535 */
  uidRange?: UidRange;
  /** Where the servers on this host record their uid ranges
   * (uid-range-registry.ts). @default "/var/lib/jobworker-uid-ranges" */
  uidRegistry?: string;
  /** What all running jobs together may reserve; jobs beyond wait in the
   * queue. @default 90% of memory, every core, 90% of pid_max, 1024 jobs */
  capacity?: Partial<Capacity>;
}

export interface ResolvedWorkerOptions {
  stateDir: string;
  cgroupParent: string;
  defaultLimits: Limits;
  ceilings: Limits;
  strictLimits: boolean;
  outputCapBytes: number;
  defaultGraceMs: number;
  isolation: Required<IsolationOptions>;
  uidRange: UidRange;
  uidRegistry: string;
  capacity: Capacity;
  hostCores: number;
  /** Bytes of arguments and environment one exec may carry (exec-limits.ts). */
  execBudgetBytes: number;
}

const GiB = 1024 ** 3;

const BUILT_IN_DEFAULT_LIMITS: Readonly<Limits> = {
  cpu: 1,
  memoryBytes: GiB,
  pids: 1024,
  diskBytes: GiB,
};

export function resolveWorkerOptions(options: WorkerOptions): ResolvedWorkerOptions {
  const hostCores = availableParallelism();
  if (options.stateDir === "") {
    throw new JobError("invalid_argument", "the worker needs a state directory");
  }
  const cgroupParent = options.cgroupParent ?? "jobworker";
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)*$/.test(cgroupParent)) {
    throw new JobError("invalid_argument", `cgroup parent "${cgroupParent}" is not a valid path`);
  }
  // Key by key: a default not given keeps the built-in one.
  const defaultLimits = { ...BUILT_IN_DEFAULT_LIMITS, ...options.defaultLimits };
  const ceilings = { cpu: hostCores, ...options.ceilings };
  checkLimitValues(defaultLimits, hostCores, "default limit");
  checkLimitValues(ceilings, hostCores, "limit ceiling");
  const outputCapBytes = options.outputCapBytes ?? GiB;
  const defaultGraceMs = options.defaultGraceMs ?? 10_000;
  if (!Number.isSafeInteger(outputCapBytes) || outputCapBytes <= 0) {
    throw new JobError("invalid_argument", `output cap must be a positive number of bytes`);
  }
  if (!Number.isSafeInteger(defaultGraceMs) || defaultGraceMs < 0) {
    throw new JobError("invalid_argument", `grace period must be a whole number of ms >= 0`);
  }
  return {
    stateDir: resolve(options.stateDir),
    cgroupParent,
    defaultLimits,
    ceilings,
    strictLimits: options.strictLimits ?? false,
    outputCapBytes,
    defaultGraceMs,
    isolation: {
      pid: true,
      mount: true,
      uts: true,
      ipc: true,
      net: true,
      cgroup: true,
      user: true,
      ...options.isolation,
    },
    uidRange: options.uidRange ?? DEFAULT_UID_RANGE,
    uidRegistry: options.uidRegistry ?? DEFAULT_UID_REGISTRY,
    capacity: resolveCapacity(options.capacity ?? {}, hostCores),
    hostCores,
    execBudgetBytes: execBudgetBytes(),
  };
}

function resolveCapacity(given: Partial<Capacity>, hostCores: number): Capacity {
  const MiB = 1024 * 1024;
  const capacity: Capacity = {
    memoryBytes: given.memoryBytes ?? Math.floor((totalmem() * 0.9) / MiB) * MiB,
    cpu: given.cpu ?? hostCores,
    pids: given.pids ?? Math.floor(hostPidMax() * 0.9),
    maxRunning: given.maxRunning ?? 1024,
  };
  for (const [name, value] of Object.entries(capacity)) {
    if (!Number.isFinite(value) || value <= 0 || (name !== "cpu" && !Number.isSafeInteger(value))) {
      throw new JobError(
        "invalid_argument",
        `capacity ${name} must be a positive number, not ${value}`,
      );
    }
  }
  return capacity;
}

/** The kernel's highest pid + 1: the most processes the host can have. */
function hostPidMax(): number {
  try {
    return Number(readFileSync("/proc/sys/kernel/pid_max", "utf8").trim());
  } catch {
    return 32768; // the kernel's default
  }
}
