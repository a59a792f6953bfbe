/**
 * Picks the driver for this host: cgroup v2 when the cgroup root is a
 * cgroup2 file system with controllers, else v1 (including "hybrid" hosts,
 * whose cgroup2 mount carries no controllers) from the per-controller mounts
 * listed in /proc/self/mountinfo.
 */
import { JobError } from "../errors.ts";
import { readOptional } from "./cgroup-files.ts";
import { CgroupV1Driver, V1_CONTROLLERS, type V1Controller } from "./cgroup-v1.ts";
import { CgroupV2Driver } from "./cgroup-v2.ts";
import { claimOwnCgroup } from "./delegation.ts";
import type { CgroupDriver } from "./driver.ts";
import { checkCgroupPath } from "./limit-values.ts";
import { findStateDisk, type StateDiskLookup } from "./state-disk.ts";

export interface OpenCgroupDriverOptions {
  /** Parent cgroup of every job, relative to the cgroup root ("jobworker", "a/b"), or on
   * v2 to the cgroup this process was given to manage (delegation.ts). */
  parent: string;
  /** Where the cgroup file systems are mounted. @default "/sys/fs/cgroup" */
  root?: string;
  /**
   * The state directory: io weights are in force only when its disk's
   * scheduler honours them (BFQ, or io.cost on v2). Without it, io weights
   * are reported unenforceable.
   */
  stateDir?: string;
}

/**
 * Detects the cgroup version, creates the parent cgroup(s) and, on v2,
 * enables the controllers for the parent's children; on v2 in a cgroup of
 * its own (systemd's Delegate=yes), the parent goes below that cgroup and
 * this process into a leaf beside it (delegation.ts). Throws a JobError
 * (failed_precondition) when not root or when there are no usable cgroups.
 */
export async function openCgroupDriver(options: OpenCgroupDriverOptions): Promise<CgroupDriver> {
  checkCgroupPath(options.parent);
  const root = (options.root ?? "/sys/fs/cgroup").replace(/\/+$/, "");
  const uid = process.getuid?.();
  if (uid !== 0) {
    throw new JobError(
      "failed_precondition",
      `managing cgroups needs root, but this process runs as uid ${uid ?? "unknown"}`,
    );
  }
  const mounts = parseMountInfo((await readOptional("/proc/self/mountinfo")) ?? "");
  const swapEnabled = hasSwap(await readOptional("/proc/swaps"));
  const stateDisk: StateDiskLookup =
    options.stateDir === undefined
      ? {
          reason:
            "no state directory was given, so the disk that would honour io weights is unknown",
        }
      : await findStateDisk(options.stateDir);

  const unified = mounts.find((m) => m.fsType === "cgroup2" && m.mountPoint === root);
  const controllers = (await readOptional(`${root}/cgroup.controllers`))?.trim() ?? "";
  if (unified !== undefined && controllers !== "") {
    return unusableOnFailure(
      (async () => {
        const base = (await claimOwnCgroup(root)) ?? root;
        return CgroupV2Driver.open({
          mountPoint: root,
          base,
          parent: options.parent,
          swapEnabled,
          stateDisk,
        });
      })(),
    );
  }

  const v1Mounts = findV1Mounts(mounts, root);
  if (Object.keys(v1Mounts).length === 0) {
    throw new JobError(
      "failed_precondition",
      `no usable cgroups: ${root} is not a cgroup2 file system with controllers ` +
        "and /proc/self/mountinfo lists no cgroup v1 controller mounts",
    );
  }
  return unusableOnFailure(
    CgroupV1Driver.open({
      mounts: v1Mounts,
      hierarchies: v1Hierarchies(mounts),
      parent: options.parent,
      swapEnabled,
      stateDisk,
    }),
  );
}

/** A driver that cannot set itself up (read-only cgroupfs, EACCES) is a host precondition. */
async function unusableOnFailure(opening: Promise<CgroupDriver>): Promise<CgroupDriver> {
  try {
    return await opening;
  } catch (err) {
    const reason = JobError.from(err);
    throw new JobError("failed_precondition", `cgroups are not usable: ${reason.message}`, {
      cause: err,
    });
  }
}

export interface MountEntry {
  mountPoint: string;
  fsType: string;
  /** Per-superblock options: for cgroup v1, the controllers ("rw,cpu,cpuacct"). */
  superOptions: string[];
}

/**
 * Parses /proc/self/mountinfo (proc(5)): "id parent maj:min root mountpoint
 * options [optional fields...] - fstype source superoptions", with spaces and
 * other odd bytes in paths written as octal escapes (\040).
 */
export function parseMountInfo(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split("\n")) {
    const [before, after] = line.split(" - ");
    if (before === undefined || after === undefined) continue;
    const mountPoint = before.split(" ")[4];
    const [fsType, , superOptions] = after.split(" ");
    if (mountPoint === undefined || fsType === undefined) continue;
    entries.push({
      mountPoint: unescapeOctal(mountPoint),
      fsType,
      superOptions: (superOptions ?? "").split(","),
    });
  }
  return entries;
}

/**
 * The mount point of each v1 controller we use. Controllers may be co-mounted
 * ("cpu,cpuacct" share one hierarchy) or separate. A controller mounted more
 * than once (bind mounts in containers) is taken from under `root` if it is there.
 */
export function findV1Mounts(
  mounts: readonly MountEntry[],
  root: string,
): Partial<Record<V1Controller, string>> {
  const found: Partial<Record<V1Controller, string>> = {};
  const underRoot = (m: MountEntry) => m.mountPoint.startsWith(`${root}/`);
  const v1 = mounts.filter((m) => m.fsType === "cgroup");
  for (const mount of [...v1.filter(underRoot), ...v1.filter((m) => !underRoot(m))]) {
    for (const controller of V1_CONTROLLERS) {
      if (mount.superOptions.includes(controller)) found[controller] ??= mount.mountPoint;
    }
  }
  return found;
}

/** Every v1 controller the kernel has: a hierarchy's mount options name its set. */
const KNOWN_V1_CONTROLLERS = new Set([
  "cpuset",
  "cpu",
  "cpuacct",
  "blkio",
  "memory",
  "devices",
  "freezer",
  "net_cls",
  "perf_event",
  "net_prio",
  "hugetlb",
  "pids",
  "rdma",
  "misc",
]);

/**
 * Each v1 mount point's controller set as mount options name it
 * ("cpu,cpuacct"): mounting a hierarchy again needs exactly that set.
 */
export function v1Hierarchies(mounts: readonly MountEntry[]): Record<string, string> {
  const names: Record<string, string> = {};
  for (const mount of mounts) {
    if (mount.fsType !== "cgroup") continue;
    const controllers = mount.superOptions.filter((option) => KNOWN_V1_CONTROLLERS.has(option));
    if (controllers.length > 0) names[mount.mountPoint] = controllers.join(",");
  }
  return names;
}

/** Whether /proc/swaps lists any swap area below its header line. */
function hasSwap(text: string | undefined): boolean {
  return (text ?? "")
    .split("\n")
    .slice(1)
    .some((line) => line.trim() !== "");
}

function unescapeOctal(text: string): string {
  return text.replace(/\\([0-7]{3})/g, (_, octal: string) =>
    String.fromCharCode(Number.parseInt(octal, 8)),
  );
}
