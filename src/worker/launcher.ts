/**
 * Starts a job through the native launcher (native/launcher.c): joins the
 * cgroups, enters the namespaces, drops to the job's uid and execs the
 * command, then tells us on fd 3 whether the exec worked. Node cannot do these
 * steps itself (no exec, no unshare in a multi-threaded process).
 */
import { spawn } from "node:child_process";
import { accessSync, constants as fsConstants } from "node:fs";
import { constants as osConstants } from "node:os";
import { Readable } from "node:stream";
import { launcherPath } from "../../native/build.ts";
import { JobError } from "./errors.ts";
import { describeErrno, fromOsError } from "./os-errors.ts";

export interface LaunchRequest {
  /** Absolute path of the program (the worker resolves PATH before). */
  command: string;
  args: readonly string[];
  /** The job's whole environment. */
  env: Readonly<Record<string, string>>;
  cwd: string;
  /** Runs the command as this uid/gid with no supplementary groups; default: as the server. */
  user?: { uid: number; gid: number };
  /** `cgroup.procs` files the launcher joins before anything else. */
  procsFiles: readonly string[];
  /** An fd opened O_WRONLY|O_APPEND on the output file: the job's stdout and stderr. */
  outputFd: number;
  namespaces: { pid: boolean; mount: boolean; uts: boolean; ipc: boolean; net: boolean };
  /** Hostname inside the job's UTS namespace (ignored without one). */
  hostname?: string;
}

/** How the launcher (hence the command) ended: one of the two is set. */
export interface LaunchExit {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
}

export interface LaunchedJob {
  /** Host PID of the outer launcher process (it lives as long as the command). */
  readonly pid: number;
  /** Resolves once the command has been exec'ed; rejects with a JobError
   * ("could not start: no such file or directory",
   * "could not set up the job: chdir: permission denied"). */
  readonly started: Promise<void>;
  /** Resolves when the launcher has ended (also after a failed start). */
  readonly exited: Promise<LaunchExit>;
}

const ERRNO_NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(osConstants.errno).map(([name, value]) => [value, name]),
);

/** What the launcher's steps are, for messages ("chdir" is clear as it is). */
const STEP_WORDS: Readonly<Record<string, string>> = {
  cgroup: "joining the cgroup",
  pdeathsig: "tying the job to the server's life",
  unshare: "creating the namespaces",
  "mount-private": "making mounts private",
  "mount-proc": "mounting /proc",
  hostname: "setting the hostname",
  loopback: "bringing up the loopback interface",
  "no-new-privs": "setting no_new_privs",
  "close-fds": "closing file descriptors",
  signals: "resetting signals",
  usage: "passing arguments to the launcher",
};

/** An Error shaped like Node's system errors, so fromOsError picks the code. */
function systemError(
  errno: number,
  step: string,
): Error & { code: string; errno: number; syscall: string } {
  const code = ERRNO_NAMES.get(errno) ?? `E${errno}`;
  return Object.assign(new Error(`${step}: ${code}`), { code, errno: -errno, syscall: step });
}

/** Turns the launcher's status line into nothing (started) or the JobError to reject with. */
function parseStatus(line: string): JobError | undefined {
  if (line === "ok") return undefined;
  const match = /^error ([a-z-]+) (\d+)$/.exec(line);
  if (match === null)
    return new JobError("internal", `could not set up the job: the launcher said "${line}"`);
  const [, step = "", errnoText = ""] = match;
  const cause = systemError(Number(errnoText), step);
  const words = describeErrno(cause.code);
  // fromOsError knows which JobError code an errno maps to; the message is ours.
  const { code } = fromOsError(cause, step);
  if (step === "exec") return new JobError(code, `could not start: ${words}`, { cause });
  return new JobError(code, `could not set up the job: ${STEP_WORDS[step] ?? step}: ${words}`, {
    cause,
  });
}

function launcherArgs(request: LaunchRequest): string[] {
  const argv: string[] = [];
  for (const file of request.procsFiles) argv.push("--cgroup-procs", file);
  if (request.user !== undefined)
    argv.push("--uid", String(request.user.uid), "--gid", String(request.user.gid));
  argv.push("--cwd", request.cwd);
  const { pid, mount, uts, ipc, net } = request.namespaces;
  if (uts && request.hostname !== undefined) argv.push("--hostname", request.hostname);
  if (!pid) argv.push("--no-pid-ns");
  if (!mount) argv.push("--no-mount-ns");
  if (!uts) argv.push("--no-uts-ns");
  if (!ipc) argv.push("--no-ipc-ns");
  if (!net) argv.push("--no-net-ns");
  argv.push("--", request.command, ...request.args);
  return argv;
}

async function readAll(stream: Readable): Promise<string> {
  let text = "";
  stream.setEncoding("ascii");
  for await (const chunk of stream) text += String(chunk);
  return text;
}

/**
 * Spawns the launcher for one job. Throws a JobError when the launcher itself
 * cannot be spawned; everything after that is reported through `started`.
 */
export function launch(request: LaunchRequest): LaunchedJob {
  const binary = launcherPath();
  try {
    accessSync(binary, fsConstants.X_OK);
  } catch (err) {
    throw fromOsError(err, "run the job launcher");
  }
  const child = spawn(binary, launcherArgs(request), {
    // fd 3 is the status channel (libuv makes it a socket pair; the
    // launcher only writes and closes it).
    stdio: ["ignore", request.outputFd, request.outputFd, "pipe"],
    env: request.env,
    // Its own session: a Ctrl-C at the server's terminal must not reach
    // the jobs directly (a stop is the worker's decision).
    detached: true,
  });
  const exited = new Promise<LaunchExit>((resolve) => {
    child.once("exit", (exitCode, signal) => {
      resolve({ exitCode, signal });
    });
    // Only spawn failures ('exit' never follows them); handled below.
    child.once("error", () => {
      resolve({ exitCode: null, signal: null });
    });
  });
  const { pid } = child;
  const status = child.stdio[3];
  if (pid === undefined || !(status instanceof Readable)) {
    child.kill("SIGKILL");
    throw new JobError(
      "resource_exhausted",
      "could not start the job launcher (out of processes or file descriptors)",
    );
  }
  const started = (async () => {
    let line: string;
    try {
      line = (await readAll(status)).trim();
    } catch (err) {
      throw new JobError("internal", "could not read the job launcher's status", { cause: err });
    }
    if (line === "") {
      const { exitCode, signal } = await exited;
      const how = signal !== null ? `killed by ${signal}` : `exit code ${exitCode ?? "unknown"}`;
      throw new JobError(
        "internal",
        `could not set up the job: the launcher ended (${how}) before reporting`,
      );
    }
    const failure = parseStatus(line);
    if (failure !== undefined) throw failure;
  })();
  // Awaiters still see the rejection; nobody awaiting must not crash the process.
  started.catch(() => undefined);
  return { pid, started, exited };
}
