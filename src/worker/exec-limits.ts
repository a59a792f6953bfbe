/**
 * The kernel's limits on what one execve may carry, checked before a job
 * starts, so an oversized request is the caller's INVALID_ARGUMENT and not
 * a launcher that fails with E2BIG.
 *
 * From fs/exec.c (bprm_stack_limits, copy_strings): every argument and
 * environment string, with its NUL, is at most MAX_ARG_STRLEN (32 pages);
 * all of them together, plus the program's path and one pointer per string,
 * must fit in a quarter of the stack limit, at most 3/4 of _STK_LIM (6 MiB),
 * at least ARG_MAX (32 pages). The job inherits the server's stack limit.
 */
import { readFileSync } from "node:fs";
import { JobError } from "./errors.ts";
import { formatBytes } from "../common/format.ts";

const PAGE = 4096;
const MAX_ARG_STRLEN = 32 * PAGE;
const MIN_TOTAL = 32 * PAGE;
const MAX_TOTAL = (8 * 1024 * 1024 * 3) / 4;
const POINTER_BYTES = 8;
/** Room left for the program's resolved path, unknown until the launcher finds it. */
const PROGRAM_PATH_BYTES = 4096;

/** Bytes of strings and pointers one execve may carry with this process's stack limit. */
export function execBudgetBytes(limitsText = readLimits()): number {
  const match = /^Max stack size\s+(\S+)/m.exec(limitsText);
  const soft = match?.[1];
  const stack = soft === undefined || soft === "unlimited" ? Infinity : Number(soft);
  return Math.max(MIN_TOTAL, Math.min(MAX_TOTAL, Math.floor(stack / 4)));
}

function readLimits(): string {
  try {
    return readFileSync("/proc/self/limits", "utf8");
  } catch {
    return "";
  }
}

/**
 * Refuses arguments and environment the kernel would not exec: one string
 * too long, or all of them together over `budget` bytes.
 */
export function checkExecSize(
  args: readonly string[],
  env: Readonly<Record<string, string>>,
  budget: number,
): void {
  let total = PROGRAM_PATH_BYTES + POINTER_BYTES; // argv[0]: the program
  const add = (what: string, text: string): void => {
    const bytes = Buffer.byteLength(text) + 1;
    if (bytes > MAX_ARG_STRLEN) {
      throw new JobError(
        "invalid_argument",
        `${what} is ${formatBytes(bytes - 1)} long; the kernel takes at most ${MAX_ARG_STRLEN - 1} bytes per argument or environment variable`,
      );
    }
    total += bytes + POINTER_BYTES;
  };
  args.forEach((arg, index) => {
    add(`argument ${index + 1}`, arg);
  });
  for (const [name, value] of Object.entries(env))
    add(`environment variable ${name}`, `${name}=${value}`);
  if (total > budget) {
    throw new JobError(
      "invalid_argument",
      `the arguments and environment take ${formatBytes(total)} (${args.length} arguments, ${Object.keys(env).length} variables); the kernel takes at most ${formatBytes(budget)} for one program`,
    );
  }
}
