/**
 * Checks a job request before any process starts and turns it into the
 * exact thing to run: an absolute program path, its arguments, the whole
 * environment and the limits after defaults and ceilings.
 */
import { stat } from "node:fs/promises";
import { isAbsolute } from "node:path";
import { DEFAULT_JOB_PATH, resolveCommand } from "./command-path.ts";
import { JobError } from "./errors.ts";
import { effectiveLimits } from "./limits.ts";
import type { ResolvedWorkerOptions } from "./options.ts";
import { errnoOf } from "./os-errors.ts";
import { isValidUserName, USER_NAME_RULE } from "./owner-name.ts";
import type { JobSpec, Limits } from "./types.ts";

export interface CheckedSpec {
  /** As given (for the record). */
  command: string;
  /** Absolute path of the program to execute. */
  program: string;
  args: string[];
  env: Record<string, string>;
  /** The working directory asked for, or undefined for a fresh scratch folder. */
  cwd: string | undefined;
  owner: string;
  limits: Limits;
  timeoutMs: number | undefined;
}

/** Arguments past this are refused (execve's own limit is about 2 MiB in all). */
const MAX_ARGS = 65_536;

export async function checkSpec(
  spec: JobSpec,
  options: ResolvedWorkerOptions,
): Promise<CheckedSpec> {
  if (!isValidUserName(spec.owner)) {
    throw new JobError(
      "invalid_argument",
      `owner ${JSON.stringify(spec.owner)} is not valid: use ${USER_NAME_RULE}`,
    );
  }
  if (typeof spec.command !== "string" || spec.command === "") {
    throw new JobError("invalid_argument", "the command is empty");
  }
  const args = [...(spec.args ?? [])];
  if (args.length > MAX_ARGS) {
    throw new JobError(
      "invalid_argument",
      `too many arguments: ${args.length} (at most ${MAX_ARGS})`,
    );
  }
  rejectNul("command", spec.command);
  args.forEach((arg, index) => {
    rejectNul(`argument ${index + 1}`, arg);
  });
  const env = checkEnv(spec.env ?? {});
  env["PATH"] ??= DEFAULT_JOB_PATH;
  const cwd = await checkCwd(spec.cwd);
  const timeoutMs = spec.timeoutMs;
  if (timeoutMs !== undefined && (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0)) {
    throw new JobError(
      "invalid_argument",
      `timeout must be a positive whole number of ms, not ${timeoutMs}`,
    );
  }
  const limits = effectiveLimits(
    spec.limits ?? {},
    options.defaultLimits,
    options.ceilings,
    options.hostCores,
  );
  const program = await resolveCommand(spec.command, env["PATH"], cwd);
  return { command: spec.command, program, args, env, cwd, owner: spec.owner, limits, timeoutMs };
}

function rejectNul(what: string, value: string): void {
  if (value.includes("\0")) throw new JobError("invalid_argument", `${what} contains a NUL byte`);
}

function checkEnv(env: Readonly<Record<string, string>>): Record<string, string> {
  const checked: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (name === "" || name.includes("=") || name.includes("\0")) {
      throw new JobError(
        "invalid_argument",
        `environment variable name "${name.replaceAll("\0", "\\0")}" is not valid: it must be non-empty without '=' or NUL`,
      );
    }
    if (typeof value !== "string") {
      throw new JobError("invalid_argument", `environment variable ${name} has no string value`);
    }
    rejectNul(`environment variable ${name}`, value);
    checked[name] = value;
  }
  return checked;
}

async function checkCwd(cwd: string | undefined): Promise<string | undefined> {
  if (cwd === undefined || cwd === "") return undefined;
  rejectNul("working directory", cwd);
  if (!isAbsolute(cwd)) {
    throw new JobError(
      "invalid_argument",
      `working directory must be an absolute path, not ${cwd}`,
    );
  }
  try {
    const info = await stat(cwd);
    if (!info.isDirectory())
      throw new JobError("invalid_argument", `working directory ${cwd} is not a directory`);
  } catch (err) {
    if (err instanceof JobError) throw err;
    const errno = errnoOf(err);
    if (errno === "ENOENT" || errno === "ENOTDIR") {
      throw new JobError("invalid_argument", `working directory ${cwd} does not exist`);
    }
    throw new JobError(
      "invalid_argument",
      `working directory ${cwd} cannot be used: ${errno ?? String(err)}`,
    );
  }
  return cwd;
}
