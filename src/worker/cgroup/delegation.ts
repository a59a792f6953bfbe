/**
 * Where the jobs' cgroups go on cgroup v2: under the cgroup the server was
 * started in when that one is its own to manage, as systemd hands a
 * service with Delegate=yes its cgroup (e.g. /system.slice/jobworker.service);
 * else under the root of the hierarchy, as before.
 *
 * systemd's rules for a delegated cgroup
 * (https://systemd.io/CGROUP_DELEGATION/): manage only below it, and mind
 * the kernel's "no processes in inner nodes" rule, under which a cgroup
 * holding processes cannot pass controllers on to children. So the server
 * first moves itself into a leaf of its own (SUPERVISOR; the native spawner
 * and the launchers it forks are started later, from there), and only then
 * are the controllers enabled in its cgroup for the jobs' parent beside it:
 *
 *   /sys/fs/cgroup/system.slice/jobworker.service/   (systemd's, delegated)
 *     supervisor/      the server, its spawner
 *     jobworker/<id>/  one per job (the cgroup parent option names "jobworker")
 *
 * The cgroup is taken as the server's own when it is not the root of the
 * hierarchy and holds no process but the server and its children, as
 * systemd starts a service's main process. The mark systemd sets on a
 * delegated cgroup (the trusted.delegate extended attribute) cannot be read
 * from Node, which has no getxattr. A process started by hand shares its
 * login session's cgroup with the shell (and so keeps the old layout), and
 * one in the root cgroup (no systemd) has nowhere else to go.
 */
import { readFile } from "node:fs/promises";
import { errnoOf } from "../../common/errno.ts";
import { fromOsError } from "../os-errors.ts";
import { makeCgroupDir, pathExists, readProcs, writeCgroupFile } from "./cgroup-files.ts";

/** The leaf the server moves into, below the cgroup it was started in. */
const SUPERVISOR = "supervisor";

/**
 * When the cgroup this process was started in is its own to manage (see
 * above), moves the process and its children into SUPERVISOR below it and
 * returns that cgroup's folder; otherwise returns undefined and moves
 * nothing. Started in SUPERVISOR already (a restart in place, or systemd's
 * DelegateSubgroup=supervisor), it returns the cgroup above.
 */
export async function claimOwnCgroup(mountPoint: string): Promise<string | undefined> {
  const own = ownCgroupPath(await readFile("/proc/self/cgroup", "utf8"));
  if (own === undefined) return undefined;
  const dir = `${mountPoint}${own === "/" ? "" : own}`;
  // Only a non-root cgroup has cgroup.type; the root may hold processes and children both.
  if (!(await pathExists(`${dir}/cgroup.type`))) return undefined;
  const procs = await readProcs(`${dir}/cgroup.procs`);
  // Also proves that the mount shows our cgroup namespace (the path is relative to it).
  if (!procs.includes(process.pid)) return undefined;
  if (own.endsWith(`/${SUPERVISOR}`)) return dir.slice(0, -`/${SUPERVISOR}`.length);
  const ours = await Promise.all(
    procs.map(async (pid) => pid === process.pid || (await isChild(pid))),
  );
  if (ours.includes(false)) return undefined;
  const leaf = `${dir}/${SUPERVISOR}`;
  await makeCgroupDir(leaf);
  for (const pid of procs) {
    // One pid per write; in v2 it moves every thread of that process.
    await writeCgroupFile(`${leaf}/cgroup.procs`, String(pid)).catch((err: unknown) => {
      // A child that has exited meanwhile has nothing left to move.
      if (errnoOf(err) !== "ESRCH") throw fromOsError(err, `move process ${pid} into ${leaf}`);
    });
  }
  return dir;
}

/**
 * The cgroup v2 path in /proc/self/cgroup ("0::/system.slice/x.service"),
 * relative to this process's cgroup namespace; undefined without one.
 */
function ownCgroupPath(text: string): string | undefined {
  const line = text.split("\n").find((entry) => entry.startsWith("0::"));
  return line?.slice("0::".length);
}

/** Whether `pid` is a child of this process (its parent pid, /proc/PID/stat's fourth field). */
async function isChild(pid: number): Promise<boolean> {
  let stat: string;
  try {
    stat = await readFile(`/proc/${pid}/stat`, "utf8");
  } catch {
    return false;
  }
  // The command name (field 2) is in parentheses and may hold spaces: read after it.
  const [, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(ppid) === process.pid;
}
