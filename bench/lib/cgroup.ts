/**
 * Cgroups made by hand, for the start-latency baseline that runs the
 * launcher without the server: the same folders and limit files the
 * worker's driver writes, with plain mkdir/writeFile and nothing else
 * (synchronous, as the driver makes a job's cgroup).
 */
import { existsSync, mkdirSync, realpathSync, writeFileSync } from "node:fs";
import { mkdir, readdir, rmdir, writeFile } from "node:fs/promises";
import { basename } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { CgroupView } from "../../src/worker/launcher.ts";

const ROOT = "/sys/fs/cgroup";
/** The v1 controllers a job gets a folder in (as the worker's v1 driver). */
const V1_CONTROLLERS = ["cpu", "cpuacct", "memory", "blkio", "pids", "freezer"] as const;
const CPU_PERIOD_USEC = 100_000;

export interface HandLimits {
  cpu: number;
  memoryBytes: number;
  pids: number;
}

export interface HandCgroup {
  /** The cgroup.procs files the launcher joins (--cgroup-procs). */
  procsFiles: string[];
  remove(): Promise<void>;
}

const isV2 = (): boolean => existsSync(`${ROOT}/cgroup.controllers`);

/** The parent folder of `parent` in every hierarchy a job uses, each once. */
function parentFolders(parent: string): string[] {
  if (isV2()) return [`${ROOT}/${parent}`];
  const mounts = V1_CONTROLLERS.map((c) => `${ROOT}/${c}`).filter((dir) => existsSync(dir));
  // Co-mounted controllers ("cpu,cpuacct") are one hierarchy behind two links.
  return [...new Set(mounts.map((dir) => realpathSync(dir)))].map((dir) => `${dir}/${parent}`);
}

/** The job's view of its cgroup the launcher mounts (as the worker's driver names it). */
export function cgroupView(): CgroupView {
  if (isV2()) return { mode: "v2" };
  const mounts = V1_CONTROLLERS.map((c) => `${ROOT}/${c}`).filter((dir) => existsSync(dir));
  // A mount's folder is named after its hierarchy's controllers ("cpu,cpuacct").
  return {
    mode: "v1",
    hierarchies: [...new Set(mounts.map((dir) => basename(realpathSync(dir))))],
  };
}

/** Creates the parent cgroup (v2: with the controllers enabled for children). */
export async function createParent(parent: string): Promise<void> {
  for (const dir of parentFolders(parent)) await mkdir(dir, { recursive: true });
  if (isV2()) await writeFile(`${ROOT}/${parent}/cgroup.subtree_control`, "+cpu +memory +pids");
}

/** A job-like cgroup `name` under `parent`, with cpu, memory and pids limits written. */
export function createHandCgroup(parent: string, name: string, limits: HandLimits): HandCgroup {
  const dirs = parentFolders(parent).map((dir) => `${dir}/${name}`);
  for (const dir of dirs) mkdirSync(dir);
  const quota = String(Math.round(limits.cpu * CPU_PERIOD_USEC));
  const bytes = String(limits.memoryBytes);
  if (isV2()) {
    const [dir = ""] = dirs;
    writeFileSync(`${dir}/cpu.max`, `${quota} ${CPU_PERIOD_USEC}`);
    writeFileSync(`${dir}/memory.max`, bytes);
    writeFileSync(`${dir}/memory.swap.max`, "0");
    writeFileSync(`${dir}/pids.max`, String(limits.pids));
  } else {
    const dirOf = (controller: string): string =>
      dirs.find((dir) => dir.includes(`/${controller}`)) ?? "";
    writeFileSync(`${dirOf("cpu")}/cpu.cfs_period_us`, String(CPU_PERIOD_USEC));
    writeFileSync(`${dirOf("cpu")}/cpu.cfs_quota_us`, quota);
    writeFileSync(`${dirOf("memory")}/memory.limit_in_bytes`, bytes);
    const memsw = `${dirOf("memory")}/memory.memsw.limit_in_bytes`;
    if (existsSync(memsw)) writeFileSync(memsw, bytes);
    writeFileSync(`${dirOf("pids")}/pids.max`, String(limits.pids));
  }
  return {
    procsFiles: dirs.map((dir) => `${dir}/cgroup.procs`),
    remove: () => removeDirs(dirs),
  };
}

/** Removes `parent` and any child cgroups left in it, in every hierarchy. */
export async function removeCgroupTree(parent: string): Promise<void> {
  const roots = isV2()
    ? [ROOT]
    : (await readdir(ROOT)).map((entry) => `${ROOT}/${entry}`).filter((dir) => existsSync(dir));
  for (const root of roots) {
    const dir = `${root}/${parent}`;
    if (!existsSync(dir)) continue;
    const children = (await readdir(dir, { withFileTypes: true }))
      .filter((entry) => entry.isDirectory())
      .map((entry) => `${dir}/${entry.name}`);
    await removeDirs([...children, dir]);
  }
}

/** rmdir each; a cgroup whose last process has just exited may be busy for a moment. */
async function removeDirs(dirs: readonly string[]): Promise<void> {
  for (const dir of dirs) {
    for (let attempt = 0; ; attempt++) {
      const error = await rmdir(dir).then(
        () => undefined,
        (err: unknown) => err as NodeJS.ErrnoException,
      );
      if (error === undefined || error.code === "ENOENT") break;
      if (error.code !== "EBUSY" || attempt >= 50) throw error;
      await sleep(20);
    }
  }
}
