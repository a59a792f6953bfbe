/**
 * What a job's limits become in cgroup files, as data: the list of writes,
 * in order, for v2 and for v1 (as containerd's cgroups library turns a
 * `Resources` value into `Values()` before anything is written). Pure, so
 * the mapping is tested without root (test/unit/cgroup-settings.test.ts);
 * the drivers only carry the writes out.
 *
 * The limits are the checked ones (limit-layers.ts): nothing is re-checked
 * here.
 */
import type { Limits } from "../types.ts";
import {
  CPU_PERIOD_USEC,
  IO_THROTTLES,
  cpuQuotaUsec,
  cpuWeightToShares,
  ioWeightToBfq,
} from "./limit-values.ts";

/** One write: `value` to `file` in the job's folder of `hierarchy`
 * (v1: the controller's; v2: "unified"). A `perDisk` write goes to every
 * whole disk that takes it, as "MAJ:MIN value". */
export interface Setting {
  hierarchy: string;
  file: string;
  value: string;
  perDisk?: true;
}

/** What the host offers that changes the writes (probed by the driver). */
export interface HostFacts {
  /** The memory controller accounts swap (memory.swap.max, memory.memsw.*). */
  swapAccounting: boolean;
  /** How an io weight is written where one is in force (v2: BFQ's or io.cost's file). */
  ioWeight?: { file: string; value(weight: number): string };
}

export function v2Settings(limits: Limits, host: HostFacts): Setting[] {
  const unified = (file: string, value: string): Setting => ({ hierarchy: "unified", file, value });
  const settings: Setting[] = [];
  if (limits.cpu !== undefined) {
    settings.push(unified("cpu.max", `${cpuQuotaUsec(limits.cpu)} ${CPU_PERIOD_USEC}`));
  }
  // Same scale as the kernel's (1-10000, 100 the default): written as is.
  if (limits.cpuWeight !== undefined)
    settings.push(unified("cpu.weight", String(limits.cpuWeight)));
  if (limits.memoryBytes !== undefined) {
    settings.push(unified("memory.max", String(limits.memoryBytes)));
    // No swap on top of the memory limit.
    if (host.swapAccounting) settings.push(unified("memory.swap.max", "0"));
  }
  const rates = IO_THROTTLES.flatMap(({ name, v2Key }) => {
    const rate = limits[name];
    return rate === undefined ? [] : [`${v2Key}=${rate}`];
  });
  if (rates.length > 0) settings.push({ ...unified("io.max", rates.join(" ")), perDisk: true });
  if (limits.ioWeight !== undefined && host.ioWeight !== undefined) {
    // The group's default weight, for every disk.
    settings.push(unified(host.ioWeight.file, host.ioWeight.value(limits.ioWeight)));
  }
  if (limits.pids !== undefined) settings.push(unified("pids.max", String(limits.pids)));
  return settings;
}

/** v1's only io weight the kernel still honours: BFQ's (CFQ left in Linux 5.0). */
export const BFQ_WEIGHT_FILE = "blkio.bfq.weight";

export function v1Settings(limits: Limits, host: HostFacts): Setting[] {
  const settings: Setting[] = [];
  const set = (hierarchy: string, file: string, value: string): void => {
    settings.push({ hierarchy, file, value });
  };
  if (limits.cpu !== undefined) {
    set("cpu", "cpu.cfs_period_us", String(CPU_PERIOD_USEC));
    set("cpu", "cpu.cfs_quota_us", String(cpuQuotaUsec(limits.cpu)));
  }
  if (limits.cpuWeight !== undefined) {
    set("cpu", "cpu.shares", String(cpuWeightToShares(limits.cpuWeight)));
  }
  if (limits.memoryBytes !== undefined) {
    const bytes = String(limits.memoryBytes);
    // The kernel keeps memsw >= limit at every step: the RAM limit goes
    // first. RAM + swap capped at the same number: no swap on top.
    set("memory", "memory.limit_in_bytes", bytes);
    if (host.swapAccounting) set("memory", "memory.memsw.limit_in_bytes", bytes);
  }
  for (const { name, v1File } of IO_THROTTLES) {
    const rate = limits[name];
    if (rate !== undefined)
      settings.push({ hierarchy: "blkio", file: v1File, value: String(rate), perDisk: true });
  }
  if (limits.ioWeight !== undefined) {
    // The group's default weight, for every disk BFQ schedules.
    set("blkio", BFQ_WEIGHT_FILE, String(ioWeightToBfq(limits.ioWeight)));
  }
  if (limits.pids !== undefined) set("pids", "pids.max", String(limits.pids));
  return settings;
}
