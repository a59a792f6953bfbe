/**
 * The numbers both drivers write for a `Limits` value, and the checks on the
 * names that become cgroup folder names.
 */
import { JobError } from "../errors.ts";
import { LIMIT_NAMES, type LimitName, type Limits } from "../types.ts";

/** CFS period: 100 ms, the kernel's default, used for v1 and v2 alike. */
export const CPU_PERIOD_USEC = 100_000;

/** The kernel refuses CFS quotas under 1 ms. */
const CPU_MIN_QUOTA_USEC = 1_000;

/** CPU quota per period for `cores` (fractional) cores. */
export function cpuQuotaUsec(cores: number): number {
  return Math.max(CPU_MIN_QUOTA_USEC, Math.round(cores * CPU_PERIOD_USEC));
}

/**
 * The limits to write: those set and not skipped, each checked to be a
 * positive finite number (integers for all but CPU).
 */
export function limitsToWrite(limits: Limits, skip: readonly LimitName[]): Limits {
  const out: Limits = {};
  for (const name of LIMIT_NAMES) {
    const value = limits[name];
    if (value === undefined || skip.includes(name)) continue;
    const written = name === "cpu" ? value : Math.floor(value);
    if (!Number.isFinite(written) || written <= 0) {
      throw new JobError("invalid_argument", `the ${name} limit must be a positive number`);
    }
    out[name] = written;
  }
  return out;
}

/** A cgroup folder name: one path component, never "." or ".." or a probe's dot name. */
export function checkCgroupName(name: string, what: string): void {
  if (!/^[A-Za-z0-9_-][A-Za-z0-9._-]*$/.test(name) || name.length > 200) {
    throw new JobError("invalid_argument", `${what} "${name}" is not a valid cgroup name`);
  }
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
