/**
 * Finds the program a job will execute, before any process starts, so that
 * "command not found" is a clear error of the request and not a job that
 * ran and failed. No shell is involved: the same rules as execvp, done here.
 */
import { constants } from "node:fs";
import { stat } from "node:fs/promises";
import { isAbsolute, join, resolve } from "node:path";
import { JobError } from "./errors.ts";
import { errnoOf } from "./os-errors.ts";

/** The minimal PATH a job gets unless its request sets one. */
export const DEFAULT_JOB_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/**
 * Resolves `command` to an absolute path: a name without '/' is looked up
 * on `searchPath`; a relative path is taken from `cwd`, which it then needs.
 */
export async function resolveCommand(
  command: string,
  searchPath: string,
  cwd: string | undefined,
): Promise<string> {
  if (command.includes("/")) {
    if (!isAbsolute(command) && cwd === undefined) {
      // Without a cwd the job starts in a fresh, empty scratch folder.
      throw new JobError(
        "invalid_argument",
        `relative command path ${command} needs a working directory (or use an absolute path)`,
      );
    }
    const path = isAbsolute(command) ? command : resolve(cwd ?? "/", command);
    const problem = await executableProblem(path);
    if (problem !== undefined) throw new JobError("invalid_argument", `command ${path} ${problem}`);
    return path;
  }
  let firstProblem: string | undefined;
  for (const dir of searchPath.split(":")) {
    if (dir === "" || !isAbsolute(dir)) continue;
    const path = join(dir, command);
    const problem = await executableProblem(path);
    if (problem === undefined) return path;
    if (problem !== NOT_FOUND) firstProblem ??= `${path} ${problem}`;
  }
  throw new JobError(
    "invalid_argument",
    firstProblem === undefined
      ? `command not found on PATH: ${command}`
      : `command ${command} cannot be executed: ${firstProblem}`,
  );
}

const NOT_FOUND = "does not exist";

async function executableProblem(path: string): Promise<string | undefined> {
  try {
    const info = await stat(path);
    if (info.isDirectory()) return "is a directory";
    if (!info.isFile()) return "is not a regular file";
    const anyExecuteBit = constants.S_IXUSR | constants.S_IXGRP | constants.S_IXOTH;
    if ((info.mode & anyExecuteBit) === 0) return "is not executable";
    return undefined;
  } catch (err) {
    const errno = errnoOf(err);
    if (errno === "ENOENT" || errno === "ENOTDIR") return NOT_FOUND;
    if (errno === "EACCES") return "is not accessible";
    // A name the kernel refuses to look up is the request's fault, not ours.
    if (errno === "ENAMETOOLONG") return "has a name too long for the system";
    if (errno === "ELOOP") return "has too many levels of symbolic links";
    throw err;
  }
}
