/**
 * Watches over one running job: its launcher process, its cgroup, its
 * timeout, its output cap and disk limit (disk-watch.ts), and the
 * escalating stop (SIGTERM to every process, a grace period, then SIGKILL
 * to the whole cgroup). When the launcher exits it collects the final
 * usage, empties and removes the cgroup, and moves the job to its final
 * state.
 */
import { readFile, stat, statfs } from "node:fs/promises";
import type { JobCgroup } from "./cgroup/driver.ts";
import { DiskWatch, trimOutput, type DiskVerdict } from "./disk-watch.ts";
import { decideEnd, stopOutcomeOf, type StopCause, type StopRecord } from "./end-reason.ts";
import { JobError } from "./errors.ts";
import { formatBytes } from "../common/format.ts";
import type { Job } from "./job.ts";
import type { LaunchedJob, LaunchExit } from "./launcher.ts";
import type { OutputNotifier } from "./output-notifier.ts";
import { MAX_DEPTH, type TreeUsage } from "./tree-usage.ts";
import { ZERO_USAGE, type Usage } from "./types.ts";

export interface SupervisorOptions {
  job: Job;
  cgroup: JobCgroup;
  launched: LaunchedJob;
  notifier: OutputNotifier;
  outputFile: string;
  outputCapBytes: number;
  /** The job's scratch folder (counted against its disk limit), if it has one. */
  scratchDir: string | undefined;
  /** Measures a folder tree (the worker shares it between jobs). */
  measure: (dir: string) => Promise<TreeUsage>;
  /** Grace period of a stop that does not name one. */
  defaultGraceMs: number;
  /** True when the launcher runs a PID-1 init in a new pid namespace. */
  hasInit: boolean;
  /** Releases what the job held outside its cgroup (scratch folder, uid). */
  release: () => Promise<void>;
}

export class JobSupervisor {
  readonly #options: SupervisorOptions;
  #stop: StopRecord | undefined;
  #lastUsage: Usage = ZERO_USAGE;
  #usageRead: Promise<void> | undefined;
  #timeout: NodeJS.Timeout | undefined;
  readonly #done: Promise<void>;
  readonly #disk: DiskWatch;
  #exited = false;

  constructor(options: SupervisorOptions) {
    this.#options = options;
    const { job, launched, notifier } = options;
    const diskLimitBytes = job.snapshot().limits.diskBytes;
    this.#disk = new DiskWatch({
      outputFile: options.outputFile,
      outputCapBytes: options.outputCapBytes,
      diskLimitBytes,
      scratchDir: options.scratchDir,
      measure: options.measure,
      onOver: (verdict) => {
        this.#stopForDisk(verdict, diskLimitBytes).catch((err: unknown) => {
          job.reportProblem("stop the job over its disk limit", err);
        });
      },
    });
    const unsubscribe = notifier.onGrowth(() => {
      this.#disk.outputGrew();
    });
    // "running" means exec'ed: the launcher says so on its status channel.
    // The job is running in memory from this callback on; its record follows
    // (`saved`), off the start's critical path: a failed record write never
    // stopped a job (transition() keeps it for a retry), so a caller who
    // waited for it learned nothing more, only later.
    const startedInMemory = launched.started.then(
      ({ program }) => {
        const saved = job.transition("running", {
          startedAt: new Date().toISOString(),
          pid: launched.pid,
          reason: "running",
          program,
        });
        this.#startTimeout();
        return { saved };
      },
      () => undefined,
    );
    const running = startedInMemory.then((started) => started?.saved);
    // Its failure is handled by #done, after the exit: not an unhandled rejection meanwhile.
    running.catch(() => undefined);
    // Never rejects: nobody may be waiting, and a rejection nobody handles
    // would end the server with every job of every user.
    this.#done = launched.exited.then(async (exit) => {
      unsubscribe();
      try {
        await running;
        await this.#finish(exit);
      } catch (err) {
        job.reportProblem("record the end", err);
        // Whoever waits for the end (a stop, a follower) must still see one.
        if (!job.ended) {
          await job
            .transition("failed", {
              reason: `the server could not record how the job ended: ${JobError.from(err).message}`,
              endedAt: new Date().toISOString(),
            })
            .catch(() => undefined);
        }
        notifier.end();
      }
    });
    this.settled = startedInMemory.then((started) =>
      started === undefined ? this.#done : undefined,
    );
  }

  /** Resolves once the job is running (in memory; its record may follow) or
   * has ended (e.g. could not start). */
  readonly settled: Promise<void>;

  /** Wakes the job's output followers while it runs. */
  get notifier(): OutputNotifier {
    return this.#options.notifier;
  }

  /** Resolves once the job has reached its final state and released everything. */
  get done(): Promise<void> {
    return this.#done;
  }

  /**
   * Stops the job: SIGTERM to every process, then SIGKILL to the whole
   * cgroup after `graceMs`. The first cause is kept (a job stopped by
   * request and then killed stays "stopped by request"); a later stop that
   * asks for a shorter grace kills at once. Resolves when the job has ended.
   */
  async stop(
    cause: StopCause,
    graceMs = this.#options.defaultGraceMs,
    detail?: string,
  ): Promise<void> {
    if (this.#stop !== undefined) {
      if (graceMs < this.#stop.graceMs && this.#stop.stage === "term") await this.#kill();
      return this.#done;
    }
    this.#stop = { cause, graceMs, stage: "pending", ...(detail === undefined ? {} : { detail }) };
    // A job still starting is stopped as soon as its command runs (or fails to).
    await this.#options.launched.started.catch(() => undefined);
    if (this.#exited) return this.#done;
    if (graceMs === 0) {
      // No grace: straight to SIGKILL. A SIGTERM first would only give a
      // job flooding its output (the output cap) time to write more.
      await this.#kill();
      return this.#done;
    }
    this.#stop.stage = "term";
    await this.#signalJobProcesses("SIGTERM").catch((err: unknown) => {
      // The grace timer's SIGKILL of the whole cgroup still follows.
      this.#options.job.reportProblem("send SIGTERM to the processes", err);
    });
    const graceTimer = setTimeout(() => {
      void this.#kill();
    }, graceMs);
    try {
      await this.#done;
    } finally {
      clearTimeout(graceTimer);
    }
  }

  /** Live usage from the cgroup (the last sample once the job has ended). */
  async usage(): Promise<Usage> {
    if (!this.#exited) {
      // Callers at the same moment (many status calls or watchers of one
      // job) share one read of the cgroup files instead of each doing
      // seven: under load the reads, not the RPCs, were the cost.
      this.#usageRead ??= this.#options.cgroup
        .usage()
        .then(
          (usage) => {
            const { outputBytes, scratchBytes } = this.#disk.use;
            if (!this.#exited)
              this.#lastUsage = { ...usage, diskBytes: outputBytes + scratchBytes };
          },
          () => {
            // The cgroup may be going away as the job ends: keep the last sample.
          },
        )
        .finally(() => {
          this.#usageRead = undefined;
        });
      await this.#usageRead;
    }
    return this.#lastUsage;
  }

  #startTimeout(): void {
    const { timeoutMs } = this.#options.job.snapshot();
    if (timeoutMs === null || this.#exited) return;
    this.#timeout = setTimeout(() => {
      void this.stop("timeout");
    }, timeoutMs);
  }

  async #kill(): Promise<void> {
    if (this.#exited) return;
    if (this.#stop !== undefined) this.#stop.stage = "kill";
    try {
      await this.#options.cgroup.killAll();
    } catch (err) {
      // The job may end (and its cgroup go) while the kill runs: that is fine.
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- set by #finish during the await
      if (!this.#exited) this.#options.job.reportProblem("kill the processes", err);
    }
  }

  /**
   * SIGTERM goes to the job's own processes, not to the launcher and its
   * init: they forward it to the command, which would then get it twice.
   */
  async #signalJobProcesses(signal: NodeJS.Signals): Promise<void> {
    const { launched, cgroup, hasInit } = this.#options;
    const infrastructure = new Set([launched.pid]);
    if (hasInit) for (const pid of await childrenOf(launched.pid)) infrastructure.add(pid);
    for (const pid of await cgroup.pids()) {
      if (infrastructure.has(pid)) continue;
      try {
        process.kill(pid, signal);
      } catch {
        // Gone between listing and signalling: nothing to stop.
      }
    }
  }

  /** Over the output cap or the disk limit: no grace (it would only let the job write more). */
  async #stopForDisk(verdict: DiskVerdict, limitBytes: number | undefined): Promise<void> {
    if (this.#stop !== undefined) return;
    if (verdict.over === "output-cap") return this.stop("output-cap", 0);
    const limit = formatBytes(limitBytes ?? 0);
    const detail =
      verdict.over === "too-deep"
        ? `its scratch folder nests folders more than ${MAX_DEPTH} deep, too deep to measure against its disk limit of ${limit}`
        : `exceeded its disk limit of ${limit} (output ${formatBytes(verdict.use.outputBytes)}, scratch folder ${formatBytes(verdict.use.scratchBytes)})`;
    return this.stop("disk-limit", 0, detail);
  }

  async #finish(exit: LaunchExit): Promise<void> {
    this.#exited = true;
    clearTimeout(this.#timeout);
    const { job, cgroup, notifier, outputFile } = this.#options;
    // Processes the command left behind (possible without a pid namespace)
    // die with it; only then is the output complete.
    await cgroup.killAll().catch((err: unknown) => {
      job.reportProblem("kill the processes left behind", err);
    });
    await trimOutput(outputFile).catch((err: unknown) => {
      job.reportProblem("free the space reserved past the end of the output", err);
    });
    const usage = await cgroup.usage().catch(() => this.#lastUsage);
    const disk = await this.#disk.stop();
    this.#lastUsage = { ...usage, pids: 0, diskBytes: disk.outputBytes + disk.scratchBytes };
    const spec = job.snapshot();
    const verdict = decideEnd({
      exitCode: exit.exitCode,
      signal: exit.signal,
      oomKills: usage.oomKills,
      stop: this.#stop,
      timeoutMs: spec.timeoutMs,
      outputCapBytes: this.#options.outputCapBytes,
      memoryLimitBytes: spec.limits.memoryBytes,
      diskLimitBytes: spec.limits.diskBytes,
      outputDiskFull: await noSpaceLeft(outputFile),
    });
    const startFailure = await this.#options.launched.started.then(
      () => undefined,
      (err: unknown) => startFailureReason(err instanceof Error ? err.message : String(err)),
    );
    const outputBytes = await stat(outputFile).then(
      (s) => s.size,
      () => spec.outputBytes,
    );
    // Release before the final state is published, so whoever sees the job
    // ended also sees its cgroup and scratch folder gone.
    await cgroup.remove().catch((err: unknown) => {
      job.reportProblem("remove the cgroup", err);
    });
    await this.#options.release();
    await job.transition(startFailure === undefined ? verdict.state : "failed", {
      exitCode: startFailure === undefined ? exit.exitCode : null,
      signal: startFailure === undefined ? exit.signal : null,
      oomKilled: verdict.oomKilled,
      reason: startFailure ?? verdict.reason,
      endedAt: new Date().toISOString(),
      usage: this.#lastUsage,
      outputBytes,
      stopOutcome: stopOutcomeOf(this.#stop),
      endCause: startFailure === undefined ? verdict.cause : "start-failed",
    });
    // Last: a follower that reaches the end of the output sees the job ended.
    notifier.end();
  }
}

/** "could not start: ..." for every start failure, whatever the launcher's words. */
function startFailureReason(message: string): string {
  return message.startsWith("could not ") ? message : `could not start: ${message}`;
}

/** Direct children of `pid` (the launcher's init), from procfs. */
async function childrenOf(pid: number): Promise<number[]> {
  const text = await readFile(`/proc/${pid}/task/${pid}/children`, "utf8").catch(() => "");
  return text
    .split(" ")
    .filter((field) => field !== "")
    .map(Number);
}

/** Free space below which the state directory's file system counts as full:
 * the job's writes fail at 0, but replacing a record (the job's own
 * "running" record, written while it fills the disk) frees a block or two
 * before this is checked. */
const FULL_DISK_SLACK_BYTES = 64 * 1024;

/** Less than the slack left for unprivileged writers on the file system of
 * `file` (the job writes its output itself, as its own uid, so its failed
 * writes are not seen here: this is how a job cut short by a full disk is
 * told apart). */
async function noSpaceLeft(file: string): Promise<boolean> {
  return statfs(file).then(
    (fs) => fs.bavail * fs.bsize < FULL_DISK_SLACK_BYTES,
    () => false,
  );
}
