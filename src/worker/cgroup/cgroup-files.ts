/**
 * Reading and writing cgroupfs files, shared by the v1 and v2 drivers.
 * Cgroup files are parsed by the kernel one write() at a time, so every value
 * goes out in exactly one write; reads tolerate absent files (a controller
 * that is not there reads as nothing, never as an error).
 */
import { closeSync, constants, existsSync, mkdirSync, openSync, writeSync } from "node:fs";
import { access, mkdir, open, readFile, rmdir } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { JobError } from "../errors.ts";
import { errnoOf } from "../../common/errno.ts";
import { fromOsError } from "../os-errors.ts";

/** Reads a whole file, or undefined when it (or its cgroup) does not exist. */
export async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if (errnoOf(err) === "ENOENT" || errnoOf(err) === "ENODEV") return undefined;
    throw fromOsError(err, `read ${path}`);
  }
}

/** Whether a file or folder exists (a cgroup file exists when its controller is on). */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** The integer a cgroup file holds ("max" and absent files read as 0). */
export function parseInteger(text: string | undefined): number {
  const value = Number.parseInt((text ?? "").trim(), 10);
  return Number.isFinite(value) ? value : 0;
}

/** Reads a file holding one integer (see parseInteger). */
export async function readInteger(path: string): Promise<number> {
  return parseInteger(await readOptional(path));
}

/** Parses "key value" lines (cpu.stat, memory.events, memory.oom_control). */
export function parseFlatKeyed(text: string | undefined): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of (text ?? "").split("\n")) {
    const [key, value] = line.trim().split(/\s+/);
    if (key === undefined || value === undefined) continue;
    const number = Number(value);
    if (Number.isFinite(number)) values.set(key, number);
  }
  return values;
}

/** Reads one key of a flat-keyed file; 0 when the file or key is absent. */
export async function readKey(path: string, key: string): Promise<number> {
  return parseFlatKeyed(await readOptional(path)).get(key) ?? 0;
}

/** Writes `value` to a cgroup file in a single write() (the kernel parses each write). */
export async function writeCgroupFile(path: string, value: string): Promise<void> {
  const handle = await open(path, constants.O_WRONLY);
  try {
    await handle.write(value);
  } finally {
    await handle.close();
  }
}

/**
 * writeCgroupFile without the thread pool, for a new job's cgroup: its
 * files are kernel memory, and a write to an empty cgroup returns at once,
 * while each of the async version's three steps would wait for a pool
 * thread behind the disk writes (records, fsyncs) of other starts.
 */
function writeCgroupFileSync(path: string, value: string): void {
  const fd = openSync(path, constants.O_WRONLY);
  try {
    writeSync(fd, value);
  } finally {
    closeSync(fd);
  }
}

/** Like writeCgroupFile, with failures turned into a JobError saying what was being set. */
export async function writeSetting(path: string, value: string, doing: string): Promise<void> {
  try {
    await writeCgroupFile(path, value);
  } catch (err) {
    throw fromOsError(err, doing);
  }
}

/** writeSetting without the thread pool (see writeCgroupFileSync). */
export function writeSettingSync(path: string, value: string, doing: string): void {
  try {
    writeCgroupFileSync(path, value);
  } catch (err) {
    throw fromOsError(err, doing);
  }
}

/** Whether a cgroup file exists (synchronously, as writeCgroupFileSync). */
export function cgroupFileExists(path: string): boolean {
  return existsSync(path);
}

/** PIDs listed in one `cgroup.procs` file (none when the cgroup is gone). */
export async function readProcs(procsFile: string): Promise<number[]> {
  const text = await readOptional(procsFile);
  if (text === undefined) return [];
  return text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => Number.parseInt(line, 10));
}

/** PIDs in any of several cgroup folders (a v1 job has one per hierarchy). */
export async function readProcsOf(dirs: readonly string[]): Promise<number[]> {
  const lists = await Promise.all(dirs.map((dir) => readProcs(`${dir}/cgroup.procs`)));
  return [...new Set(lists.flat())].sort((a, b) => a - b);
}

/** Signals each PID; a process that has already gone is not an error. */
export function signalPids(pids: readonly number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch (err) {
      if (errnoOf(err) !== "ESRCH") throw fromOsError(err, `send ${signal} to process ${pid}`);
    }
  }
}

/** Creates a cgroup folder and any missing ancestors. */
export async function makeCgroupDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    throw fromOsError(err, `create the cgroup ${dir}`);
  }
}

/**
 * Creates a job's cgroup folder, which must not exist yet: a leftover folder
 * could hold limits or processes that are not this job's.
 */
export function makeJobDir(dir: string, jobId: string): void {
  // Synchronous for the reason writeCgroupFileSync gives.
  try {
    mkdirSync(dir);
  } catch (err) {
    if (errnoOf(err) === "EEXIST") {
      throw new JobError("failed_precondition", `the cgroup of job ${jobId} already exists`);
    }
    throw fromOsError(err, `create the cgroup of job ${jobId}`);
  }
}

const RMDIR_RETRY_MS = 10;
const RMDIR_RETRY_LIMIT_MS = 2_000;

/**
 * Removes cgroup folders. ENOENT is success (idempotent). EBUSY is retried
 * briefly: a killed process can stay charged to its cgroup for a moment
 * after it is gone from cgroup.procs.
 */
export async function removeCgroupDirs(dirs: readonly string[]): Promise<void> {
  for (const dir of dirs) {
    const deadline = Date.now() + RMDIR_RETRY_LIMIT_MS;
    for (;;) {
      try {
        await rmdir(dir);
        break;
      } catch (err) {
        const errno = errnoOf(err);
        if (errno === "ENOENT") break;
        if (errno !== "EBUSY" || Date.now() >= deadline) {
          throw fromOsError(err, `remove the cgroup ${dir}`);
        }
        await sleep(RMDIR_RETRY_MS);
      }
    }
  }
}

/**
 * Polls `done` until it holds or `timeoutMs` passes (then a JobError naming
 * `what`). Only for v1, which has no notification file to wait on.
 */
export async function pollUntil(
  done: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let delayMs = 1;
  while (!(await done())) {
    if (Date.now() >= deadline) {
      throw new JobError("internal", `timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await sleep(delayMs);
    delayMs = Math.min(delayMs * 2, 50);
  }
}
