/**
 * The block devices an io limit is written for. Both cgroup versions take io
 * limits per device ("MAJ:MIN"), and only for whole disks: the kernel refuses
 * partitions, so a job is limited by writing the same rate for every disk.
 */
import { readdir } from "node:fs/promises";
import { JobError } from "../errors.ts";
import { errnoOf } from "../../common/errno.ts";
import { fromOsError } from "../os-errors.ts";
import { readOptional } from "./cgroup-files.ts";
import type { CgroupCapabilities } from "./driver.ts";
import { IO_THROTTLES } from "./limit-values.ts";

export interface BlockDevice {
  /** Kernel name, as in /sys/block ("vda", "nvme0n1"). */
  name: string;
  /** "MAJ:MIN", as io.max and blkio.throttle.* expect. */
  majorMinor: string;
}

/**
 * Whole disks with a medium: /sys/block lists only whole devices (partitions
 * sit below them); unused loop, ram and zram devices have size 0 and are left
 * out, since no IO can reach them.
 */
export async function listWholeDisks(sysBlock = "/sys/block"): Promise<BlockDevice[]> {
  let names: string[];
  try {
    names = await readdir(sysBlock);
  } catch (err) {
    if (errnoOf(err) === "ENOENT") return [];
    throw fromOsError(err, `list the block devices in ${sysBlock}`);
  }
  const devices: BlockDevice[] = [];
  for (const name of names.sort()) {
    const size = Number((await readOptional(`${sysBlock}/${name}/size`))?.trim() ?? "0");
    const majorMinor = (await readOptional(`${sysBlock}/${name}/dev`))?.trim();
    if (size > 0 && majorMinor !== undefined && /^\d+:\d+$/.test(majorMinor)) {
      devices.push({ name, majorMinor });
    }
  }
  return devices;
}

/** How the kernel says "this device takes no io limit" (no throttling queue, gone). */
const DEVICE_REFUSALS = new Set(["EINVAL", "ENODEV", "EOPNOTSUPP", "ENOTSUP", "ENXIO"]);

/**
 * Calls `write` for each device and returns those that accepted it; a device
 * the kernel refuses is skipped, any other failure is thrown.
 */
async function writeForEachDevice(
  devices: readonly BlockDevice[],
  write: (device: BlockDevice) => Promise<void>,
): Promise<BlockDevice[]> {
  const accepted: BlockDevice[] = [];
  for (const device of devices) {
    try {
      await write(device);
      accepted.push(device);
    } catch (err) {
      if (!DEVICE_REFUSALS.has(errnoOf(err) ?? "")) throw err;
    }
  }
  return accepted;
}

/** Why io limits are unenforceable when no disk takes one. */
const NO_DISK_REASON = "no whole block device accepts an io limit";

/**
 * Writes an io limit for every whole disk (`what` names it in errors, e.g.
 * "io.max of job 7"). Fails when no disk accepts it: the limit would not be
 * in force anywhere.
 */
export async function limitEveryDisk(
  what: string,
  write: (device: BlockDevice) => Promise<void>,
): Promise<void> {
  let accepted: BlockDevice[];
  try {
    accepted = await writeForEachDevice(await listWholeDisks(), write);
  } catch (err) {
    throw fromOsError(err, `set ${what}`);
  }
  if (accepted.length === 0) {
    throw new JobError("failed_precondition", `could not set ${what}: ${NO_DISK_REASON}`);
  }
}

/**
 * Marks every io throttle unenforceable unless at least one whole disk
 * accepts `write`, a throwaway throttle rule in a probe cgroup (see
 * capabilities()).
 */
export async function probeIoThrottles(
  write: (device: BlockDevice) => Promise<void>,
  unenforceable: CgroupCapabilities["unenforceable"],
): Promise<void> {
  if ((await writeForEachDevice(await listWholeDisks(), write)).length > 0) return;
  for (const { name } of IO_THROTTLES) unenforceable[name] = NO_DISK_REASON;
}
