/**
 * Starts a job through the native launcher (native/launcher.c): joins the
 * cgroups, enters the namespaces, sets up the job's file system view, drops
 * to the job's uid, and only then reads what to run, finds the program and
 * enters the working directory, as that uid; it tells us on fd 3 what it
 * resolved and whether the exec worked. Node cannot do these steps itself
 * (no exec, no unshare in a multi-threaded process).
 *
 * The launcher runs as root with an empty environment and no caller data
 * in its arguments: the job's program, arguments, environment and working
 * directory travel on fd 4 (the "job spec", encoded here) and are read by
 * the launcher only after the privilege drop.
 */
import { constants as fsConstants, readFileSync } from "node:fs";
import { access } from "node:fs/promises";
import { constants as osConstants } from "node:os";
import { LAUNCHER_BINARY } from "../../native/build.ts";
import { errnoOf } from "../common/errno.ts";
import { JobError } from "./errors.ts";
import { describeErrno, fromOsError } from "./os-errors.ts";
import type { LaunchExit, SpawnedLauncher, Spawner } from "./spawner.ts";

export type { LaunchExit } from "./spawner.ts";

/** How the job sees its own cgroup: cgroup v2's tree, or these v1 hierarchies. */
export type CgroupView = { mode: "v2" } | { mode: "v1"; hierarchies: readonly string[] };

export interface LaunchRequest {
  /** The program as the request names it: a path (relative ones from `cwd`)
   * or a bare name, looked up on `searchPath` by the launcher as the job's uid. */
  program: string;
  args: readonly string[];
  /** The job's whole environment. */
  env: Readonly<Record<string, string>>;
  cwd: string;
  /** Where bare program names are looked up (the server's, never the job's PATH). */
  searchPath: string;
  /** Runs the command as this uid/gid with no supplementary groups; default: as the server. */
  user?: { uid: number; gid: number };
  /** `cgroup.procs` files the launcher joins before anything else. */
  procsFiles: readonly string[];
  /** The job's output file (it exists): its stdout and stderr, opened O_APPEND by the spawner. */
  outputPath: string;
  namespaces: {
    pid: boolean;
    mount: boolean;
    uts: boolean;
    ipc: boolean;
    net: boolean;
    cgroup: boolean;
  };
  /** Hostname inside the job's UTS namespace (ignored without one). */
  hostname?: string;
  /** The job's scratch folder: kept visible and writable in its read-only view. */
  scratch?: string;
  /** Size of the job's private /tmp, /var/tmp and /dev/shm; default the kernel's. */
  tmpfsBytes?: number;
  /** The job's view of its own cgroup at /sys/fs/cgroup (needs the cgroup and mount namespaces). */
  cgroupView?: CgroupView;
  /** No file the job writes may grow past this (RLIMIT_FSIZE). */
  fileSizeLimitBytes?: number;
  /** Run the command under the default system call filter. @default true */
  seccomp?: boolean;
  /**
   * Decides on the real path of the program (every symlink resolved) before
   * it runs: a JobError refuses it. Absent: any program.
   */
  approve?: (realPath: string) => JobError | undefined;
}

export interface LaunchedJob {
  /** Host PID of the outer launcher process (it lives as long as the command). */
  readonly pid: number;
  /** Resolves, with the real path of the program, once the command has been
   * exec'ed; rejects with a JobError ("could not start: exec format error",
   * "command not found on the server's PATH: x"). */
  readonly started: Promise<{ program: string }>;
  /** Resolves when the launcher has ended (also after a failed start). */
  readonly exited: Promise<LaunchExit>;
}

const ERRNO_NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(osConstants.errno).map(([name, value]) => [value, name]),
);

/** The launcher's steps in words, for messages (the C code's names come from the same file). */
const STEP_WORDS = JSON.parse(
  readFileSync(new URL("../../native/steps.json", import.meta.url), "utf8"),
) as Readonly<Record<string, string>>;

/** An Error shaped like Node's system errors, so fromOsError picks the code. */
function systemError(
  errno: number,
  step: string,
): Error & { code: string; errno: number; syscall: string } {
  const code = ERRNO_NAMES.get(errno) ?? `E${errno}`;
  return Object.assign(new Error(`${step}: ${code}`), { code, errno: -errno, syscall: step });
}

/** Why the program could not be found or entered, worded for the request. */
function resolveFailure(request: LaunchRequest, errno: string, cause: Error): JobError {
  const { program } = request;
  const named = `command ${program}`;
  let why: string;
  const notFound = errno === "ENOENT" || errno === "ENOTDIR";
  if (notFound) {
    why = program.includes("/")
      ? `${named} does not exist`
      : `command not found on the server's PATH: ${program}`;
  } else if (errno === "EACCES") {
    why = `${named} is not executable`;
  } else {
    why = `${named} cannot be executed: ${describeErrno(errno)}`;
  }
  return new JobError("invalid_argument", why, {
    cause,
    startFailure: notFound ? "command-not-found" : "command-not-executable",
  });
}

/** The launcher's "error <step> <errno>" line as the JobError to reject with. */
function failureOf(request: LaunchRequest, step: string, errnoValue: number): JobError {
  const cause = systemError(errnoValue, step);
  const words = describeErrno(cause.code);
  if (step === "resolve") return resolveFailure(request, cause.code, cause);
  if (step === "chdir") {
    const why =
      cause.code === "ENOENT"
        ? "does not exist"
        : cause.code === "ENOTDIR"
          ? "is not a directory"
          : `cannot be entered by the job's user: ${words}`;
    return new JobError("invalid_argument", `working directory ${request.cwd} ${why}`, {
      cause,
      startFailure: "working-directory",
    });
  }
  // fromOsError knows which JobError code an errno maps to; the message is ours.
  const { code } = fromOsError(cause, step);
  if (step === "exec") {
    // The program was found and may be run: the kernel refused the file
    // itself (not a program, an interpreter missing), unless out of memory.
    if (code === "resource_exhausted") {
      return new JobError(code, `could not start: ${words}`, { cause });
    }
    return new JobError("invalid_argument", `could not start: ${words}`, {
      cause,
      startFailure: "command-not-executable",
    });
  }
  return new JobError(code, `could not set up the job: ${STEP_WORDS[step] ?? step}: ${words}`, {
    cause,
  });
}

function launcherArgs(request: LaunchRequest): string[] {
  const argv: string[] = [];
  for (const file of request.procsFiles) argv.push("--cgroup-procs", file);
  if (request.user !== undefined)
    argv.push("--uid", String(request.user.uid), "--gid", String(request.user.gid));
  const { pid, mount, uts, ipc, net, cgroup } = request.namespaces;
  if (uts && request.hostname !== undefined) argv.push("--hostname", request.hostname);
  if (mount && request.scratch !== undefined) argv.push("--scratch", request.scratch);
  if (mount && request.tmpfsBytes !== undefined)
    argv.push("--tmpfs-size", String(request.tmpfsBytes));
  const view = request.cgroupView;
  if (mount && cgroup && view !== undefined) {
    if (view.mode === "v2") argv.push("--cgroup2-view");
    else for (const hierarchy of view.hierarchies) argv.push("--cgroup1-view", hierarchy);
  }
  argv.push("--search-path", request.searchPath);
  if (request.approve !== undefined) argv.push("--approve");
  if (request.seccomp === false) argv.push("--no-seccomp");
  if (request.fileSizeLimitBytes !== undefined)
    argv.push("--file-size-limit", String(request.fileSizeLimitBytes));
  if (!pid) argv.push("--no-pid-ns");
  if (!mount) argv.push("--no-mount-ns");
  if (!uts) argv.push("--no-uts-ns");
  if (!ipc) argv.push("--no-ipc-ns");
  if (!net) argv.push("--no-net-ns");
  if (!cgroup) argv.push("--no-cgroup-ns");
  return argv;
}

/**
 * The job spec as native/job-spec.c reads it: "<length>\n", then
 * NUL-terminated strings: cwd, program, argc, args, envc, "NAME=value"s.
 */
function encodeJobSpec(request: LaunchRequest): Buffer {
  const env = Object.entries(request.env).map(([name, value]) => `${name}=${value}`);
  const strings = [
    request.cwd,
    request.program,
    String(request.args.length),
    ...request.args,
    String(env.length),
    ...env,
  ];
  const payload = Buffer.from(strings.map((s) => `${s}\0`).join(""), "utf8");
  return Buffer.concat([Buffer.from(`${payload.length}\n`, "ascii"), payload]);
}

/**
 * Reads the launcher's status lines. The "program" line carries a path of a
 * stated length (any byte may be in a path), so this is a small parser, not
 * a line splitter.
 */
class StatusReader {
  #buffer = Buffer.alloc(0);

  push(chunk: Buffer): void {
    this.#buffer = Buffer.concat([this.#buffer, chunk]);
  }

  /** The next whole message, or undefined until more bytes arrive. */
  next(): { kind: "program"; path: string } | { kind: "line"; text: string } | undefined {
    const buffer = this.#buffer;
    const program = /^program (\d+) /.exec(buffer.subarray(0, 32).toString("latin1"));
    if (program !== null) {
      const start = program[0].length;
      const end = start + Number(program[1]);
      if (buffer.length < end + 1) return undefined;
      this.#buffer = buffer.subarray(end + 1);
      return { kind: "program", path: buffer.subarray(start, end).toString("utf8") };
    }
    const newline = buffer.indexOf(0x0a);
    if (newline < 0) return undefined;
    this.#buffer = buffer.subarray(newline + 1);
    return { kind: "line", text: buffer.subarray(0, newline).toString("latin1") };
  }

  /** Bytes left over at EOF (a line cut short). */
  get rest(): string {
    return this.#buffer.toString("latin1");
  }
}

/**
 * Talks with the launcher: sends the spec on fd 4, reads its status on fd 3,
 * answers the program check, and settles with the program's real path once
 * the command runs.
 */
async function converse(
  request: LaunchRequest,
  launcher: SpawnedLauncher,
): Promise<{ program: string }> {
  const reader = new StatusReader();
  const { status } = launcher;
  let program: string | undefined;
  let refusal: JobError | undefined;
  for await (const chunk of status as AsyncIterable<Buffer>) {
    reader.push(chunk);
    for (let message = reader.next(); message !== undefined; message = reader.next()) {
      if (message.kind === "program") {
        program = message.path;
        if (request.approve === undefined) continue;
        refusal = request.approve(program);
        launcher.input(refusal === undefined ? "exec\n" : "deny\n");
        launcher.closeInput();
        continue;
      }
      if (message.text === "ok" && program !== undefined) return { program };
      const failed = /^error ([a-z-]+) (\d+)$/.exec(message.text);
      if (failed === null) {
        throw new JobError(
          "internal",
          `could not set up the job: the launcher said "${message.text}"`,
        );
      }
      const [, step = "", errnoText = ""] = failed;
      if (step === "denied" && refusal !== undefined) throw refusal;
      throw failureOf(request, step, Number(errnoText));
    }
  }
  const { exitCode, signal } = await launcher.exited;
  const how = signal !== null ? `killed by ${signal}` : `exit code ${exitCode ?? "unknown"}`;
  const said = reader.rest === "" ? "" : `, after "${reader.rest}"`;
  throw new JobError(
    "internal",
    `could not set up the job: the launcher ended (${how}) before reporting${said}`,
  );
}

/**
 * The launcher binary, found once (Worker.open): one that is not built is a
 * clear error then, not a failed start later.
 */
export async function findLauncher(binary = LAUNCHER_BINARY): Promise<string> {
  try {
    await access(binary, fsConstants.X_OK);
  } catch (err) {
    throw new JobError(
      "failed_precondition",
      `the job launcher ${binary} is not built (${describeErrno(errnoOf(err) ?? "ENOENT")}): build it with \`npm ci\` in a clone, or \`npm rebuild --global jobworker\` where the package is installed`,
      { cause: err },
    );
  }
  return binary;
}

/**
 * Starts the launcher for one job through `spawner`. Resolves once it
 * exists; everything after that is reported through `started` and
 * `exited`. Throws a JobError when the launcher cannot be started at all.
 */
export async function launch(spawner: Spawner, request: LaunchRequest): Promise<LaunchedJob> {
  const launcher = await spawner.launch(
    ["jobworker-launcher", ...launcherArgs(request)],
    request.outputPath,
    encodeJobSpec(request),
  );
  // Without a program check, the spec is all the launcher will read.
  if (request.approve === undefined) launcher.closeInput();
  const started = converse(request, launcher).finally(() => {
    launcher.status.destroy();
  });
  // Awaiters still see the rejection; nobody awaiting must not crash the process.
  started.catch(() => undefined);
  return { pid: launcher.pid, started, exited: launcher.exited };
}
