/**
 * Runs the real `bin/jobworker.js` with the project's Node (process.execPath)
 * against a real `jobworker serve` on loopback, each in a process of its
 * own, with a temporary client configuration directory (never ~/.config).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { chmod, mkdtemp, readdir, rm, rmdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";

export const BIN = fileURLToPath(new URL("../../bin/jobworker.js", import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** The environment without any JOBWORKER_* or colour settings of the person running the tests. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith("JOBWORKER_") && name !== "NO_COLOR" && name !== "XDG_CONFIG_HOME")
      env[name] = value;
  }
  return { ...env, ...extra };
}

export function spawnCli(args: readonly string[], env: NodeJS.ProcessEnv): ChildProcess {
  return spawn(process.execPath, [BIN, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
}

export function collect(child: ChildProcess): Promise<CliResult> {
  let stdout = "";
  let stderr = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code, signal) => {
      resolve({ code, signal, stdout, stderr });
    });
  });
}

export function runCli(args: readonly string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  return collect(spawnCli(args, env));
}

/** Resolves with the first line of `child`'s stdout that matches, with the match. */
export function waitForLine(
  child: ChildProcess,
  pattern: RegExp,
  timeoutMs = 20_000,
): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let seen = "";
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`no line matching ${String(pattern)} within ${timeoutMs} ms; got: ${seen}`));
    }, timeoutMs);
    const onData = (chunk: Buffer | string): void => {
      seen += String(chunk);
      const match = pattern.exec(seen);
      if (match !== null) {
        cleanup();
        resolve(match);
      }
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error(`the process ended before printing ${String(pattern)}; got: ${seen}`));
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      child.stdout?.off("data", onData);
      child.off("close", onClose);
    };
    child.stdout?.on("data", onData);
    child.once("close", onClose);
  });
}

/**
 * `serve`'s arguments for a test server of its own: a free loopback port,
 * this state directory and cgroup parent, warnings only, and 100 job uids
 * from `uidBase` (servers on one host may not share a range: not the
 * default one, not the test workers').
 */
export function ownServerArgs(stateDir: string, cgroupParent: string, uidBase: number): string[] {
  const firstUid = uidBase + (process.pid % 10_000) * 100;
  return [
    "serve",
    "--listen",
    "127.0.0.1:0",
    "--state-dir",
    stateDir,
    "--cgroup-parent",
    cgroupParent,
    "--uid-range",
    `${String(firstUid)}-${String(firstUid + 99)}`,
    "--log-level",
    "warn",
  ];
}

/**
 * The worker leaves its (empty) parent cgroup behind; remove ours, v1 and v2.
 * A cgroup whose last task has just exited can be busy for a moment.
 */
export async function removeEmptyCgroups(name: string): Promise<void> {
  const root = "/sys/fs/cgroup";
  const entries = await readdir(root).catch(() => []);
  for (const dir of [root, ...entries.map((entry) => join(root, entry))]) {
    for (let attempt = 0; attempt < 20; attempt += 1) {
      const code = await rmdir(join(dir, name)).then(
        () => undefined,
        (err: unknown) => (err as NodeJS.ErrnoException).code,
      );
      if (code !== "EBUSY") break;
      await sleep(100);
    }
  }
}

export interface CliServer {
  /** "127.0.0.1:PORT" */
  address: string;
  root: string;
  stateDir: string;
  tlsDir: string;
  /** The client configuration directory `serve` installed its admin identity in. */
  configDir: string;
  process: ChildProcess;
  /** What serve printed on stdout before "listening on". */
  startup: string;
  /** Environment for client commands: the admin identity, this server. */
  env(extra?: Record<string, string>): NodeJS.ProcessEnv;
  cli(args: readonly string[], extra?: Record<string, string>): Promise<CliResult>;
  /** SIGTERM, and the exit status. Idempotent. */
  stop(): Promise<CliResult>;
  /** stop() and remove every file. */
  dispose(): Promise<void>;
}

let serverCount = 0;

export interface CliServerOptions {
  /** More `serve` options (capacity flags...). */
  args?: readonly string[];
  /** Start `serve` from a shell that lowered its soft open-file limit to this. */
  softOpenFileLimit?: number;
}

export async function startCliServer(options: CliServerOptions = {}): Promise<CliServer> {
  const root = await mkdtemp(join(tmpdir(), "jw-e2e-"));
  // The jobs' uids must pass through to their scratch folders in the state dir.
  await chmod(root, 0o711);
  const stateDir = join(root, "state");
  const tlsDir = join(root, "tls");
  const configDir = join(root, "client");
  // Unique per server: a test file may run more than one at once.
  const cgroupParent = `jobworker-e2e-${process.pid}-${(serverCount += 1)}`;
  const serve = [
    process.execPath,
    BIN,
    "serve",
    "--listen",
    "127.0.0.1:0",
    "--state-dir",
    stateDir,
    "--tls-dir",
    tlsDir,
    "--cgroup-parent",
    cgroupParent,
    "--log-level",
    "warn",
    ...(options.args ?? []),
  ];
  const [program = "", ...args] =
    options.softOpenFileLimit === undefined
      ? serve
      : // exec: the server keeps the shell's pid and its lowered limit.
        [
          "sh",
          "-c",
          'ulimit -Sn "$1" && shift && exec "$@"',
          "sh",
          String(options.softOpenFileLimit),
          ...serve,
        ];
  const child = spawn(program, args, {
    env: cleanEnv({ JOBWORKER_CONFIG_DIR: configDir }),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let startup = "";
  child.stdout.on("data", (chunk: Buffer | string) => (startup += String(chunk)));
  const exited = collect(child);
  const match = await waitForLine(child, /^listening on (127\.0\.0\.1:\d+)$/m);
  const address = match[1] ?? "";
  let stopping: Promise<CliResult> | undefined;
  const server: CliServer = {
    address,
    root,
    stateDir,
    tlsDir,
    configDir,
    process: child,
    startup,
    env: (extra = {}) =>
      cleanEnv({ JOBWORKER_CONFIG_DIR: configDir, JOBWORKER_SERVER: address, ...extra }),
    cli: (args, extra) => runCli(args, server.env(extra)),
    stop() {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
        const result = await exited;
        return { ...result, stdout: startup };
      })();
      return stopping;
    },
    async dispose() {
      await server.stop();
      await rm(root, { recursive: true, force: true });
      await removeEmptyCgroups(cgroupParent);
    },
  };
  return server;
}
