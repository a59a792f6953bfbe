/**
 * Checks a job request before any process starts and turns it into the
 * exact thing to run: the program as named, its arguments, the whole
 * environment and the limits after defaults and ceilings.
 *
 * Nothing here touches the file system on the caller's behalf: the program
 * is found and the working directory entered by the launcher, as the job's
 * own uid (launcher.ts). Checked as root here, they would tell a caller
 * whether a path only root can see exists.
 */
import { isAbsolute } from "node:path";
import { SERVER_SEARCH_PATH } from "./command-path.ts";
import { JobError } from "./errors.ts";
import { checkExecSize } from "./exec-limits.ts";
import { effectiveLimits, type LimitLayer } from "./limit-layers.ts";
import type { ResolvedWorkerOptions } from "./options.ts";
import { isValidUserName, USER_NAME_RULE } from "../common/user-name.ts";
import type { JobSpec, Limits, StartPolicy } from "./types.ts";

/**
 * A request after every check, defaults and ceilings: what the worker
 * launches and records, never changed afterwards. The program is still as
 * named: finding it is the launcher's, as the job's uid (its real path is
 * recorded once it runs, `JobStatus.program`).
 */
export interface CheckedSpec {
  /** The program as the request names it: a path or a bare name (looked up
   * on the server's PATH by the launcher). */
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  /** The working directory asked for, or undefined for a fresh scratch folder. */
  readonly cwd: string | undefined;
  readonly owner: string;
  readonly limits: Readonly<Limits>;
  readonly timeoutMs: number | undefined;
}

/** Arguments past this are refused (execve's own limit is about 2 MiB in all). */
const MAX_ARGS = 65_536;

/**
 * The longest program path or working directory, in bytes: execve and
 * chdir refuse PATH_MAX (4096) bytes or more, the NUL included. Checked here,
 * a longer one is refused before it is launched and recorded; found by the
 * launcher, it became a failed job whose command and reason (each quoting
 * the path) every ListJobs then carried: 3 MiB each in the reliability
 * suite's bad input, answers large enough that a client reading slowly made
 * the server refuse its new calls (ENHANCE_YOUR_CALM, session memory).
 */
export const MAX_PATH_BYTES = 4095;

/**
 * The one pipeline from a request to a CheckedSpec: the request's own
 * checks, then its limits through the caller's policy and the server's
 * rules (limit-layers.ts). `stateDiskBytes` bounds the disk limit (a default
 * larger is lowered to it; a request larger is refused).
 */
export function checkSpec(
  spec: JobSpec,
  options: ResolvedWorkerOptions,
  policy: StartPolicy,
  stateDiskBytes: number,
): CheckedSpec {
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
  rejectLongPath("the command", spec.command);
  rejectNul("command", spec.command);
  args.forEach((arg, index) => {
    rejectNul(`argument ${index + 1}`, arg);
  });
  const env = checkEnv(spec.env ?? {});
  // A job's PATH, unless it sets one, is where the server looks programs up.
  env["PATH"] ??= SERVER_SEARCH_PATH;
  checkExecSize(args, env, options.execBudgetBytes);
  const cwd = checkCwd(spec.cwd);
  if (spec.command.includes("/") && !isAbsolute(spec.command) && cwd === undefined) {
    // Without a cwd the job starts in a fresh, empty scratch folder.
    throw new JobError(
      "invalid_argument",
      `relative command path ${spec.command} needs a working directory (or use an absolute path)`,
    );
  }
  const timeoutMs = spec.timeoutMs;
  if (timeoutMs !== undefined && (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0)) {
    throw new JobError(
      "invalid_argument",
      `timeout must be a positive whole number of ms, not ${timeoutMs}`,
    );
  }
  const layers: LimitLayer[] = [
    {
      owner: policy.caller ?? spec.owner,
      defaults: policy.defaultLimits ?? {},
      ceilings: policy.ceilings ?? {},
    },
    {
      owner: "this server",
      defaults: options.defaultLimits,
      ceilings: { ...options.ceilings, diskBytes: stateDiskBytes },
    },
  ];
  const limits = effectiveLimits(spec.limits ?? {}, layers, options.hostCores);
  return Object.freeze({
    command: spec.command,
    args: Object.freeze(args),
    env: Object.freeze(env),
    cwd,
    owner: spec.owner,
    limits: Object.freeze(limits),
    timeoutMs,
  });
}

/** The message gives the length, not the path: it may be megabytes. */
function rejectLongPath(what: string, path: string): void {
  const bytes = Buffer.byteLength(path);
  if (bytes > MAX_PATH_BYTES) {
    throw new JobError(
      "invalid_argument",
      `${what} is ${bytes} bytes long; a path is at most ${MAX_PATH_BYTES} bytes`,
    );
  }
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

function checkCwd(cwd: string | undefined): string | undefined {
  if (cwd === undefined || cwd === "") return undefined;
  rejectLongPath("the working directory", cwd);
  rejectNul("working directory", cwd);
  if (!isAbsolute(cwd)) {
    throw new JobError(
      "invalid_argument",
      `working directory must be an absolute path, not ${cwd}`,
    );
  }
  return cwd;
}
