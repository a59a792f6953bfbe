/**
 * The disk under the state directory and its IO scheduler, which decides
 * whether an io weight does anything. Every kernel takes the value in its
 * weight files, but only a scheduler that shares the disk by weight honours
 * it: BFQ (io.bfq.weight, blkio.bfq.weight) or, on v2, the io.cost controller
 * once configured for the disk (io.weight). With none, mq-deadline or kyber
 * the value is stored and ignored. The state directory's disk is the one
 * that matters: the jobs' scratch folders and output live there.
 */
import { realpath, stat } from "node:fs/promises";
import { basename, dirname } from "node:path";
import { errnoOf } from "../../common/errno.ts";
import { fromOsError } from "../os-errors.ts";
import { pathExists, readOptional } from "./cgroup-files.ts";

export interface StateDisk {
  /** Kernel name of the whole disk ("vda", "nvme0n1"), even when the state is on a partition. */
  name: string;
  /** "MAJ:MIN" of the whole disk. */
  majorMinor: string;
  /** The active IO scheduler ("bfq", "mq-deadline", "none"). */
  scheduler: string;
}

/** The state directory's disk, or why io weights cannot be tied to one. */
export type StateDiskLookup = { disk: StateDisk } | { reason: string };

/**
 * Finds the whole disk holding `stateDir`: its device number (stat) names
 * /sys/dev/block/MAJ:MIN, a link to the device in sysfs; a partition is a
 * folder inside its disk's, with a `partition` file.
 */
export async function findStateDisk(
  stateDir: string,
  sysDevBlock = "/sys/dev/block",
): Promise<StateDiskLookup> {
  let dev: bigint;
  try {
    dev = (await stat(stateDir, { bigint: true })).dev;
  } catch (err) {
    throw fromOsError(err, `find the disk of the state directory ${stateDir}`);
  }
  const { major, minor } = splitDeviceNumber(dev);
  let device: string;
  try {
    device = await realpath(`${sysDevBlock}/${major}:${minor}`);
  } catch (err) {
    if (errnoOf(err) !== "ENOENT") {
      throw fromOsError(err, `find the disk of the state directory ${stateDir}`);
    }
    // tmpfs, overlayfs, NFS and the like have anonymous device numbers (major 0).
    return {
      reason: `the state directory ${stateDir} is not on a block device (device ${major}:${minor}), so no disk scheduler applies io weights to it`,
    };
  }
  const disk = (await pathExists(`${device}/partition`)) ? dirname(device) : device;
  const majorMinor = (await readOptional(`${disk}/dev`))?.trim() ?? `${major}:${minor}`;
  const scheduler = activeScheduler(await readOptional(`${disk}/queue/scheduler`));
  return { disk: { name: basename(disk), majorMinor, scheduler } };
}

/**
 * Splits a Linux dev_t as glibc's gnu_dev_major/gnu_dev_minor do: 12 bits of
 * major above 8 bits of minor, the rest of each in the high bits.
 */
export function splitDeviceNumber(dev: bigint): { major: bigint; minor: bigint } {
  return {
    major: ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn),
    minor: (dev & 0xffn) | ((dev >> 12n) & ~0xffn),
  };
}

/**
 * The active scheduler in queue/scheduler ("none [mq-deadline] kyber bfq");
 * a device without a choice (device-mapper) shows just "none".
 */
export function activeScheduler(text: string | undefined): string {
  const trimmed = (text ?? "").trim();
  return /\[([^\]]+)\]/.exec(trimmed)?.[1] ?? (trimmed === "" ? "none" : trimmed);
}

/** Why an io weight is not in force on the state directory's disk (`needed` names the cure). */
export function ignoredWeightReason(disk: StateDisk, needed: string): string {
  return (
    `the disk ${disk.name} of the state directory uses the ${disk.scheduler} scheduler, ` +
    `which ignores io weights (${needed} needed)`
  );
}

/**
 * Whether the io.cost controller is on for `majorMinor` (v2): io.cost.qos in
 * the root cgroup has a line "MAJ:MIN enable=1 ..." for each configured disk.
 */
export async function ioCostEnabled(mountPoint: string, majorMinor: string): Promise<boolean> {
  const text = await readOptional(`${mountPoint}/io.cost.qos`);
  return (text ?? "")
    .split("\n")
    .some((line) => line.startsWith(`${majorMinor} `) && /\benable=1\b/.test(line));
}
