/**
 * Small file operations every layer needs, done one careful way: whether a
 * path exists, and a file written so that a crash or a full disk leaves the
 * old contents or the new, never half of them.
 */
import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { link, lstat, open, readdir, rename, rm, type FileHandle } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { errnoOf } from "./errno.ts";

/** Whether `path` exists (a dangling symlink does); other errors are thrown. */
export async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    if (errnoOf(err) === "ENOENT") return false;
    throw err;
  }
}

export interface AtomicWriteOptions {
  /** The file's mode, exactly (the umask does not apply). @default 0o600 */
  mode?: number;
  /** Also fsync the file and its folder, so it survives a power loss. @default false */
  durable?: boolean;
  /** Replace an existing file; false fails with EEXIST if one is there. @default true */
  replace?: boolean;
}

const TEMPORARY = /^\..+\.[0-9a-f]{12}\.tmp$/;

/**
 * Writes `data` to `path` through a temporary file in the same folder,
 * renamed (or, with `replace: false`, linked: fails if the name exists, so
 * two writers cannot both win) into place. The temporary file is created
 * O_EXCL under a random name: never written through a file or symlink
 * someone planted.
 */
export async function writeFileAtomically(
  path: string,
  data: string | Uint8Array,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const { mode = 0o600, durable = false, replace = true } = options;
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  let handle: FileHandle | undefined;
  // Whether the temporary name may still exist (a rename moves it away;
  // skipping the removal then saves a system call on every record write).
  let temporaryLeft = true;
  try {
    handle = await open(temporary, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
    // The umask has masked `mode` at creation; fchmod sets it exactly.
    await handle.chmod(mode);
    await handle.writeFile(data);
    if (durable) await handle.sync();
    await handle.close();
    handle = undefined;
    if (replace) {
      await rename(temporary, path);
      temporaryLeft = false;
    } else {
      await link(temporary, path);
    }
    if (durable) await syncFolder(dirname(path));
  } finally {
    await handle?.close();
    if (temporaryLeft) await rm(temporary, { force: true });
  }
}

/** Removes what interrupted atomic writes left in `folder` (their files are intact). */
export async function removeTemporaryFiles(folder: string): Promise<void> {
  for (const name of await readdir(folder)) {
    if (TEMPORARY.test(name)) await rm(join(folder, name), { force: true });
  }
}

/** Makes a rename in `folder` durable. */
async function syncFolder(folder: string): Promise<void> {
  const handle = await open(folder, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
