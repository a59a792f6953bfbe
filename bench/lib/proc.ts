/**
 * Memory of another process, from procfs: VmRSS (now) and VmHWM (peak),
 * and a sampler for peaks between two points in time.
 */
import { readFileSync, writeFileSync } from "node:fs";

export interface Rss {
  rssBytes: number;
  hwmBytes: number;
}

export function readRss(pid: number): Rss {
  const text = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string): number => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB$`, "m").exec(text);
    if (match === null) throw new Error(`/proc/${pid}/status has no ${name}`);
    return Number(match[1]) * 1024;
  };
  return { rssBytes: field("VmRSS"), hwmBytes: field("VmHWM") };
}

/** Resets the process's VmHWM to its current RSS (proc(5), clear_refs "5"). */
function resetPeakRss(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, "5");
}

/**
 * Tracks the peak RSS of `pid` from now on: the kernel's own high-water
 * mark (reset at start), cross-checked by sampling.
 */
export class PeakRss {
  readonly #pid: number;
  readonly #timer: NodeJS.Timeout;
  #sampled = 0;

  constructor(pid: number, intervalMs = 100) {
    this.#pid = pid;
    resetPeakRss(pid);
    this.#timer = setInterval(() => {
      this.#sampled = Math.max(this.#sampled, readRss(pid).rssBytes);
    }, intervalMs);
    this.#timer.unref();
  }

  /** Stops sampling; returns the peak seen since construction. */
  stop(): number {
    clearInterval(this.#timer);
    const { rssBytes, hwmBytes } = readRss(this.#pid);
    return Math.max(this.#sampled, rssBytes, hwmBytes);
  }
}

/** Clock ticks per second of /proc/PID/stat's times (USER_HZ: 100 on Linux). */
const CLOCK_TICKS = 100;

/** CPU time `pid` has used so far, user + system, in milliseconds (proc(5)). */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1000) / CLOCK_TICKS;
}
