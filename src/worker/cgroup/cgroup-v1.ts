/**
 * The cgroup v1 driver: one hierarchy per controller (or per group of
 * co-mounted controllers, e.g. "cpu,cpuacct"), and a folder for the job in
 * each. Limits are cpu.cfs_*, cpu.shares, memory.limit_in_bytes +
 * memory.memsw.*, blkio.throttle.*_device, blkio.bfq.weight and pids.max;
 * kill is freeze → SIGKILL → thaw.
 * https://docs.kernel.org/admin-guide/cgroup-v1/
 */
import { JobError } from "../errors.ts";
import type { CgroupView } from "../launcher.ts";
import type { CgroupLimitName, CgroupUsage, LimitName, Limits } from "../types.ts";
import { applySettings } from "./apply-settings.ts";
import { probeIoThrottles } from "./block-devices.ts";
import {
  makeCgroupDir,
  cgroupFileExists,
  makeJobDir,
  parseFlatKeyed,
  pathExists,
  pollUntil,
  parseInteger,
  readOptional,
  readProcs,
  readProcsOf,
  removeCgroupDirs,
  signalPids,
  writeCgroupFile,
  writeSetting,
} from "./cgroup-files.ts";
import { BFQ_WEIGHT_FILE, v1Settings } from "./cgroup-settings.ts";
import type { CgroupCapabilities, CgroupDriver, JobCgroup, ParentLimits } from "./driver.ts";
import {
  CPU_PERIOD_USEC,
  cgroupLimits,
  checkJobId,
  cpuQuotaUsec,
  jobLimitsToWrite,
  probeCgroupName,
} from "./limit-values.ts";
import { ignoredWeightReason, type StateDiskLookup } from "./state-disk.ts";

/** The v1 controllers a job gets a folder in (not cpuset: it needs cpus/mems set first). */
export const V1_CONTROLLERS = ["cpu", "cpuacct", "memory", "blkio", "pids", "freezer"] as const;
export type V1Controller = (typeof V1_CONTROLLERS)[number];

const CONTROLLER_OF: Readonly<Record<CgroupLimitName, V1Controller>> = {
  cpu: "cpu",
  memoryBytes: "memory",
  ioReadBytesPerSecond: "blkio",
  ioWriteBytesPerSecond: "blkio",
  pids: "pids",
  cpuWeight: "cpu",
  ioWeight: "blkio",
  ioReadIopsPerSecond: "blkio",
  ioWriteIopsPerSecond: "blkio",
};

/** v1 has no notification of emptiness or frozenness: poll, bounded. */
const FREEZE_TIMEOUT_MS = 1_000;
const EMPTY_TIMEOUT_MS = 5_000;

export interface CgroupV1Options {
  /** Mount point of each controller's hierarchy (co-mounted ones share one). */
  mounts: Partial<Record<V1Controller, string>>;
  /** Parent cgroup path relative to each mount point ("jobworker"). */
  parent: string;
  /** Each hierarchy by its controllers, as mounted ("cpu,cpuacct"), keyed by mount point. */
  hierarchies: Readonly<Record<string, string>>;
  /** Whether the host has swap in use (/proc/swaps has entries). */
  swapEnabled: boolean;
  /** The state directory's disk, whose scheduler decides whether io weights work. */
  stateDisk: StateDiskLookup;
}

/** The parent's folder in each hierarchy, by controller. */
type Folders = Partial<Record<V1Controller, string>>;

export class CgroupV1Driver implements CgroupDriver {
  readonly mode = "v1";
  readonly view: CgroupView;
  readonly #parents: Folders;
  readonly #capabilities: CgroupCapabilities;

  private constructor(parents: Folders, capabilities: CgroupCapabilities, view: CgroupView) {
    this.#parents = parents;
    this.#capabilities = capabilities;
    this.view = view;
  }

  /** Creates the parent in every hierarchy and probes what the host enforces. */
  static async open(options: CgroupV1Options): Promise<CgroupV1Driver> {
    const parents: Folders = {};
    for (const controller of V1_CONTROLLERS) {
      const mount = options.mounts[controller];
      if (mount !== undefined) parents[controller] = `${mount}/${options.parent}`;
    }
    for (const dir of uniqueFolders(parents)) await makeCgroupDir(dir);
    const unenforceable = await probe(parents, options.swapEnabled, options.stateDisk);
    // The hierarchies a job is in, as a v1 mount names them ("cpu,cpuacct").
    const mountPoints = new Set(Object.values(options.mounts));
    const hierarchies = [...mountPoints].flatMap((mount) => options.hierarchies[mount] ?? []);
    return new CgroupV1Driver(parents, { mode: "v1", unenforceable }, { mode: "v1", hierarchies });
  }

  capabilities(): CgroupCapabilities {
    return { mode: "v1", unenforceable: { ...this.#capabilities.unenforceable } };
  }

  async create(jobId: string, limits: Limits, skip: readonly LimitName[]): Promise<JobCgroup> {
    const toWrite = jobLimitsToWrite(jobId, limits, skip, this.#capabilities);
    const folders = this.#jobFolders(jobId);
    const created: string[] = [];
    try {
      for (const dir of uniqueFolders(folders)) {
        makeJobDir(dir, jobId);
        created.push(dir);
      }
      const memory = folders.memory;
      const swapAccounting =
        memory !== undefined && cgroupFileExists(`${memory}/memory.memsw.limit_in_bytes`);
      await applySettings(v1Settings(toWrite, { swapAccounting }), folderIn(folders, jobId), jobId);
    } catch (err) {
      await removeCgroupDirs(created).catch(() => undefined);
      throw err;
    }
    return new V1JobCgroup(jobId, folders);
  }

  async open(jobId: string): Promise<JobCgroup | undefined> {
    checkJobId(jobId);
    const folders = this.#jobFolders(jobId);
    for (const dir of uniqueFolders(folders)) {
      if (await pathExists(dir)) return new V1JobCgroup(jobId, folders);
    }
    return undefined;
  }

  async setParentLimits(limits: ParentLimits): Promise<void> {
    const { cpu, memoryBytes, pids } = cgroupLimits(limits, []);
    const parents = this.#parents;
    const folder = (controller: V1Controller, total: number | undefined): string | undefined => {
      const dir = parents[controller];
      if (dir === undefined && total !== undefined) {
        throw new JobError(
          "failed_precondition",
          `could not set the jobs' total: the ${controller} controller is not mounted`,
        );
      }
      return dir;
    };
    const set = (dir: string, file: string, value: string) =>
      writeSetting(`${dir}/${file}`, value, `set ${file} of the jobworker parent to "${value}"`);

    const cpuDir = folder("cpu", cpu);
    if (cpuDir !== undefined) {
      // -1: no quota. The period is the one every job uses (the kernel compares quota/period).
      if (cpu !== undefined) await set(cpuDir, "cpu.cfs_period_us", String(CPU_PERIOD_USEC));
      await set(cpuDir, "cpu.cfs_quota_us", cpu === undefined ? "-1" : String(cpuQuotaUsec(cpu)));
    }
    const memoryDir = folder("memory", memoryBytes);
    if (memoryDir !== undefined) {
      const value = memoryBytes === undefined ? "-1" : String(memoryBytes);
      const memsw = `${memoryDir}/memory.memsw.limit_in_bytes`;
      if (await pathExists(memsw)) {
        // The kernel keeps memsw >= limit at every step: raise memsw first, lower it last.
        const raising =
          memoryBytes === undefined || memoryBytes > parseInteger(await readOptional(memsw));
        if (raising) await set(memoryDir, "memory.memsw.limit_in_bytes", value);
        await set(memoryDir, "memory.limit_in_bytes", value);
        if (!raising) await set(memoryDir, "memory.memsw.limit_in_bytes", value);
      } else {
        await set(memoryDir, "memory.limit_in_bytes", value);
      }
    }
    const pidsDir = folder("pids", pids);
    if (pidsDir !== undefined) {
      await set(pidsDir, "pids.max", pids === undefined ? "max" : String(pids));
    }
  }

  #jobFolders(jobId: string): Folders {
    const folders: Folders = {};
    for (const [controller, dir] of Object.entries(this.#parents) as [V1Controller, string][]) {
      folders[controller] = `${dir}/${jobId}`;
    }
    return folders;
  }
}

/** Each hierarchy's folder once (co-mounted controllers share a folder). */
function uniqueFolders(folders: Folders): string[] {
  return [...new Set(Object.values(folders))];
}

/**
 * What the host cannot enforce: missing controllers, swap accounting, io
 * throttling on any disk, io weights on the state directory's disk.
 */
async function probe(
  parents: Folders,
  swapEnabled: boolean,
  stateDisk: StateDiskLookup,
): Promise<CgroupCapabilities["unenforceable"]> {
  const unenforceable: CgroupCapabilities["unenforceable"] = {};
  for (const [limit, controller] of Object.entries(CONTROLLER_OF) as [
    CgroupLimitName,
    V1Controller,
  ][]) {
    if (parents[controller] === undefined) {
      unenforceable[limit] = `the ${controller} controller is not mounted (cgroup v1)`;
    }
  }
  if (parents.cpu !== undefined && !(await pathExists(`${parents.cpu}/cpu.cfs_quota_us`))) {
    unenforceable.cpu = "the kernel has no CFS bandwidth control (no cpu.cfs_quota_us)";
  }
  if (parents.cpu !== undefined && !(await pathExists(`${parents.cpu}/cpu.shares`))) {
    unenforceable.cpuWeight = "the kernel has no CFS group scheduling (no cpu.shares)";
  }
  if (
    parents.memory !== undefined &&
    swapEnabled &&
    !(await pathExists(`${parents.memory}/memory.memsw.limit_in_bytes`))
  ) {
    unenforceable.memoryBytes =
      "swap is enabled but the kernel does not account swap per cgroup (no memory.memsw.*), " +
      "so a job could exceed its memory limit by swapping";
  }
  if (parents.blkio !== undefined) {
    // A throwaway child: the probe's rules vanish with it, the parent's stay untouched.
    const probeDir = `${parents.blkio}/${probeCgroupName()}`;
    await makeCgroupDir(probeDir);
    try {
      // One throttle stands for all four: bps and iops rules live in the same per-disk policy.
      await probeIoThrottles(
        (device) =>
          writeCgroupFile(
            `${probeDir}/blkio.throttle.read_bps_device`,
            `${device.majorMinor} 1048576`,
          ),
        unenforceable,
      );
      const weightProblem = await ioWeightProblem(probeDir, stateDisk);
      if (weightProblem !== undefined) unenforceable.ioWeight = weightProblem;
    } finally {
      await removeCgroupDirs([probeDir]);
    }
  }
  return unenforceable;
}

/** Why an io weight would not be in force here, or undefined when BFQ takes it. */
async function ioWeightProblem(
  probeDir: string,
  stateDisk: StateDiskLookup,
): Promise<string | undefined> {
  if ("reason" in stateDisk) return stateDisk.reason;
  if (stateDisk.disk.scheduler !== "bfq") return ignoredWeightReason(stateDisk.disk, "BFQ");
  if (!(await pathExists(`${probeDir}/${BFQ_WEIGHT_FILE}`))) {
    return `the kernel has no BFQ group scheduling (no ${BFQ_WEIGHT_FILE}), so io weights are ignored`;
  }
  return undefined;
}

/** A job's folder in each hierarchy a setting names ("cpu", "memory", ...). */
function folderIn(folders: Folders, jobId: string): (hierarchy: string) => string {
  return (hierarchy) => {
    const dir = folders[hierarchy as V1Controller];
    if (dir === undefined) {
      throw new JobError(
        "failed_precondition",
        `could not limit job ${jobId}: the ${hierarchy} controller is not mounted`,
      );
    }
    return dir;
  };
}

class V1JobCgroup implements JobCgroup {
  readonly jobId: string;
  readonly procsFiles: readonly string[];
  readonly #folders: Folders;
  readonly #dirs: readonly string[];

  constructor(jobId: string, folders: Folders) {
    this.jobId = jobId;
    this.#folders = folders;
    this.#dirs = uniqueFolders(folders);
    this.procsFiles = this.#dirs.map((dir) => `${dir}/cgroup.procs`);
  }

  async usage(): Promise<CgroupUsage> {
    const { cpu, cpuacct, memory, blkio, pids } = this.#folders;
    const [cpuNs, cpuStat, memoryCurrent, memoryPeak, serviceBytes, pidCount, oomControl] =
      await Promise.all([
        readIn(cpuacct, "cpuacct.usage"),
        readIn(cpu, "cpu.stat"),
        readIn(memory, "memory.usage_in_bytes"),
        readIn(memory, "memory.max_usage_in_bytes"),
        // Counts IO as it reaches the disk: buffered writes not yet flushed are not in it.
        readIn(blkio, "blkio.throttle.io_service_bytes_recursive"),
        readIn(pids, "pids.current"),
        readIn(memory, "memory.oom_control"),
      ]);
    const io = sumServiceBytes(serviceBytes);
    return {
      cpuUsec: Math.floor(parseInteger(cpuNs) / 1000),
      cpuThrottledUsec: Math.floor((parseFlatKeyed(cpuStat).get("throttled_time") ?? 0) / 1000),
      memoryCurrentBytes: parseInteger(memoryCurrent),
      memoryPeakBytes: parseInteger(memoryPeak),
      ioReadBytes: io.read,
      ioWriteBytes: io.write,
      pids: parseInteger(pidCount),
      oomKills: parseFlatKeyed(oomControl).get("oom_kill") ?? 0,
    };
  }

  pids(): Promise<number[]> {
    return readProcsOf(this.#dirs);
  }

  /**
   * Freezes the job so nothing can fork while its PIDs are read, SIGKILLs
   * each (the signal is delivered on thaw), thaws, then waits until every
   * hierarchy is empty, re-signalling stragglers: that also covers a freeze
   * that did not complete (a task stuck in the kernel) and a host without
   * the freezer.
   */
  async killAll(): Promise<void> {
    if ((await this.pids()).length === 0) return;
    const freezer = this.#folders.freezer;
    if (freezer !== undefined && (await pathExists(freezer))) {
      const state = `${freezer}/freezer.state`;
      await writeSetting(state, "FROZEN", `freeze the job ${this.jobId}`);
      try {
        await pollUntil(
          async () => (await readOptional(state))?.trim() === "FROZEN",
          FREEZE_TIMEOUT_MS,
          `the job ${this.jobId} to freeze`,
        ).catch(() => undefined);
        signalPids(await readProcs(`${freezer}/cgroup.procs`), "SIGKILL");
      } finally {
        await writeSetting(state, "THAWED", `thaw the job ${this.jobId}`);
      }
    }
    await pollUntil(
      async () => {
        const left = await this.pids();
        signalPids(left, "SIGKILL");
        return left.length === 0;
      },
      EMPTY_TIMEOUT_MS,
      `the cgroup of job ${this.jobId} to empty`,
    );
  }

  async remove(): Promise<void> {
    await this.killAll();
    await removeCgroupDirs(this.#dirs);
  }
}

/** A file of a hierarchy that may be absent; undefined reads as nothing. */
function readIn(dir: string | undefined, file: string): Promise<string | undefined> {
  return dir === undefined ? Promise.resolve(undefined) : readOptional(`${dir}/${file}`);
}

/** Sums the "MAJ:MIN Read N" and "MAJ:MIN Write N" lines of io_service_bytes. */
function sumServiceBytes(text: string | undefined): { read: number; write: number } {
  let read = 0;
  let write = 0;
  for (const match of (text ?? "").matchAll(/^\d+:\d+ (Read|Write) (\d+)$/gm)) {
    if (match[1] === "Read") read += Number(match[2]);
    else write += Number(match[2]);
  }
  return { read, write };
}
