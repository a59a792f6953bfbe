/**
 * How much disk a job's scratch folder takes, measured while the job runs
 * (as Kubernetes' kubelet measures an emptyDir against its ephemeral-storage
 * limit): every file's allocated blocks, a sparse file counting only what
 * it holds, and each file, folder or link as at least one 4 KiB block, so
 * that a million empty files, which cost inodes, are not free.
 *
 * The job may change the tree while it is walked, so the walk never goes
 * back up through "..": it keeps each folder on the way down open and looks
 * names up relative to it (/proc/self/fd/N/name, O_NOFOLLOW), which also
 * means a symlink is never followed and no path is ever too long. That
 * costs a descriptor per level, so the walk stops at MAX_DEPTH and says so;
 * the caller treats a tree it cannot measure as over its limit.
 */
import { constants } from "node:fs";
import { lstat, open, readdir, type FileHandle } from "node:fs/promises";

export const MAX_DEPTH = 256;
/** What one file, folder or link counts for at least. */
const ENTRY_FLOOR_BYTES = 4096;

const ENTER_FLAGS =
  constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

export interface TreeUsage {
  bytes: number;
  entries: number;
  /** Folders nested deeper than MAX_DEPTH were found (and not measured). */
  tooDeep: boolean;
}

interface Level {
  folder: FileHandle;
  names: string[];
}

/** Measures the tree at `root` (a missing root measures 0). */
export async function treeUsage(root: string): Promise<TreeUsage> {
  const usage: TreeUsage = { bytes: 0, entries: 0, tooDeep: false };
  const rootFolder = await open(root, ENTER_FLAGS).catch(() => undefined);
  if (rootFolder === undefined) return usage;
  const levels: Level[] = [];
  try {
    levels.push({ folder: rootFolder, names: await namesIn(rootFolder) });
    for (let level = levels.at(-1); level !== undefined; level = levels.at(-1)) {
      const name = level.names.pop();
      if (name === undefined) {
        levels.pop();
        await level.folder.close();
        continue;
      }
      const path = `/proc/self/fd/${level.folder.fd}/${name}`;
      // Gone since it was listed: the job is changing its tree; not counted.
      const info = await lstat(path).catch(() => undefined);
      if (info === undefined) continue;
      usage.entries += 1;
      usage.bytes += Math.max(info.blocks * 512, ENTRY_FLOOR_BYTES);
      if (!info.isDirectory()) continue;
      if (levels.length >= MAX_DEPTH) {
        usage.tooDeep = true;
        continue;
      }
      const folder = await open(path, ENTER_FLAGS).catch(() => undefined);
      if (folder !== undefined) levels.push({ folder, names: await namesIn(folder) });
    }
  } finally {
    for (const level of levels) await level.folder.close();
  }
  return usage;
}

async function namesIn(folder: FileHandle): Promise<string[]> {
  return readdir(`/proc/self/fd/${folder.fd}`).catch(() => []);
}
