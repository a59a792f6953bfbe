/**
 * One host, one owner per job uid: a record of which state directory uses
 * which uid range, that every server on the host reads at start.
 *
 * Two servers handing out the same uids would let one's jobs read the
 * other's scratch files. So at open a server registers its range
 * (REGISTRY/<first>-<last>.json: state directory, pid, process start time)
 * and looks at every overlapping record of another state directory:
 * - its server still runs: refused, with both ranges and what to do;
 * - its server is gone: the ids that still own a scratch folder there are
 *   held (never handed out here) until that server cleans them up; a record
 *   whose state directory holds none is stale and removed.
 * A server removes its record at a clean close when it leaves no scratch
 * folder behind, so a record outlives its server only while the files that
 * matter do; it lives on disk (not /run) for that reason.
 */
import { lstat, mkdir, open, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { JobError } from "./errors.ts";
import { errnoOf } from "../common/errno.ts";
import { fromOsError } from "./os-errors.ts";
import type { UidRange } from "./uid-pool.ts";

/** Where servers on this host record their uid ranges. */
export const DEFAULT_UID_REGISTRY = "/var/lib/jobworker-uid-ranges";

interface RangeRecord {
  first: number;
  last: number;
  stateDir: string;
  pid: number;
  /** /proc/PID/stat's start time: a reused pid is another process. */
  started: string;
}

/** What registering found. */
export interface RangeClaim {
  /** Ids of this range that a stopped server's scratch folders still own. */
  heldForOthers: number[];
  /** Removes the record (when this server leaves no files behind). Idempotent. */
  release(): Promise<void>;
}

const LOCK_WAIT_MS = 5_000;

export async function claimUidRange(
  range: UidRange,
  stateDir: string,
  registry = DEFAULT_UID_REGISTRY,
): Promise<RangeClaim> {
  try {
    await mkdir(registry, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw fromOsError(err, `create the uid range registry ${registry}`);
  }
  const unlock = await lock(registry);
  const heldForOthers: number[] = [];
  try {
    for (const other of await readRecords(registry)) {
      if (other.stateDir === stateDir || other.last < range.first || other.first > range.last) {
        continue;
      }
      if (await isRunning(other)) {
        throw new JobError(
          "failed_precondition",
          `the job uid range ${range.first}-${range.last} overlaps ${other.first}-${other.last}, which the jobworker server pid ${other.pid} (state directory ${other.stateDir}) uses: give each server on a host its own range`,
        );
      }
      const leftovers = await scratchOwners(other.stateDir);
      const held = leftovers.filter((uid) => uid >= range.first && uid <= range.last);
      heldForOthers.push(...held);
      if (leftovers.length === 0) await rm(recordFile(registry, other), { force: true });
    }
    const own: RangeRecord = {
      ...range,
      stateDir,
      pid: process.pid,
      started: await startTimeOf(process.pid),
    };
    await writeFile(recordFile(registry, own), JSON.stringify(own), { mode: 0o600 });
  } finally {
    await unlock();
  }
  let released = false;
  return {
    heldForOthers,
    async release() {
      if (released) return;
      released = true;
      await rm(recordFile(registry, { ...range, stateDir }), { force: true });
    },
  };
}

/** One record per state directory and range (a restart rewrites its own). */
function recordFile(registry: string, record: Pick<RangeRecord, "first" | "last" | "stateDir">) {
  const dir = Buffer.from(record.stateDir).toString("base64url");
  return join(registry, `${record.first}-${record.last}-${dir}.json`);
}

async function readRecords(registry: string): Promise<RangeRecord[]> {
  const records: RangeRecord[] = [];
  for (const name of await readdir(registry)) {
    if (!name.endsWith(".json")) continue;
    try {
      records.push(JSON.parse(await readFile(join(registry, name), "utf8")) as RangeRecord);
    } catch {
      // Half-written by a server that died mid-write: it protects nothing.
    }
  }
  return records;
}

/** The owners of the scratch folders a state directory still holds. */
async function scratchOwners(stateDir: string): Promise<number[]> {
  const root = join(stateDir, "scratch");
  const owners: number[] = [];
  const names = await readdir(root).catch(() => []);
  for (const name of names) {
    const info = await lstat(join(root, name)).catch(() => undefined);
    if (info !== undefined) owners.push(info.uid);
  }
  return owners;
}

async function startTimeOf(pid: number): Promise<string> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
  // Field 22, counted after the command name (which may hold spaces).
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? "";
}

async function isRunning(record: RangeRecord): Promise<boolean> {
  const started = await startTimeOf(record.pid);
  return started !== "" && started === record.started;
}

/**
 * A lock file around read-check-write, so two servers starting at once
 * cannot both find the range free. One left by a dead process is taken over.
 */
async function lock(registry: string): Promise<() => Promise<void>> {
  const file = join(registry, ".lock");
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      const handle = await open(file, "wx", 0o600);
      await handle.writeFile(JSON.stringify({ pid: process.pid }));
      await handle.close();
      return () => rm(file, { force: true });
    } catch (err) {
      if (errnoOf(err) !== "EEXIST") throw fromOsError(err, `lock the uid range registry`);
    }
    const holder = await readFile(file, "utf8")
      .then((text) => (JSON.parse(text) as { pid?: number }).pid)
      .catch(() => undefined);
    const alive = holder !== undefined && (await startTimeOf(holder)) !== "";
    if (!alive || Date.now() > deadline) {
      await rm(file, { force: true });
      continue;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
