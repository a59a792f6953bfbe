/**
 * Watches one running job's disk: its output file on every growth (the
 * output notifier's inotify wake-ups) and its scratch folder periodically,
 * and says when the job is over its output cap or its disk limit.
 *
 * The output counts by what it takes on disk as well as by its size: a
 * job owns its output's descriptor, so fallocate(KEEP_SIZE) can reserve
 * gigabytes behind a size of a few bytes, and ftruncate can make a size of
 * terabytes that takes nothing (RLIMIT_FSIZE, set by the launcher to the
 * disk limit, bounds that one). The scratch folder is walked (tree-usage.ts)
 * every few seconds; between two walks a job can write past its limit by
 * what its disk bandwidth allows, and the reason says how much it had.
 */
import { stat, truncate } from "node:fs/promises";
import type { TreeUsage } from "./tree-usage.ts";

/**
 * Gives back what a job reserved past the end of its output
 * (fallocate(KEEP_SIZE)), once it has ended: a truncate to the file's own
 * size frees every block past its end, preallocated ones included (ext4,
 * xfs), and the output's bytes stay as they are. Nothing a job reserved
 * outlives it.
 */
export async function trimOutput(file: string): Promise<void> {
  const overAllocated = async (): Promise<{ size: number } | undefined> => {
    const info = await stat(file);
    return info.blocks * 512 <= info.size + info.blksize ? undefined : info;
  };
  const before = await overAllocated();
  if (before === undefined) return;
  await truncate(file, before.size);
  // A file system that ignores a truncate to the same size (tmpfs) frees
  // them when the file shrinks: one byte longer, then back. Only there,
  // because a follower reading in between could see that byte.
  const after = await overAllocated();
  if (after === undefined) return;
  await truncate(file, after.size + 1);
  await truncate(file, after.size);
}

/** Time between two walks of the scratch folder, at least. */
const WALK_INTERVAL_MS = 2_000;
/** A walk may take at most this share of the time: a huge tree is walked less often. */
const WALK_SHARE = 0.05;

export type DiskVerdict =
  { over: "output-cap" } | { over: "disk-limit"; use: DiskUse } | { over: "too-deep" };

export interface DiskUse {
  outputBytes: number;
  scratchBytes: number;
}

export interface DiskWatchOptions {
  outputFile: string;
  outputCapBytes: number;
  /** The job's disk limit (output + scratch); undefined: none. */
  diskLimitBytes: number | undefined;
  /** The job's scratch folder, walked periodically; undefined: none. */
  scratchDir: string | undefined;
  /** Measures a tree (shared with the worker's other jobs, so walks do not pile up). */
  measure: (dir: string) => Promise<TreeUsage>;
  /** Called once, the first time the job is found over a limit. */
  onOver: (verdict: DiskVerdict) => void;
}

export class DiskWatch {
  readonly #options: DiskWatchOptions;
  #use: DiskUse = { outputBytes: 0, scratchBytes: 0 };
  #timer: NodeJS.Timeout | undefined;
  #outputCheck: Promise<void> | undefined;
  #reported = false;
  #stopped = false;

  constructor(options: DiskWatchOptions) {
    this.#options = options;
    if (options.scratchDir !== undefined && options.diskLimitBytes !== undefined) {
      this.#schedule(WALK_INTERVAL_MS);
    }
  }

  /** Output and scratch bytes as last measured. */
  get use(): DiskUse {
    return this.#use;
  }

  /** The output grew: checks it (one check at a time; a burst of growth is one check). */
  outputGrew(): void {
    this.#outputCheck ??= this.#checkOutput().finally(() => {
      this.#outputCheck = undefined;
    });
  }

  /** Measures the output once more (at the job's end) and stops watching. */
  async stop(): Promise<DiskUse> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#outputCheck;
    await this.#checkOutput();
    return this.#use;
  }

  async #checkOutput(): Promise<void> {
    const { outputFile, outputCapBytes } = this.#options;
    const info = await stat(outputFile).catch(() => undefined);
    if (info === undefined) return;
    const allocated = info.blocks * 512;
    this.#use = { ...this.#use, outputBytes: allocated };
    const overCap = Math.max(info.size, allocated) > outputCapBytes;
    const limit = this.#options.diskLimitBytes;
    const overDisk = limit !== undefined && allocated + this.#use.scratchBytes > limit;
    // Over both: the lower one is the one to name (a user's disk limit
    // below the server's output cap is what they were given).
    if (overDisk && (!overCap || limit <= outputCapBytes)) {
      this.#report({ over: "disk-limit", use: this.#use });
    } else if (overCap) {
      this.#report({ over: "output-cap" });
    }
  }

  #checkTotal(): void {
    const limit = this.#options.diskLimitBytes;
    const { outputBytes, scratchBytes } = this.#use;
    if (limit !== undefined && outputBytes + scratchBytes > limit) {
      this.#report({ over: "disk-limit", use: this.#use });
    }
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      void this.#walk();
    }, ms);
    this.#timer.unref();
  }

  async #walk(): Promise<void> {
    const { scratchDir, measure } = this.#options;
    if (scratchDir === undefined || this.#stopped) return;
    const began = performance.now();
    const tree = await measure(scratchDir).catch(() => undefined);
    const took = performance.now() - began;
    if (tree !== undefined) {
      this.#use = { ...this.#use, scratchBytes: tree.bytes };
      if (tree.tooDeep) this.#report({ over: "too-deep" });
      else this.#checkTotal();
    }
    this.#schedule(Math.max(WALK_INTERVAL_MS, took / WALK_SHARE));
  }

  #report(verdict: DiskVerdict): void {
    if (this.#reported || this.#stopped) return;
    this.#reported = true;
    this.#options.onOver(verdict);
  }
}
