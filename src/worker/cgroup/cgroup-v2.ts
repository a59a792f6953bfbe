/**
 * The cgroup v2 driver: one unified hierarchy, every job one folder under the
 * parent. Limits are cpu.max, cpu.weight, memory.max (+ memory.swap.max = 0),
 * io.max, io.bfq.weight or io.weight, and pids.max; kill is cgroup.kill;
 * emptiness is watched on cgroup.events.
 * https://docs.kernel.org/admin-guide/cgroup-v2.html
 */
import { watch, type FSWatcher } from "node:fs";
import { JobError } from "../errors.ts";
import { errnoOf } from "../../common/errno.ts";
import { fromOsError } from "../os-errors.ts";
import type { CgroupLimitName, CgroupUsage, LimitName, Limits } from "../types.ts";
import { applySettings } from "./apply-settings.ts";
import { probeIoThrottles } from "./block-devices.ts";
import {
  makeCgroupDir,
  cgroupFileExists,
  makeJobDir,
  parseFlatKeyed,
  parseInteger,
  pathExists,
  readInteger,
  readKey,
  readOptional,
  readProcsOf,
  removeCgroupDirs,
  signalPids,
  writeCgroupFile,
  writeSetting,
} from "./cgroup-files.ts";
import { v2Settings } from "./cgroup-settings.ts";
import type { CgroupCapabilities, CgroupDriver, JobCgroup, ParentLimits } from "./driver.ts";
import {
  CPU_PERIOD_USEC,
  cgroupLimits,
  checkJobId,
  cpuQuotaUsec,
  ioWeightToBfq,
  jobLimitsToWrite,
  probeCgroupName,
} from "./limit-values.ts";
import { ignoredWeightReason, ioCostEnabled, type StateDiskLookup } from "./state-disk.ts";

/** The controllers our limits need, enabled for the parent's children. */
const CONTROLLERS = ["cpu", "memory", "io", "pids"] as const;

const CONTROLLER_OF: Readonly<Record<CgroupLimitName, string>> = {
  cpu: "cpu",
  memoryBytes: "memory",
  ioReadBytesPerSecond: "io",
  ioWriteBytesPerSecond: "io",
  pids: "pids",
  cpuWeight: "cpu",
  ioWeight: "io",
  ioReadIopsPerSecond: "io",
  ioWriteIopsPerSecond: "io",
};

/** How long to wait for cgroup.events to report an empty (or frozen) cgroup. */
const EVENT_TIMEOUT_MS = 5_000;

export interface CgroupV2Options {
  /** Mount point of the unified hierarchy ("/sys/fs/cgroup"). */
  mountPoint: string;
  /** The folder the parent is made in, and controllers enabled from: the mount
   * point, or the cgroup delegated to this process (delegation.ts). */
  base: string;
  /** Parent cgroup path relative to `base` ("jobworker"). */
  parent: string;
  /** Whether the host has swap in use (/proc/swaps has entries). */
  swapEnabled: boolean;
  /** The state directory's disk, whose scheduler decides whether io weights work. */
  stateDisk: StateDiskLookup;
}

/** How an io weight is written where it is in force: BFQ's file and scale, or io.cost's. */
interface IoWeightFile {
  file: "io.bfq.weight" | "io.weight";
  value(weight: number): string;
}

export class CgroupV2Driver implements CgroupDriver {
  readonly view = { mode: "v2" } as const;
  readonly mode = "v2";
  readonly #parentDir: string;
  readonly #capabilities: CgroupCapabilities;
  readonly #ioWeight: IoWeightFile | undefined;

  private constructor(
    parentDir: string,
    capabilities: CgroupCapabilities,
    ioWeight: IoWeightFile | undefined,
  ) {
    this.#parentDir = parentDir;
    this.#capabilities = capabilities;
    this.#ioWeight = ioWeight;
  }

  /** Creates the parent, enables the controllers down to it and probes what it enforces. */
  static async open(options: CgroupV2Options): Promise<CgroupV2Driver> {
    const parentDir = `${options.base}/${options.parent}`;
    await makeCgroupDir(parentDir);
    const enabled = await enableControllers(options.base, options.parent);
    const unenforceable: CgroupCapabilities["unenforceable"] = {};
    for (const [limit, controller] of Object.entries(CONTROLLER_OF) as [
      CgroupLimitName,
      string,
    ][]) {
      if (!enabled.has(controller)) {
        unenforceable[limit] =
          `the ${controller} controller is not enabled in ${parentDir}/cgroup.subtree_control`;
      }
    }
    const ioWeight = await probe(options, parentDir, enabled, unenforceable);
    return new CgroupV2Driver(parentDir, { mode: "v2", unenforceable }, ioWeight);
  }

  capabilities(): CgroupCapabilities {
    return { mode: "v2", unenforceable: { ...this.#capabilities.unenforceable } };
  }

  async create(jobId: string, limits: Limits, skip: readonly LimitName[]): Promise<JobCgroup> {
    const toWrite = jobLimitsToWrite(jobId, limits, skip, this.#capabilities);
    const dir = `${this.#parentDir}/${jobId}`;
    makeJobDir(dir, jobId);
    try {
      const swapAccounting = cgroupFileExists(`${dir}/memory.swap.max`);
      const ioWeight = this.#ioWeight;
      const settings = v2Settings(toWrite, { swapAccounting, ...(ioWeight && { ioWeight }) });
      await applySettings(settings, () => dir, jobId);
    } catch (err) {
      await removeCgroupDirs([dir]).catch(() => undefined);
      throw err;
    }
    return new V2JobCgroup(jobId, dir);
  }

  async open(jobId: string): Promise<JobCgroup | undefined> {
    checkJobId(jobId);
    const dir = `${this.#parentDir}/${jobId}`;
    return (await pathExists(dir)) ? new V2JobCgroup(jobId, dir) : undefined;
  }

  async setParentLimits(limits: ParentLimits): Promise<void> {
    const { cpu, memoryBytes, pids } = cgroupLimits(limits, []);
    const totals = [
      {
        controller: "cpu",
        file: "cpu.max",
        total: cpu === undefined ? undefined : cpuQuotaUsec(cpu),
      },
      { controller: "memory", file: "memory.max", total: memoryBytes },
      { controller: "pids", file: "pids.max", total: pids },
    ];
    for (const { controller, file, total } of totals) {
      const path = `${this.#parentDir}/${file}`;
      // The parent's own limit files exist only when its parent passes the controller down.
      if (!(await pathExists(path))) {
        if (total === undefined) continue;
        throw new JobError(
          "failed_precondition",
          `could not set the jobs' total: the ${controller} controller is not enabled for ${this.#parentDir}`,
        );
      }
      const amount = total === undefined ? "max" : String(total);
      const value = controller === "cpu" ? `${amount} ${CPU_PERIOD_USEC}` : amount;
      await writeSetting(path, value, `set ${file} of the jobworker parent to "${value}"`);
    }
  }
}

/**
 * Enables our controllers in cgroup.subtree_control of every folder from
 * `base` (the mount point, or the cgroup delegated to us) down to the parent
 * (a controller reaches a cgroup only if every ancestor passes it on; above
 * a delegated cgroup that is systemd's to do). Failures are left to
 * capabilities(): a controller the host does not have or does not delegate
 * to us is simply not enabled. Returns the controllers enabled for the
 * parent's children.
 */
async function enableControllers(base: string, parent: string): Promise<Set<string>> {
  const parts = parent.split("/");
  const levels = [base, ...parts.map((_, i) => [base, ...parts.slice(0, i + 1)].join("/"))];
  for (const level of levels) {
    const available = words(await readOptional(`${level}/cgroup.controllers`));
    const enabled = words(await readOptional(`${level}/cgroup.subtree_control`));
    for (const controller of CONTROLLERS) {
      if (!available.has(controller) || enabled.has(controller)) continue;
      // One write per controller, so one refused controller does not block the others.
      await writeCgroupFile(`${level}/cgroup.subtree_control`, `+${controller}`).catch(
        () => undefined,
      );
    }
  }
  return words(await readOptional(`${base}/${parent}/cgroup.subtree_control`));
}

/**
 * Checks, in a throwaway child of the parent, what the host really enforces:
 * swap accounting (memory.swap.max) when swap is on, cpu.weight, whether any
 * disk takes an io.max line, and which io weight (if any) the state
 * directory's disk honours, which it returns.
 */
async function probe(
  options: CgroupV2Options,
  parentDir: string,
  enabled: Set<string>,
  unenforceable: CgroupCapabilities["unenforceable"],
): Promise<IoWeightFile | undefined> {
  const probeDir = `${parentDir}/${probeCgroupName()}`;
  await makeCgroupDir(probeDir);
  try {
    if (enabled.has("cpu") && !(await pathExists(`${probeDir}/cpu.weight`))) {
      unenforceable.cpuWeight = "the kernel has no CFS group scheduling (no cpu.weight)";
    }
    if (
      enabled.has("memory") &&
      options.swapEnabled &&
      !(await pathExists(`${probeDir}/memory.swap.max`))
    ) {
      unenforceable.memoryBytes =
        "swap is enabled but the kernel does not account swap per cgroup (no memory.swap.max), " +
        "so a job could exceed its memory limit by swapping";
    }
    if (enabled.has("io")) {
      await probeIoThrottles(
        (device) =>
          writeCgroupFile(`${probeDir}/io.max`, `${device.majorMinor} rbps=1048576 wbps=1048576`),
        unenforceable,
      );
      const weight = await ioWeightIn(probeDir, options);
      if (typeof weight === "string") unenforceable.ioWeight = weight;
      else return weight;
    }
    return undefined;
  } finally {
    await removeCgroupDirs([probeDir]);
  }
}

/**
 * The io weight in force on the state directory's disk: BFQ's when it is the
 * disk's scheduler (its own 1-1000 scale), else io.cost's when that is
 * enabled for the disk (the v2 scale as is); otherwise why there is none.
 */
async function ioWeightIn(
  probeDir: string,
  options: CgroupV2Options,
): Promise<IoWeightFile | string> {
  const { stateDisk } = options;
  if ("reason" in stateDisk) return stateDisk.reason;
  const { disk } = stateDisk;
  if (disk.scheduler === "bfq") {
    if (!(await pathExists(`${probeDir}/io.bfq.weight`))) {
      return "the kernel has no BFQ group scheduling (no io.bfq.weight), so io weights are ignored";
    }
    return { file: "io.bfq.weight", value: (weight) => `default ${ioWeightToBfq(weight)}` };
  }
  if (
    (await ioCostEnabled(options.mountPoint, disk.majorMinor)) &&
    (await pathExists(`${probeDir}/io.weight`))
  ) {
    return { file: "io.weight", value: (weight) => `default ${weight}` };
  }
  return ignoredWeightReason(disk, "BFQ, or io.cost enabled for the disk,");
}

class V2JobCgroup implements JobCgroup {
  readonly jobId: string;
  readonly procsFiles: readonly string[];
  readonly #dir: string;
  /** Highest memory.current seen, for kernels without memory.peak (before 5.19). */
  #peakSeen = 0;

  constructor(jobId: string, dir: string) {
    this.jobId = jobId;
    this.#dir = dir;
    this.procsFiles = [`${dir}/cgroup.procs`];
  }

  async usage(): Promise<CgroupUsage> {
    const dir = this.#dir;
    const [cpuStat, memoryCurrent, memoryPeak, ioStat, pids, oomKills] = await Promise.all([
      readOptional(`${dir}/cpu.stat`),
      readInteger(`${dir}/memory.current`),
      readOptional(`${dir}/memory.peak`),
      readOptional(`${dir}/io.stat`),
      readInteger(`${dir}/pids.current`),
      readKey(`${dir}/memory.events`, "oom_kill"),
    ]);
    this.#peakSeen = Math.max(this.#peakSeen, memoryCurrent);
    const cpu = parseFlatKeyed(cpuStat);
    const io = sumIoStat(ioStat);
    return {
      cpuUsec: cpu.get("usage_usec") ?? 0,
      cpuThrottledUsec: cpu.get("throttled_usec") ?? 0,
      memoryCurrentBytes: memoryCurrent,
      memoryPeakBytes: memoryPeak === undefined ? this.#peakSeen : parseInteger(memoryPeak),
      ioReadBytes: io.read,
      ioWriteBytes: io.write,
      pids,
      oomKills,
    };
  }

  pids(): Promise<number[]> {
    return readProcsOf([this.#dir]);
  }

  async killAll(): Promise<void> {
    const dir = this.#dir;
    const events = await readOptional(`${dir}/cgroup.events`);
    if (events === undefined || parseFlatKeyed(events).get("populated") === 0) return;
    try {
      await writeCgroupFile(`${dir}/cgroup.kill`, "1");
    } catch (err) {
      if (errnoOf(err) !== "ENOENT") throw fromOsError(err, `kill the job ${this.jobId}`);
      await this.#freezeAndKill();
    }
    await waitForEvent(dir, "populated", 0, `the cgroup of job ${this.jobId} to empty`);
  }

  /**
   * Kernels before 5.14 have no cgroup.kill: freeze so nothing can fork while
   * we read the PIDs, SIGKILL each (fatal signals reach frozen v2 tasks), thaw.
   */
  async #freezeAndKill(): Promise<void> {
    const dir = this.#dir;
    await writeSetting(`${dir}/cgroup.freeze`, "1", `freeze the job ${this.jobId}`);
    try {
      await waitForEvent(dir, "frozen", 1, `the cgroup of job ${this.jobId} to freeze`);
      signalPids(await this.pids(), "SIGKILL");
    } finally {
      await writeSetting(`${dir}/cgroup.freeze`, "0", `thaw the job ${this.jobId}`);
    }
  }

  async remove(): Promise<void> {
    await this.killAll();
    await removeCgroupDirs([this.#dir]);
  }
}

/**
 * Resolves once `key` in cgroup.events reads `value` (or the cgroup is gone).
 * Event-driven: the kernel signals every change of cgroup.events as a file
 * modification, which fs.watch (inotify) delivers. The watch starts before
 * the first read, so a change between the two is not missed.
 */
function waitForEvent(dir: string, key: string, value: number, what: string): Promise<void> {
  const file = `${dir}/cgroup.events`;
  return new Promise((resolve, reject) => {
    let watcher: FSWatcher | undefined;
    let settled = false;
    const finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      watcher?.close();
      if (err === undefined) resolve();
      else reject(err);
    };
    const check = () => {
      readOptional(file).then(
        (text) => {
          if (text === undefined || parseFlatKeyed(text).get(key) === value) finish();
        },
        (err: unknown) => {
          finish(JobError.from(err));
        },
      );
    };
    const timer = setTimeout(() => {
      finish(
        new JobError("internal", `timed out after ${EVENT_TIMEOUT_MS} ms waiting for ${what}`),
      );
    }, EVENT_TIMEOUT_MS);
    try {
      watcher = watch(file, check);
      // The watch ends with an error when the cgroup is removed: read once more to settle.
      watcher.on("error", check);
    } catch (err) {
      if (errnoOf(err) === "ENOENT") finish();
      else finish(fromOsError(err, `watch ${file}`));
      return;
    }
    check();
  });
}

/** Sums rbytes and wbytes over the devices of an io.stat file. */
function sumIoStat(text: string | undefined): { read: number; write: number } {
  let read = 0;
  let write = 0;
  for (const match of (text ?? "").matchAll(/\b(rbytes|wbytes)=(\d+)/g)) {
    if (match[1] === "rbytes") read += Number(match[2]);
    else write += Number(match[2]);
  }
  return { read, write };
}

function words(text: string | undefined): Set<string> {
  return new Set((text ?? "").split(/\s+/).filter((word) => word !== ""));
}
