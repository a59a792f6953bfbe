/**
 * The job library's entry point: a Worker over a state directory starts,
 * stops, lists and watches jobs, and serves their output. It knows nothing
 * of gRPC, TLS or users beyond the owner name a caller supplies.
 */
import { randomUUID } from "node:crypto";
import { chown, mkdir, open, readdir, rm, stat } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import type { CgroupDriver } from "./cgroup/driver.ts";
import { openCgroupDriver } from "./cgroup/detect.ts";
import { JobError } from "./errors.ts";
import { readAllRecords, type UnreadableRecord } from "./job-record.ts";
import { checkSpec, type CheckedSpec } from "./job-spec.ts";
import { JobSupervisor } from "./job-supervisor.ts";
import { Job } from "./job.ts";
import { launch } from "./launcher.ts";
import { limitWords } from "./limits.ts";
import { resolveWorkerOptions, type ResolvedWorkerOptions, type WorkerOptions } from "./options.ts";
import { fromOsError } from "./os-errors.ts";
import { OutputNotifier } from "./output-notifier.ts";
import { readOutput, validateOffset, type ReadOutputOptions } from "./output-reader.ts";
import { StateDir } from "./state-dir.ts";
import {
  isFinalState,
  LIMIT_NAMES,
  ZERO_USAGE,
  type JobSpec,
  type JobStatus,
  type LimitName,
  type ListFilter,
} from "./types.ts";
import { UidPool } from "./uid-pool.ts";

export interface StopOptions {
  /** Time between SIGTERM and SIGKILL; default: the worker's `defaultGraceMs`. */
  graceMs?: number;
}

export interface WatchOptions {
  /** Period of usage updates while the job runs. @default 1000 */
  intervalMs?: number;
  signal?: AbortSignal;
}

/** Shown for jobs found unfinished when a worker opens their state directory. */
export const ORPHAN_REASON =
  "the server stopped while the job was running; it was killed when the server restarted";

export class Worker {
  readonly #options: ResolvedWorkerOptions;
  readonly #stateDir: StateDir;
  readonly #cgroups: CgroupDriver;
  readonly #uids: UidPool | undefined;
  readonly #jobs = new Map<string, Job>();
  readonly #supervisors = new Map<string, JobSupervisor>();
  #closing: Promise<void> | undefined;
  /** Records that could not be read at open (reported, never fatal). */
  readonly unreadableRecords: readonly UnreadableRecord[];

  private constructor(
    options: ResolvedWorkerOptions,
    cgroups: CgroupDriver,
    uids: UidPool | undefined,
    unreadable: UnreadableRecord[],
  ) {
    this.#options = options;
    this.#stateDir = new StateDir(options.stateDir);
    this.#cgroups = cgroups;
    this.#uids = uids;
    this.unreadableRecords = unreadable;
  }

  /**
   * Opens a worker on a state directory: prepares it, detects the cgroup
   * mode, and reconciles earlier jobs (any left unfinished is killed and
   * marked failed: nothing runs unsupervised).
   */
  static async open(options: WorkerOptions): Promise<Worker> {
    const resolved = resolveWorkerOptions(options);
    const stateDir = new StateDir(resolved.stateDir);
    await stateDir.prepare();
    const cgroups = await openCgroupDriver({ parent: resolved.cgroupParent });
    const uids = resolved.isolation.user ? await UidPool.open(resolved.uidRange) : undefined;
    const { jobs, unreadable } = await readAllRecords(stateDir);
    const worker = new Worker(resolved, cgroups, uids, unreadable);
    for (const status of jobs) await worker.#adopt(status);
    // Scratch folders of ended jobs are removed at their end; any left is
    // from a crash, and no job is running yet.
    for (const id of await readdir(stateDir.scratchRoot)) {
      await rm(stateDir.scratchDir(id), { recursive: true, force: true });
    }
    return worker;
  }

  /** How the host's cgroups are driven, and which limits it cannot enforce. */
  get cgroupCapabilities(): ReturnType<CgroupDriver["capabilities"]> {
    return this.#cgroups.capabilities();
  }

  /**
   * Checks the spec, creates the job's cgroup and starts it. Resolves with
   * its status once the command runs, or once it has ended if it could not
   * start. Bad requests and unenforceable limits throw before any process
   * exists.
   */
  async start(spec: JobSpec): Promise<JobStatus> {
    this.#assertOpen();
    const checked = await checkSpec(spec, this.#options);
    const notInForce = this.#limitsNotInForce(checked);
    const id = randomUUID();
    const uid = this.#uids?.acquire();
    try {
      const job = await this.#create(id, checked, notInForce, uid ?? null);
      return await this.#launch(job, checked, notInForce, uid);
    } catch (err) {
      // Nothing ran: leave no trace but the error.
      await rm(this.#stateDir.jobDir(id), { recursive: true, force: true });
      await this.#releaseScratch(id, uid);
      this.#jobs.delete(id);
      throw JobError.from(err);
    }
  }

  /**
   * Stops a job: SIGTERM to every process, the grace period, then SIGKILL to
   * what is left. Idempotent; resolves with the final status.
   */
  async stop(id: string, options: StopOptions = {}): Promise<JobStatus> {
    const job = this.#get(id);
    const { graceMs = this.#options.defaultGraceMs } = options;
    if (!Number.isSafeInteger(graceMs) || graceMs < 0) {
      throw new JobError(
        "invalid_argument",
        `grace period must be a whole number of ms >= 0, not ${graceMs}`,
      );
    }
    await this.#supervisors.get(id)?.stop("request", graceMs);
    return job.whenEnded();
  }

  /** A job's status, with live usage and output size while it runs. */
  async status(id: string): Promise<JobStatus> {
    const job = this.#get(id);
    const supervisor = this.#supervisors.get(id);
    if (supervisor === undefined || job.ended) return job.snapshot();
    const usage = await supervisor.usage();
    const outputBytes = await this.#outputSize(id);
    job.update({ usage, outputBytes });
    return job.snapshot();
  }

  /** Jobs oldest first, filtered by owner and state. */
  async list(filter: ListFilter = {}): Promise<JobStatus[]> {
    const jobs = [...this.#jobs.values()].filter(
      (job) =>
        (filter.owner === undefined || job.owner === filter.owner) &&
        (filter.states === undefined ||
          filter.states.length === 0 ||
          filter.states.includes(job.state)),
    );
    return Promise.all(jobs.map(async (job) => (job.ended ? job.snapshot() : this.status(job.id))));
  }

  /**
   * The job's output from `offset`: to the current end, or (follow) until the
   * job has ended and every byte was read. Abort `signal` to stop early.
   */
  output(id: string, options: ReadOutputOptions = {}): AsyncIterable<Uint8Array> {
    const job = this.#get(id);
    if (options.offset !== undefined) validateOffset(options.offset);
    const supervisor = this.#supervisors.get(id);
    const notifier = job.ended ? undefined : supervisor?.notifier;
    return readOutput(this.#stateDir.outputFile(id), notifier, options);
  }

  /** Resolves with the final status once the job has ended. */
  async wait(id: string, options: { signal?: AbortSignal } = {}): Promise<JobStatus> {
    const job = this.#get(id);
    const { signal } = options;
    if (signal === undefined) return job.whenEnded();
    signal.throwIfAborted();
    const aborted = new Promise<never>((_, reject) => {
      signal.addEventListener(
        "abort",
        () => {
          reject(signal.reason as Error);
        },
        { once: true },
      );
    });
    return Promise.race([job.whenEnded(), aborted]);
  }

  /**
   * The status now, then after every state change and every `intervalMs`
   * (fresh usage) while the job runs; ends after the final status.
   */
  async *watch(id: string, options: WatchOptions = {}): AsyncGenerator<JobStatus, void, undefined> {
    const job = this.#get(id);
    const { intervalMs = 1000, signal } = options;
    if (!Number.isSafeInteger(intervalMs) || intervalMs < 10) {
      throw new JobError(
        "invalid_argument",
        `watch interval must be at least 10 ms, not ${intervalMs}`,
      );
    }
    for (;;) {
      if (signal?.aborted) return;
      const changed = new Promise<void>((resolve) => {
        const unsubscribe = job.onTransition(() => {
          unsubscribe();
          resolve();
        });
        void sleep(intervalMs, undefined, { signal }).then(
          () => {
            unsubscribe();
            resolve();
          },
          () => {
            unsubscribe();
            resolve();
          },
        );
      });
      const status = await this.status(id);
      yield status;
      if (isFinalState(status.state)) return;
      await changed;
    }
  }

  /**
   * Stops every running job (with the default grace period), records it,
   * and releases what the worker holds. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await Promise.all(
        [...this.#supervisors.values()].map((supervisor) => supervisor.stop("shutdown")),
      );
      for (const job of this.#jobs.values()) await job.flush();
    })();
    return this.#closing;
  }

  #assertOpen(): void {
    if (this.#closing !== undefined) {
      throw new JobError(
        "failed_precondition",
        "the worker is shutting down and starts no new jobs",
      );
    }
  }

  #get(id: string): Job {
    const job = this.#jobs.get(id);
    if (job === undefined) throw new JobError("not_found", `job ${id} not found`);
    return job;
  }

  /** Limits the host cannot enforce: refused, unless the worker allows them (then listed). */
  #limitsNotInForce(checked: CheckedSpec): LimitName[] {
    const { unenforceable } = this.#cgroups.capabilities();
    const notInForce = LIMIT_NAMES.filter(
      (name) => checked.limits[name] !== undefined && unenforceable[name] !== undefined,
    );
    const first = notInForce[0];
    if (first !== undefined && !this.#options.allowUnenforcedLimits) {
      throw new JobError(
        "failed_precondition",
        `this host cannot enforce the ${limitWords(first)} limit: ${unenforceable[first] ?? "unknown reason"}`,
      );
    }
    return notInForce;
  }

  async #create(
    id: string,
    checked: CheckedSpec,
    notInForce: LimitName[],
    uid: number | null,
  ): Promise<Job> {
    const jobDir = this.#stateDir.jobDir(id);
    try {
      await mkdir(jobDir, { mode: 0o700 });
      await (await open(this.#stateDir.outputFile(id), "a", 0o600)).close();
    } catch (err) {
      throw fromOsError(err, `create the folder of job ${id}`);
    }
    const cwd = checked.cwd ?? (await this.#makeScratch(id, uid));
    const job = new Job(
      {
        id,
        owner: checked.owner,
        command: checked.command,
        args: checked.args,
        envNames: Object.keys(checked.env),
        cwd,
        state: "starting",
        exitCode: null,
        signal: null,
        oomKilled: false,
        reason: "starting",
        pid: null,
        uid,
        createdAt: new Date().toISOString(),
        startedAt: null,
        endedAt: null,
        limits: checked.limits,
        limitsNotInForce: notInForce,
        timeoutMs: checked.timeoutMs ?? null,
        usage: ZERO_USAGE,
        outputBytes: 0,
      },
      this.#stateDir.recordFile(id),
    );
    await job.create();
    this.#jobs.set(id, job);
    return job;
  }

  async #launch(
    job: Job,
    checked: CheckedSpec,
    notInForce: LimitName[],
    uid: number | undefined,
  ): Promise<JobStatus> {
    const { id } = job;
    const cgroup = await this.#cgroups.create(id, checked.limits, notInForce);
    const outputFile = this.#stateDir.outputFile(id);
    let launched;
    let notifier;
    try {
      notifier = new OutputNotifier(outputFile);
      const output = await open(outputFile, "a", 0o600);
      const { isolation } = this.#options;
      try {
        launched = launch({
          command: checked.program,
          args: checked.args,
          env: checked.env,
          cwd: job.snapshot().cwd,
          ...(uid === undefined ? {} : { user: { uid, gid: uid } }),
          procsFiles: cgroup.procsFiles,
          outputFd: output.fd,
          namespaces: {
            pid: isolation.pid,
            mount: isolation.mount,
            uts: isolation.uts,
            ipc: isolation.ipc,
            net: isolation.net,
          },
          hostname: `job-${id.slice(0, 8)}`,
        });
      } finally {
        // The launcher has its own copy of the descriptor.
        await output.close();
      }
    } catch (err) {
      notifier?.end();
      await cgroup.remove();
      throw err;
    }
    const supervisor = new JobSupervisor({
      job,
      cgroup,
      launched,
      notifier,
      outputFile,
      outputCapBytes: this.#options.outputCapBytes,
      defaultGraceMs: this.#options.defaultGraceMs,
      hasInit: this.#options.isolation.pid,
      release: async () => {
        this.#supervisors.delete(id);
        await this.#releaseScratch(id, uid);
      },
    });
    this.#supervisors.set(id, supervisor);
    await supervisor.settled;
    return job.snapshot();
  }

  async #makeScratch(id: string, uid: number | null): Promise<string> {
    const dir = this.#stateDir.scratchDir(id);
    try {
      await mkdir(dir, { mode: 0o700 });
      if (uid !== null) await chown(dir, uid, uid);
    } catch (err) {
      throw fromOsError(err, `create the scratch folder of job ${id}`);
    }
    return dir;
  }

  /** The uid returns to the pool only once its files are gone. */
  async #releaseScratch(id: string, uid: number | undefined): Promise<void> {
    await rm(this.#stateDir.scratchDir(id), { recursive: true, force: true });
    if (uid !== undefined) this.#uids?.release(uid);
  }

  async #outputSize(id: string): Promise<number> {
    return stat(this.#stateDir.outputFile(id)).then(
      (info) => info.size,
      () => 0,
    );
  }

  /** Takes in a job from the state directory, ending it if it was left unfinished. */
  async #adopt(status: JobStatus): Promise<void> {
    const job = new Job(status, this.#stateDir.recordFile(status.id));
    this.#jobs.set(status.id, job);
    if (job.ended) return;
    const cgroup = await this.#cgroups.open(status.id);
    let usage = status.usage;
    if (cgroup !== undefined) {
      await cgroup.killAll();
      usage = { ...(await cgroup.usage()), pids: 0 };
      await cgroup.remove();
    }
    await job.transition("failed", {
      reason: ORPHAN_REASON,
      endedAt: new Date().toISOString(),
      usage,
      outputBytes: await this.#outputSize(status.id),
    });
  }
}
