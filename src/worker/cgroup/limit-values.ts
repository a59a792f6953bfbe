/**
 * The numbers both drivers write for a `Limits` value, and the checks on the
 * names that become cgroup folder names.
 */
import { JobError } from "../errors.ts";
import { CGROUP_LIMIT_NAMES, type LimitName, type Limits } from "../types.ts";
import type { CgroupCapabilities } from "./driver.ts";

/** CFS period: 100 ms, the kernel's default, used for v1 and v2 alike. */
export const CPU_PERIOD_USEC = 100_000;

/** The kernel refuses CFS quotas under 1 ms. */
const CPU_MIN_QUOTA_USEC = 1_000;

/** CPU quota per period for `cores` (fractional) cores. */
export function cpuQuotaUsec(cores: number): number {
  return Math.max(CPU_MIN_QUOTA_USEC, Math.round(cores * CPU_PERIOD_USEC));
}

/** Weights are on cgroup v2's scale: 1-10000, 100 the default. */
const WEIGHT_DEFAULT = 100;
const WEIGHT_MAX = 10_000;
/** The range of v1 cpu.shares (the kernel's MIN_SHARES and MAX_SHARES, 2^1..2^18). */
const CPU_SHARES_MIN = 2;
const CPU_SHARES_MAX = 262_144;
const CPU_SHARES_DEFAULT = 1_024;

/**
 * v1 cpu.shares for a CPU weight: shares = round(weight × 1024 / 100).
 * This is the kernel's own mapping: writing cpu.weight on v2 gives the task
 * group exactly these shares (cpu_weight_write_u64() in kernel/sched/core.c:
 * DIV_ROUND_CLOSEST_ULL(weight * 1024, CGROUP_WEIGHT_DFL), in newer kernels
 * through sched_weight_from_cgroup()), and systemd's for CPUWeight= on v1
 * (cgroup_cpu_weight_to_shares() in src/core/cgroup.c, which truncates where
 * we round: one share apart at most). So a weight buys the same share of the
 * CPU on v1 as on v2, and ratios are kept (100:300 is 1024:3072). Not the
 * inverse of runc's old ConvertCPUSharesToCgroupV2Value (weight = 1 +
 * (shares - 2) × 9999 / 262142): it maps the default 100 to 2597 shares and
 * distorts ratios of small weights (1:2 would become 2:28), which is why runc
 * replaced it in 1.3.2 (opencontainers/cgroups#20).
 */
export function cpuWeightToShares(weight: number): number {
  const shares = Math.round((weight * CPU_SHARES_DEFAULT) / WEIGHT_DEFAULT);
  return Math.min(CPU_SHARES_MAX, Math.max(CPU_SHARES_MIN, shares));
}

/** BFQ's weight range (BFQ_MIN_WEIGHT..BFQ_MAX_WEIGHT; the kernel refuses more with ERANGE). */
const BFQ_WEIGHT_MAX = 1_000;

/**
 * BFQ weight (1-1000, default 100) for an io weight (1-10000, default 100),
 * as systemd converts IOWeight= for io.bfq.weight (BFQ_WEIGHT() in
 * src/basic/cgroup-util.h): piecewise linear, 1-100 unchanged and 100-10000
 * onto 100-1000, so the defaults meet and both ends of the range are reachable.
 */
export function ioWeightToBfq(weight: number): number {
  if (weight <= WEIGHT_DEFAULT) return weight;
  const above = Math.min(weight, WEIGHT_MAX) - WEIGHT_DEFAULT;
  return (
    WEIGHT_DEFAULT +
    Math.floor((above * (BFQ_WEIGHT_MAX - WEIGHT_DEFAULT)) / (WEIGHT_MAX - WEIGHT_DEFAULT))
  );
}

/**
 * The per-disk throttle limits: the v1 blkio.throttle file and the v2 io.max
 * key of each. Both versions take them the same way ("MAJ:MIN value", whole
 * disks only), so one table drives both drivers.
 */
export const IO_THROTTLES = [
  { name: "ioReadBytesPerSecond", v1File: "blkio.throttle.read_bps_device", v2Key: "rbps" },
  { name: "ioWriteBytesPerSecond", v1File: "blkio.throttle.write_bps_device", v2Key: "wbps" },
  { name: "ioReadIopsPerSecond", v1File: "blkio.throttle.read_iops_device", v2Key: "riops" },
  { name: "ioWriteIopsPerSecond", v1File: "blkio.throttle.write_iops_device", v2Key: "wiops" },
] as const satisfies readonly { name: LimitName; v1File: string; v2Key: string }[];

/** The cgroup limits of `limits` that are set and not skipped. */
export function cgroupLimits(limits: Limits, skip: readonly LimitName[]): Limits {
  const out: Limits = {};
  for (const name of CGROUP_LIMIT_NAMES) {
    const value = limits[name];
    if (value !== undefined && !skip.includes(name)) out[name] = value;
  }
  return out;
}

/**
 * What a driver's create() writes for a job, the same way for v1 and v2:
 * the job id checked (it names the job's folder), the cgroup's own limits
 * (already checked: limit-layers.ts), and any weight that would not be in
 * force refused.
 */
export function jobLimitsToWrite(
  jobId: string,
  limits: Limits,
  skip: readonly LimitName[],
  capabilities: CgroupCapabilities,
): Limits {
  checkJobId(jobId);
  const toWrite = cgroupLimits(limits, skip);
  refuseIgnoredWeights(toWrite, capabilities, jobId);
  return toWrite;
}

/**
 * Weight files take any value whether or not anything honours it, so a
 * weight known not to be in force is refused here with the reason unless the
 * caller skipped it (the throttles fail the same way in limitEveryDisk).
 */
function refuseIgnoredWeights(
  limits: Limits,
  capabilities: CgroupCapabilities,
  jobId: string,
): void {
  const words = { cpuWeight: "cpu weight", ioWeight: "io weight" } as const;
  for (const name of ["cpuWeight", "ioWeight"] as const) {
    const reason = capabilities.unenforceable[name];
    if (limits[name] !== undefined && reason !== undefined) {
      throw new JobError(
        "failed_precondition",
        `could not set the ${words[name]} of job ${jobId}: ${reason}`,
      );
    }
  }
}

/** A cgroup folder name: one path component, never "." or ".." or a probe's dot name. */
function checkCgroupName(name: string, what: string): void {
  if (!/^[A-Za-z0-9_-][A-Za-z0-9._-]*$/.test(name) || name.length > 200) {
    throw new JobError("invalid_argument", `${what} "${name}" is not a valid cgroup name`);
  }
}

/** A job id, which becomes the name of the job's cgroup folder. */
export function checkJobId(jobId: string): void {
  checkCgroupName(jobId, "the job id");
}

/** The parent may be nested ("system.slice/jobworker"); each component is checked. */
export function checkCgroupPath(path: string): void {
  for (const part of path.split("/")) checkCgroupName(part, "the cgroup parent");
}

let probeCount = 0;

/**
 * Name of a throwaway cgroup for probing what the kernel accepts. The leading
 * dot keeps it apart from job ids (checkCgroupName refuses those); pid and
 * counter keep concurrent probes apart.
 */
export function probeCgroupName(): string {
  return `.probe-${process.pid}-${++probeCount}`;
}
