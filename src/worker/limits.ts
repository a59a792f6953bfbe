/**
 * Limits in words and numbers: their names for people, their values
 * formatted, and the one range check of a value (limit-layers.ts combines
 * a request with defaults and ceilings).
 */
import { formatBytes } from "../common/format.ts";
import { JobError } from "./errors.ts";
import { LIMIT_NAMES, type LimitName, type Limits } from "./types.ts";

/** Below this a job cannot even start the launcher and a libc program. */
export const MIN_MEMORY_BYTES = 4 * 1024 * 1024;
/** The launcher and its PID-1 init are two of the job's processes. */
export const MIN_PIDS = 4;
/** Room for a small job's output and a few files. */
const MIN_DISK_BYTES = 1024 * 1024;
/** Weights use cgroup v2's scale, 1-10000 (v1 values are converted). */
const MAX_WEIGHT = 10_000;

const LIMIT_WORDS: Record<LimitName, string> = {
  cpu: "cpu",
  memoryBytes: "memory",
  ioReadBytesPerSecond: "disk read rate",
  ioWriteBytesPerSecond: "disk write rate",
  pids: "process limit",
  cpuWeight: "cpu weight",
  ioWeight: "io weight",
  ioReadIopsPerSecond: "disk read IOPS",
  ioWriteIopsPerSecond: "disk write IOPS",
  diskBytes: "disk",
};

export function limitWords(name: LimitName): string {
  return LIMIT_WORDS[name];
}

/** Formats a limit's value for people: "0.5 cores", "256 MiB", "10 MiB/s", "20". */
export function formatLimit(name: LimitName, value: number): string {
  switch (name) {
    case "cpu":
      return `${value} ${value === 1 ? "core" : "cores"}`;
    case "memoryBytes":
    case "diskBytes":
      return formatBytes(value);
    case "ioReadBytesPerSecond":
    case "ioWriteBytesPerSecond":
      return `${formatBytes(value)}/s`;
    case "pids":
    case "cpuWeight":
    case "ioWeight":
      return String(value);
    case "ioReadIopsPerSecond":
    case "ioWriteIopsPerSecond":
      return `${value} IOPS`;
  }
}

/** Throws invalid_argument for the first value out of range. */
export function checkLimitValues(limits: Limits, hostCores: number, what = "limit"): void {
  for (const name of LIMIT_NAMES) {
    const value = limits[name];
    if (value === undefined) continue;
    const problem =
      limitValueProblem(name, value) ??
      (name === "cpu" && value > hostCores
        ? `of ${value} cores is more than the host's ${hostCores}`
        : undefined);
    if (problem !== undefined) {
      throw new JobError("invalid_argument", `${what} ${limitWords(name)} ${problem}`);
    }
  }
}

/**
 * What is wrong with `value` for limit `name` on any host, in words that
 * follow the limit's name ("must be a whole number, not 1.5"); undefined
 * when nothing is. The one range check of limits, wherever they come from.
 */
export function limitValueProblem(name: LimitName, value: unknown): string | undefined {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    return `must be a positive number, not ${String(value)}`;
  }
  switch (name) {
    case "cpu":
      return value < 0.01 ? `must be at least 0.01 cores, not ${value}` : undefined;
    case "memoryBytes":
      if (!Number.isSafeInteger(value)) return `must be a whole number of bytes, not ${value}`;
      if (value < MIN_MEMORY_BYTES) {
        return `of ${formatBytes(value)} is below the minimum of ${formatBytes(MIN_MEMORY_BYTES)}`;
      }
      return undefined;
    case "ioReadBytesPerSecond":
    case "ioWriteBytesPerSecond":
    case "ioReadIopsPerSecond":
    case "ioWriteIopsPerSecond":
      return Number.isSafeInteger(value) ? undefined : `must be a whole number, not ${value}`;
    case "cpuWeight":
    case "ioWeight":
      if (!Number.isSafeInteger(value) || value > MAX_WEIGHT) {
        return `must be a whole number from 1 to ${MAX_WEIGHT}, not ${value}`;
      }
      return undefined;
    case "pids":
      if (!Number.isSafeInteger(value)) return `must be a whole number, not ${value}`;
      if (value < MIN_PIDS) return `of ${value} is below the minimum of ${MIN_PIDS}`;
      return undefined;
    case "diskBytes":
      if (!Number.isSafeInteger(value)) return `must be a whole number of bytes, not ${value}`;
      if (value < MIN_DISK_BYTES) {
        return `of ${formatBytes(value)} is below the minimum of ${formatBytes(MIN_DISK_BYTES)}`;
      }
      return undefined;
  }
}
