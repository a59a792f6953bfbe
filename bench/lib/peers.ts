/**
 * The tools a host's operator could use instead of jobworker to start an
 * isolated process, as start-latency baselines: Debian's `bwrap`
 * (bubblewrap), `crun` and `runc`, each doing what a job gets (every
 * namespace, a read-only host, a private /tmp, a fresh /proc, the user
 * nobody; the runtimes also cgroup limits).
 *
 * Each peer runs from a small shell loop started once, which runs the tool
 * once per line it reads and answers with its exit code: a round trip costs
 * the tool, a fork of `sh` and a pipe, not a fork of this (large) Node
 * process. That makes the peers as cheap as they can be, so a comparison
 * against them is a strict one. The arguments are this file's constants,
 * passed as positional parameters: nothing is interpolated into the script.
 *
 * The isolated command is `echo running`, its output passed through: the
 * line's arrival is when the peer's job runs (a little after its exec, so
 * a little late: in the peers' favour is not how it errs), and the exit
 * code line after it is its end.
 */
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";

const NOBODY = 65534;
/** The isolated command: its line says it runs. */
const COMMAND = ["/usr/bin/echo", "running"];

interface PeerTiming {
  /** To the command's line (it runs). */
  runningMs: number;
  /** To the tool's exit (its cgroup, if any, removed). */
  endedMs: number;
}

export interface Peer {
  readonly name: string;
  /** Runs the command once under the tool. */
  run(): Promise<PeerTiming>;
  close(): Promise<void>;
}

/** Whether `command` is on PATH (the peers are optional: only measured when installed). */
export function installed(command: string): boolean {
  return spawnSync("sh", ["-c", 'command -v "$1"', "sh", command]).status === 0;
}

/**
 * A shell loop, started once with `wrapper` in front of it, that runs
 * `tool` once per request. `prelude` runs once first (a constant of this
 * file: the crun mount fix below).
 */
function loopRunner(
  name: string,
  tool: readonly string[],
  { wrapper = [], prelude = "" }: { wrapper?: readonly string[]; prelude?: string } = {},
): Peer {
  const script = `${prelude}
while read -r _; do "$@" </dev/null 2>/dev/null; echo "exit $?"; done`;
  const [command = "sh", ...args] = [...wrapper, "sh", "-c", script, "sh", ...tool];
  const child = spawn(command, args, { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  return {
    name,
    async run() {
      const t0 = performance.now();
      child.stdin.write("\n");
      const first = await lines.next();
      const runningMs = performance.now() - t0;
      const second = await lines.next();
      const endedMs = performance.now() - t0;
      if (first.value !== "running" || second.value !== "exit 0") {
        throw new Error(
          `${name} failed (${String(first.value)}, ${String(second.value)}); run it by hand to see why`,
        );
      }
      return { runningMs, endedMs };
    },
    async close() {
      child.stdin.end();
      if (child.exitCode === null) await once(child, "exit");
    },
  };
}

/** util-linux: what any root user has at hand (no cgroup). */
export function utilLinux(): Peer {
  return loopRunner("unshare + setpriv (util-linux)", [
    "unshare",
    "--pid",
    "--fork",
    "--mount-proc",
    "--uts",
    "--ipc",
    "--net",
    "--",
    "setpriv",
    `--reuid=${String(NOBODY)}`,
    `--regid=${String(NOBODY)}`,
    "--clear-groups",
    "--no-new-privs",
    "--",
    ...COMMAND,
  ]);
}

/**
 * bubblewrap, unprivileged as nobody in its own user namespace (as it is
 * meant to be used): the namespaces, a read-only host, private /tmp and
 * /dev/shm, a fresh /proc. bwrap has no cgroup limits.
 */
export function bubblewrap(): Peer {
  return loopRunner("bwrap (no cgroup)", [
    "setpriv",
    `--reuid=${String(NOBODY)}`,
    `--regid=${String(NOBODY)}`,
    "--clear-groups",
    "--",
    "bwrap",
    "--unshare-user",
    "--unshare-pid",
    "--unshare-uts",
    "--unshare-ipc",
    "--unshare-net",
    "--unshare-cgroup",
    "--die-with-parent",
    "--new-session",
    "--ro-bind",
    "/",
    "/",
    "--proc",
    "/proc",
    "--dev",
    "/dev",
    "--tmpfs",
    "/tmp",
    "--tmpfs",
    "/dev/shm",
    "--",
    ...COMMAND,
  ]);
}

export interface RuntimeLimits {
  cpu: number;
  memoryBytes: number;
  pids: number;
}

/**
 * An OCI runtime (`crun` or `runc`) running a bundle whose root is an empty
 * folder with the host's /usr bound read-only (Debian's merged /usr: /bin,
 * /lib... are links into it), tmpfs /tmp and /dev/shm, every namespace, the
 * user nobody, and the cgroup limits a job gets.
 *
 * crun refuses a hybrid hierarchy whose unified part holds a controller
 * ("cgroups in hybrid mode not supported"), as this host's does (hugetlb):
 * its loop runs in a private mount namespace without the unified mount, so
 * crun sees plain cgroup v1 and uses it as runc does. On a pure v1 or v2
 * host the umount fails and nothing changes.
 */
export async function ociRuntime(
  runtime: "crun" | "runc",
  scratch: string,
  limits: RuntimeLimits,
): Promise<Peer> {
  const bundle = await mkdtemp(join(scratch, `${runtime}-bundle-`));
  const rootfs = join(bundle, "rootfs");
  for (const dir of ["usr", "proc", "dev", "tmp"])
    await mkdir(join(rootfs, dir), { recursive: true });
  for (const link of ["bin", "sbin", "lib", "lib64"])
    await symlink(`usr/${link}`, join(rootfs, link));
  await writeFile(join(bundle, "config.json"), JSON.stringify(ociConfig(runtime, limits)));
  const id = `jobworker-bench-${runtime}-${String(process.pid)}`;
  const peer = loopRunner(
    `${runtime} run`,
    [runtime, "run", "--bundle", bundle, id],
    runtime === "crun"
      ? {
          wrapper: ["unshare", "--mount", "--propagation", "private", "--"],
          prelude: "umount /sys/fs/cgroup/unified 2>/dev/null",
        }
      : {},
  );
  return {
    name: peer.name,
    run: () => peer.run(),
    async close() {
      await peer.close();
      await rm(bundle, { recursive: true, force: true });
    },
  };
}

function ociConfig(runtime: string, limits: RuntimeLimits): object {
  const readOnlyBind = (path: string): object => ({
    destination: path,
    type: "bind",
    source: path,
    options: ["rbind", "ro", "nosuid", "nodev"],
  });
  const tmpfs = (path: string): object => ({
    destination: path,
    type: "tmpfs",
    source: "tmpfs",
    options: ["nosuid", "nodev"],
  });
  const periodUsec = 100_000;
  return {
    ociVersion: "1.0.2",
    process: {
      terminal: false,
      user: { uid: NOBODY, gid: NOBODY },
      args: COMMAND,
      env: ["PATH=/usr/bin:/bin"],
      cwd: "/",
      noNewPrivileges: true,
      capabilities: { bounding: [], effective: [], permitted: [] },
    },
    root: { path: "rootfs", readonly: true },
    hostname: "bench",
    mounts: [
      { destination: "/proc", type: "proc", source: "proc" },
      { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "mode=755"] },
      readOnlyBind("/usr"),
      tmpfs("/tmp"),
      tmpfs("/dev/shm"),
    ],
    linux: {
      namespaces: ["pid", "network", "ipc", "uts", "mount", "cgroup"].map((type) => ({ type })),
      cgroupsPath: `/jobworker-bench-${runtime}-${String(process.pid)}`,
      resources: {
        cpu: { quota: Math.round(limits.cpu * periodUsec), period: periodUsec },
        memory: { limit: limits.memoryBytes },
        pids: { limit: limits.pids },
      },
    },
  };
}
