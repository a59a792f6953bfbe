/**
 * The host's room for jobs and its load, as plain data: what all jobs
 * together may reserve (the capacity), what the running ones reserve (each
 * its limits) and use (from their cgroups), and the jobs queued, starting
 * and running, in all and per owner. `Worker.host()` makes it; the server
 * answers GetHost and feeds its metrics from it.
 *
 * Use is summed over the jobs' own cgroups, which are all the parent cgroup
 * holds. CPU and disk IO are rates: the counters' growth since the job was
 * last measured (by any caller), or since it started for a job measured for
 * the first time, so one call gives a figure without sampling twice.
 */
import type { Capacity, Reservation } from "./admission.ts";
import type { JobStatus, LimitName, Usage } from "./types.ts";

/** What jobs use now; CPU in cores, IO in bytes per second. */
export interface LoadUsage {
  cpu: number;
  memoryBytes: number;
  pids: number;
  ioReadBytesPerSecond: number;
  ioWriteBytesPerSecond: number;
}

/** Jobs and their share of the host, for one owner or for all. */
export interface Load {
  queued: number;
  starting: number;
  running: number;
  /** What the starting and running jobs reserve. */
  reserved: Reservation;
  /** What the running jobs use. */
  used: LoadUsage;
}

export interface HostLoad {
  cgroupMode: "v1" | "v2";
  capacity: Capacity;
  /** Limits this host cannot enforce, with the reason. */
  unenforceable: Partial<Record<LimitName, string>>;
  total: Load;
  /** Owners with jobs queued, starting or running, by name. */
  owners: ({ owner: string } & Load)[];
}

/** One job not ended: its status and, while it runs, its live usage. */
export interface ActiveJob {
  status: JobStatus;
  reservation: Reservation;
  usage: Usage | undefined;
}

function emptyLoad(): Load {
  return {
    queued: 0,
    starting: 0,
    running: 0,
    reserved: { memoryBytes: 0, cpu: 0, pids: 0 },
    used: { cpu: 0, memoryBytes: 0, pids: 0, ioReadBytesPerSecond: 0, ioWriteBytesPerSecond: 0 },
  };
}

interface Sample {
  at: number;
  cpuUsec: number;
  ioReadBytes: number;
  ioWriteBytes: number;
}

/** Turns the jobs' cumulative counters into rates between two measurements. */
export class LoadMeter {
  /** The last measurement of each running job; jobs no longer running leave. */
  #last = new Map<string, Sample>();

  /** Sums `jobs` in all and per owner; `now` in ms since the epoch. */
  measure(jobs: readonly ActiveJob[], now: number): Pick<HostLoad, "total" | "owners"> {
    const total = emptyLoad();
    const owners = new Map<string, Load>();
    const next = new Map<string, Sample>();
    for (const { status, reservation, usage } of jobs) {
      let load = owners.get(status.owner);
      if (load === undefined) {
        load = emptyLoad();
        owners.set(status.owner, load);
      }
      for (const into of [total, load]) {
        if (status.state === "queued") into.queued += 1;
        else if (status.state === "starting") into.starting += 1;
        else if (status.state === "running") into.running += 1;
        if (status.state === "starting" || status.state === "running") {
          into.reserved.memoryBytes += reservation.memoryBytes;
          into.reserved.cpu += reservation.cpu;
          into.reserved.pids += reservation.pids;
        }
      }
      if (usage === undefined || status.state !== "running") continue;
      const sample = {
        at: now,
        cpuUsec: usage.cpuUsec,
        ioReadBytes: usage.ioReadBytes,
        ioWriteBytes: usage.ioWriteBytes,
      };
      next.set(status.id, sample);
      const since = this.#last.get(status.id) ?? startOf(status);
      const used = rates(since, sample);
      for (const into of [total, load]) {
        into.used.cpu += used.cpu;
        into.used.memoryBytes += usage.memoryCurrentBytes;
        into.used.pids += usage.pids;
        into.used.ioReadBytesPerSecond += used.ioReadBytesPerSecond;
        into.used.ioWriteBytesPerSecond += used.ioWriteBytesPerSecond;
      }
    }
    this.#last = next;
    const sorted = [...owners].sort(([a], [b]) => a.localeCompare(b));
    return { total, owners: sorted.map(([owner, load]) => ({ owner, ...load })) };
  }
}

/** A job's counters at its start: all zero. */
function startOf(status: JobStatus): Sample {
  const at = status.startedAt === null ? Number.NaN : Date.parse(status.startedAt);
  return { at, cpuUsec: 0, ioReadBytes: 0, ioWriteBytes: 0 };
}

function rates(
  from: Sample,
  to: Sample,
): Pick<LoadUsage, "cpu" | "ioReadBytesPerSecond" | "ioWriteBytesPerSecond"> {
  const seconds = (to.at - from.at) / 1000;
  // Too short a window (or an unknown start) says nothing: no rate rather than a wild one.
  if (!(seconds >= 0.001)) return { cpu: 0, ioReadBytesPerSecond: 0, ioWriteBytesPerSecond: 0 };
  const per = (a: number, b: number): number => Math.max(0, b - a) / seconds;
  return {
    cpu: per(from.cpuUsec, to.cpuUsec) / 1e6,
    ioReadBytesPerSecond: Math.round(per(from.ioReadBytes, to.ioReadBytes)),
    ioWriteBytesPerSecond: Math.round(per(from.ioWriteBytes, to.ioWriteBytes)),
  };
}
