/**
 * Removes a folder a job wrote (its scratch folder), whatever it holds: any
 * depth, any path length, and never following a symlink.
 *
 * `fs.rm` works on whole paths, so a tree deeper than PATH_MAX (60 levels of
 * 200-character names) fails with ENAMETOOLONG, and a path-based walk as
 * root is the classic symlink race. This walk is relative to one open
 * folder descriptor at a time: every name is looked up in a folder we hold
 * open (through /proc/self/fd/N, the descriptor-relative path Node can use),
 * a folder is entered only with O_NOFOLLOW|O_DIRECTORY, and unlink/rmdir
 * never follow the last component. It holds one descriptor whatever the
 * depth, going back up through "..": the job's processes are gone by now,
 * so nothing moves the folders under it.
 */
import { constants } from "node:fs";
import { lstat, open, readdir, rmdir, unlink, type FileHandle } from "node:fs/promises";
import { errnoOf } from "../common/errno.ts";

const ENTER_FLAGS =
  constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** A path to `name` inside the folder open as `folder`, never longer than ~300 bytes. */
function inside(folder: FileHandle, name: string): string {
  return `/proc/self/fd/${folder.fd}/${name}`;
}

/** One folder on the way down: the entries still to remove, and its own name in its parent. */
interface Level {
  pending: string[];
  name: string;
}

async function isFolder(folder: FileHandle, name: string): Promise<boolean> {
  const info = await lstat(inside(folder, name));
  return info.isDirectory();
}

/** Removes `root` and everything below it. A missing `root` is fine. */
export async function removeTree(root: string): Promise<void> {
  let folder: FileHandle;
  try {
    folder = await open(root, ENTER_FLAGS);
  } catch (err) {
    if (errnoOf(err) === "ENOENT") return;
    if (errnoOf(err) !== "ENOTDIR" && errnoOf(err) !== "ELOOP") throw err;
    // Not a folder (or a symlink): remove just that.
    await unlink(root);
    return;
  }
  const levels: Level[] = [{ pending: await readdir(inside(folder, "")), name: "" }];
  try {
    for (;;) {
      const level = levels[levels.length - 1];
      if (level === undefined) break;
      const name = level.pending.pop();
      if (name === undefined) {
        // This folder is empty: go up and remove it from its parent.
        levels.pop();
        if (levels.length === 0) break;
        const parent = await open(inside(folder, ".."), ENTER_FLAGS);
        await folder.close();
        folder = parent;
        await remove("folder", inside(folder, level.name));
        continue;
      }
      if (!(await isFolder(folder, name).catch(() => false))) {
        await remove("file", inside(folder, name));
        continue;
      }
      const child = await open(inside(folder, name), ENTER_FLAGS);
      await folder.close();
      folder = child;
      levels.push({ pending: await readdir(inside(folder, "")), name });
    }
  } finally {
    await folder.close();
  }
  await remove("folder", root);
}

/** Removes one entry; one already gone is not an error. */
async function remove(kind: "file" | "folder", path: string): Promise<void> {
  try {
    await (kind === "file" ? unlink(path) : rmdir(path));
  } catch (err) {
    if (errnoOf(err) !== "ENOENT") throw err;
  }
}
