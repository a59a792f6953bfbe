/**
 * The job library's entry point: a Worker over a state directory starts,
 * stops, lists and watches jobs, and serves their output. It knows nothing
 * of gRPC, TLS or users beyond the owner name a caller supplies.
 */
import { randomUUID } from "node:crypto";
import { chown, lstat, mkdir, open, readdir, readFile, rm, stat, statfs } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { Admission, type OwnerCaps } from "./admission.ts";
import type { CgroupCapabilities, CgroupDriver } from "./cgroup/driver.ts";
import { openCgroupDriver } from "./cgroup/detect.ts";
import { isJobError, JobError } from "./errors.ts";
import { readAllRecords, writeJsonAtomically, type UnreadableRecord } from "./job-record.ts";
import { checkSpec, type CheckedSpec } from "./job-spec.ts";
import { JobSupervisor } from "./job-supervisor.ts";
import { Job } from "./job.ts";
import { LoadMeter, type ActiveJob, type HostLoad } from "./host-load.ts";
import { resolveAllowList, SERVER_SEARCH_PATH } from "./command-path.ts";
import { findLauncher, launch } from "./launcher.ts";
import { Spawner } from "./spawner.ts";
import { limitWords } from "./limits.ts";
import { resolveWorkerOptions, type ResolvedWorkerOptions, type WorkerOptions } from "./options.ts";
import { fromOsError } from "./os-errors.ts";
import { OutputNotifier } from "./output-notifier.ts";
import type { OutputChunk } from "./output-chunks.ts";
import {
  copiedBytes,
  OutputFiles,
  validateOffset,
  type ReadOutputOptions,
} from "./output-reader.ts";
import { StateDir } from "./state-dir.ts";
import {
  isFinalState,
  LIMIT_NAMES,
  ZERO_USAGE,
  type JobSpec,
  type JobState,
  type JobStatus,
  type LimitName,
  type ListFilter,
  type StartPolicy,
} from "./types.ts";
import { limitConcurrency } from "./limit-concurrency.ts";
import { ScratchCleaner } from "./scratch-cleaner.ts";
import { treeUsage } from "./tree-usage.ts";
import { UidPool } from "./uid-pool.ts";
import { claimUidRange, type RangeClaim } from "./uid-range-registry.ts";
import { reportWorkerProblem } from "./worker-events.ts";

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

/** Scratch folder walks at once: each may hold up to MAX_DEPTH descriptors. */
const MEASUREMENTS_AT_ONCE = 4;

/** Shortest id prefix that names a job (as docker allows). */
export const MIN_ID_PREFIX = 4;

/**
 * The job uids: this server's claim on its range among the servers on the
 * host, and the pool (which picks up where the last one left off). Ids a
 * stopped server's leftover files still own are never handed out.
 */
async function openUids(
  options: ResolvedWorkerOptions,
): Promise<{ pool: UidPool; claim: RangeClaim }> {
  const claim = await claimUidRange(options.uidRange, options.stateDir, options.uidRegistry);
  const pool = await UidPool.open(options.uidRange, new StateDir(options.stateDir).uidPoolFile);
  for (const uid of claim.heldForOthers) pool.hold(uid);
  return { pool, claim };
}

/** The caps a policy sets on its owner's jobs in the queue. */
function ownerCapsOf(policy: StartPolicy): OwnerCaps {
  return { maxRunning: policy.maxRunningJobs, maxQueued: policy.maxQueuedJobs };
}

/** What a job needs to be launched (kept on disk while it is queued). */
interface LaunchPlan {
  checked: CheckedSpec;
  notInForce: LimitName[];
  policy: StartPolicy;
}

export class Worker {
  readonly #options: ResolvedWorkerOptions;
  readonly #stateDir: StateDir;
  readonly #cgroups: CgroupDriver;
  readonly #uids: UidPool | undefined;
  readonly #admission: Admission;
  readonly #jobs = new Map<string, Job>();
  /** Live output notifiers of jobs not yet ended (queued, starting, running). */
  readonly #notifiers = new Map<string, OutputNotifier>();
  readonly #outputs = new OutputFiles();
  readonly #supervisors = new Map<string, JobSupervisor>();
  /** Launches under way (close waits for them before it stops the jobs). */
  readonly #launching = new Set<Promise<unknown>>();
  /** Stops asked for while a job was being set up, before its supervisor existed. */
  readonly #pendingStops = new Map<string, number>();
  readonly #cleaner: ScratchCleaner;
  /** Starts the launchers (one small native process, started once: spawner.ts). */
  readonly #spawner: Spawner;
  /** Walks of scratch folders (disk limits), a few at a time whatever the jobs. */
  readonly #measure = limitConcurrency(treeUsage, MEASUREMENTS_AT_ONCE);
  readonly #uidClaim: RangeClaim | undefined;
  /** CPU and IO rates between two calls of host(). */
  readonly #loadMeter = new LoadMeter();
  #closing: Promise<void> | undefined;
  /** Records that could not be read at open (reported, never fatal). */
  readonly unreadableRecords: readonly UnreadableRecord[];

  private constructor(
    options: ResolvedWorkerOptions,
    launcher: string,
    cgroups: CgroupDriver,
    uids: { pool: UidPool; claim: RangeClaim } | undefined,
    unreadable: UnreadableRecord[],
  ) {
    this.#options = options;
    this.#spawner = new Spawner(launcher);
    this.#stateDir = new StateDir(options.stateDir);
    this.#cgroups = cgroups;
    this.#uids = uids?.pool;
    this.#uidClaim = uids?.claim;
    this.#cleaner = new ScratchCleaner(this.#uids);
    this.#admission = new Admission(options.capacity);
    this.unreadableRecords = unreadable;
  }

  /**
   * Opens a worker on a state directory: prepares it, detects the cgroup
   * mode, and reconciles earlier jobs: any left running is killed and
   * marked failed (nothing runs unsupervised); queued ones queue again in
   * their order.
   */
  static async open(options: WorkerOptions): Promise<Worker> {
    const resolved = resolveWorkerOptions(options);
    const launcher = await findLauncher();
    const stateDir = new StateDir(resolved.stateDir);
    await stateDir.prepare();
    if (resolved.isolation.user) await stateDir.checkReachableByJobs();
    const cgroups = await openCgroupDriver({
      parent: resolved.cgroupParent,
      stateDir: resolved.stateDir,
    });
    // The kernel enforces the sum too, not only our admission queue.
    const { memoryBytes, cpu, pids } = resolved.capacity;
    await cgroups.setParentLimits({ memoryBytes, cpu, pids });
    const uids = resolved.isolation.user ? await openUids(resolved) : undefined;
    const { jobs, unreadable } = await readAllRecords(stateDir);
    const worker = new Worker(resolved, launcher, cgroups, uids, unreadable);
    for (const status of jobs) await worker.#adopt(status);
    await worker.#removeLeftoverScratch();
    return worker;
  }

  /**
   * Scratch folders are removed when their job ends; one left is from a
   * crash (its job was just killed in #adopt). Their uids are held until
   * they are gone; the removal runs in the background and is retried, so
   * no leftover, however deep, keeps the server from starting.
   */
  async #removeLeftoverScratch(): Promise<void> {
    const root = this.#stateDir.scratchRoot;
    for (const id of await readdir(root)) {
      const dir = this.#stateDir.scratchDir(id);
      const owner = (await lstat(dir).catch(() => undefined))?.uid;
      const uid = owner !== undefined && this.#uids?.includes(owner) === true ? owner : undefined;
      if (uid !== undefined) this.#uids?.hold(uid);
      void this.#cleaner.remove(dir, uid, reportWorkerProblem);
    }
  }

  /** How the host's cgroups are driven, and which limits it cannot enforce. */
  get cgroupCapabilities(): CgroupCapabilities {
    return this.#cgroups.capabilities();
  }

  /** What all running jobs together may reserve. */
  get capacity(): ResolvedWorkerOptions["capacity"] {
    return this.#options.capacity;
  }

  /**
   * The host's room for jobs and its load: the capacity, what the jobs
   * starting and running reserve and what the running ones use (live, from
   * their cgroups), the queue, in all and per owner (host-load.ts).
   */
  async host(): Promise<HostLoad> {
    const active = [...this.#jobs.values()].filter((job) => !job.ended);
    const jobs = await Promise.all(
      active.map(async (job): Promise<ActiveJob> => {
        const status = job.snapshot();
        const supervisor = this.#supervisors.get(job.id);
        const usage =
          supervisor !== undefined && status.state === "running"
            ? await supervisor.usage()
            : undefined;
        return { status, reservation: this.#admission.reservationOf(status.limits), usage };
      }),
    );
    const { mode, unenforceable } = this.#cgroups.capabilities();
    return {
      cgroupMode: mode,
      capacity: { ...this.#options.capacity },
      unenforceable,
      ...this.#loadMeter.measure(jobs, Date.now()),
    };
  }

  /**
   * Checks the spec and starts the job, or queues it until it fits within
   * the capacity. Resolves with its status once the command runs, once it
   * has ended if it could not start, or at once when queued. Bad requests,
   * unenforceable limits and jobs larger than the whole capacity throw
   * before any process exists.
   */
  async start(spec: JobSpec, policy: StartPolicy = {}): Promise<JobStatus> {
    this.#assertOpen();
    // Tracked as a whole: a close that begins meanwhile waits for this
    // start, then stops its job like every other.
    return this.#tracked(this.#start(spec, policy));
  }

  async #start(spec: JobSpec, policy: StartPolicy): Promise<JobStatus> {
    const checked = checkSpec(spec, this.#options, policy, await this.#stateDiskBytes());
    const plan: LaunchPlan = { checked, notInForce: this.#limitsNotInForce(checked), policy };
    const reservation = this.#admission.reservationOf(checked.limits);
    this.#admission.checkCouldEverFit(reservation);
    const caps = ownerCapsOf(policy);
    this.#admission.checkQueueRoom(checked.owner, caps);
    const id = randomUUID();
    const created = Promise.withResolvers<Job>();
    // Rejected when the record cannot be written; only a queue callback
    // listens, and an admitted job never registers one.
    created.promise.catch(() => undefined);
    // Admission is decided synchronously, so the queue order is the order of
    // start calls; a job admitted later waits for its record to exist.
    const request = { id, owner: checked.owner, reservation, caps };
    const admittedNow = this.#admission.enqueue(request, () => {
      void created.promise.then(
        (job) => this.#startQueued(job),
        () => undefined,
      );
    });
    let job: Job;
    try {
      job = await this.#create(id, plan, admittedNow ? "starting" : "queued");
    } catch (err) {
      created.reject(err);
      this.#forget(id);
      throw err;
    }
    created.resolve(job);
    if (!admittedNow) return this.status(id);
    try {
      return await this.#launch(job, plan, true);
    } catch (err) {
      // Nothing ran: leave no trace but the error.
      this.#forget(id);
      await rm(this.#stateDir.jobDir(id), { recursive: true, force: true });
      throw JobError.from(err);
    }
  }

  /**
   * Stops a job: SIGTERM to every process, the grace period, then SIGKILL to
   * what is left; a queued job leaves the queue without ever running.
   * Idempotent; resolves with the final status.
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
    if (job.state === "queued" && this.#admission.dequeue(id)) {
      await this.#endQueued(job, "stopped", "stopped by request before it started");
    }
    const supervisor = this.#supervisors.get(id);
    if (supervisor !== undefined) await supervisor.stop("request", graceMs);
    // Admitted but still being set up: the stop waits for its supervisor.
    else if (!job.ended) this.#pendingStops.set(id, graceMs);
    return job.whenEnded();
  }

  /** A job's status, with live usage and output size while it runs. */
  async status(id: string): Promise<JobStatus> {
    const job = this.#get(id);
    const supervisor = this.#supervisors.get(id);
    if (supervisor !== undefined && job.state === "running") {
      job.update({ usage: await supervisor.usage(), outputBytes: await this.#outputSize(id) });
    }
    return { ...job.snapshot(), queuePosition: this.#admission.position(id) };
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
    return Promise.all(jobs.map(async (job) => this.status(job.id)));
  }

  /**
   * The job's output from `offset`: to the current end, or (follow) until the
   * job has ended and every byte was read (for a queued job: it waits for
   * the job to start). Abort `signal` to stop early.
   */
  output(id: string, options: ReadOutputOptions = {}): AsyncIterable<Uint8Array> {
    return copiedBytes(this.outputChunks(id, options));
  }

  /**
   * `output`, without a copy: chunks of buffers shared with the job's other
   * readers, each lent until its `release()`, which the caller must call
   * once it no longer reads the bytes (a server writing them to a socket:
   * once written).
   */
  outputChunks(id: string, options: ReadOutputOptions = {}): AsyncIterable<OutputChunk> {
    this.#get(id);
    if (options.offset !== undefined) validateOffset(options.offset);
    return this.#outputs.read(id, this.#stateDir.outputFile(id), this.#notifiers.get(id), options);
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
        const done = (): void => {
          unsubscribe();
          resolve();
        };
        void sleep(intervalMs, undefined, { signal }).then(done, done);
      });
      const status = await this.status(id);
      yield status;
      if (isFinalState(status.state)) return;
      await changed;
    }
  }

  /**
   * Stops every running job (with the default grace period) and records
   * it; queued jobs stay queued on disk for the next worker. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      // A start under way completes first (no new one begins: #closing is
      // set), so the stops below reach its job too: nothing starts after
      // close, and nothing it started is left running unrecorded.
      await Promise.allSettled(this.#launching);
      await Promise.all(
        [...this.#supervisors.values()].map((supervisor) => supervisor.stop("shutdown")),
      );
      // Followers of queued jobs end (the server is going away).
      for (const notifier of this.#notifiers.values()) notifier.end();
      for (const job of this.#jobs.values()) await job.flush();
      this.#cleaner.close();
      await this.#uids?.flush();
      // The range stays recorded for as long as files of its uids remain.
      const left = await readdir(this.#stateDir.scratchRoot).catch(() => []);
      if (left.length === 0) await this.#uidClaim?.release();
      // Last: its launchers die with it, and every job has ended by now.
      this.#spawner.close();
    })();
    return this.#closing;
  }

  /**
   * The full id of the job `reference` names: its id, or (as with docker) a
   * unique prefix of at least 4 characters. Only jobs of `owner` are
   * considered when given, so a prefix never reveals that someone else's
   * job exists: it answers exactly as for a job that does not exist.
   */
  resolveId(reference: string, owner?: string): string {
    const visible = (job: Job | undefined): job is Job =>
      job !== undefined && (owner === undefined || job.owner === owner);
    if (visible(this.#jobs.get(reference))) return reference;
    const matches =
      reference.length >= MIN_ID_PREFIX
        ? [...this.#jobs.values()].filter((job) => visible(job) && job.id.startsWith(reference))
        : [];
    const [only, second] = matches;
    if (only === undefined) throw new JobError("not_found", `job ${reference} not found`);
    if (second !== undefined) {
      throw new JobError(
        "invalid_argument",
        `job id prefix ${reference} is ambiguous: it matches ${matches.map((job) => job.id).join(", ")}`,
      );
    }
    return only.id;
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

  /** Limits the host cannot enforce: listed (run anyway, as docker does), or refused when strict. */
  #limitsNotInForce(checked: CheckedSpec): LimitName[] {
    const { unenforceable } = this.#cgroups.capabilities();
    const notInForce = LIMIT_NAMES.filter(
      (name) => checked.limits[name] !== undefined && unenforceable[name] !== undefined,
    );
    const first = notInForce[0];
    if (first !== undefined && this.#options.strictLimits) {
      throw new JobError(
        "failed_precondition",
        `this host cannot enforce the ${limitWords(first)} limit: ${unenforceable[first] ?? "unknown reason"}`,
      );
    }
    return notInForce;
  }

  /** Why each of `names` is not in force on this host (kept in the job's record). */
  #notInForceReasons(names: readonly LimitName[]): Partial<Record<LimitName, string>> {
    const { unenforceable } = this.#cgroups.capabilities();
    return Object.fromEntries(names.map((name) => [name, unenforceable[name] ?? "unknown reason"]));
  }

  /** Size of the state directory's file system: no job's disk limit may exceed it. */
  async #stateDiskBytes(): Promise<number> {
    const fs = await statfs(this.#stateDir.root).catch(() => undefined);
    return fs === undefined ? Number.MAX_SAFE_INTEGER : fs.blocks * fs.bsize;
  }

  /** Forgets a job that never ran (its record could not be written or it failed to launch). */
  #forget(id: string): void {
    this.#pendingStops.delete(id);
    this.#admission.dequeue(id);
    this.#admission.release(id);
    this.#notifiers.get(id)?.end();
    this.#notifiers.delete(id);
    this.#jobs.delete(id);
  }

  async #create(id: string, plan: LaunchPlan, state: JobState): Promise<Job> {
    const { checked, notInForce } = plan;
    const job = new Job(
      {
        id,
        owner: checked.owner,
        command: checked.command,
        args: [...checked.args],
        envNames: Object.keys(checked.env),
        cwd: checked.cwd ?? this.#stateDir.scratchDir(id),
        state,
        queuePosition: null,
        exitCode: null,
        signal: null,
        oomKilled: false,
        reason: state === "queued" ? "waiting for capacity" : "starting",
        pid: null,
        uid: null,
        createdAt: new Date().toISOString(),
        startedAt: null,
        endedAt: null,
        limits: checked.limits,
        limitsNotInForce: notInForce,
        limitsNotInForceReasons: this.#notInForceReasons(notInForce),
        timeoutMs: checked.timeoutMs ?? null,
        usage: ZERO_USAGE,
        outputBytes: 0,
        stopOutcome: null,
        endCause: null,
        program: null,
      },
      this.#stateDir.recordFile(id),
    );
    const jobDir = this.#stateDir.jobDir(id);
    const outputFile = this.#stateDir.outputFile(id);
    // The folder's files do not depend on each other: written at once, the
    // start waits for one disk round trip instead of three. All settle
    // before a failure removes the folder, so no late write outlives it.
    try {
      await mkdir(jobDir, { mode: 0o700 });
    } catch (err) {
      throw fromOsError(err, `create the folder of job ${id}`);
    }
    const writes = await Promise.allSettled([
      open(outputFile, "a", 0o600).then(
        (file) => file.close(),
        (err: unknown) => {
          throw fromOsError(err, `create the output file of job ${id}`);
        },
      ),
      job.create(),
      // Durable: the queue must survive a restart, even after a power loss.
      state === "queued" &&
        writeJsonAtomically(this.#stateDir.requestFile(id), plan, {
          doing: `keep the request of queued job ${id}`,
          durable: true,
        }),
    ]);
    const failed = writes.find(
      (write): write is PromiseRejectedResult => write.status === "rejected",
    );
    if (failed !== undefined) {
      await rm(jobDir, { recursive: true, force: true });
      throw failed.reason;
    }
    this.#jobs.set(id, job);
    this.#watchOutput(job);
    return job;
  }

  /** A queued job's turn has come: launch it, or fail it with the reason. */
  /** Never rejects (it runs from queue callbacks nobody awaits): failures end the job. */
  async #startQueued(job: Job): Promise<void> {
    // A closing worker starts nothing: the job stays queued for the next one.
    if (job.state !== "queued" || this.#closing !== undefined) return;
    try {
      // Tracked from this tick on, so a close that begins meanwhile waits for it.
      await this.#tracked(
        (async () => {
          const plan = await this.#readPlan(job.id);
          await job.transition("starting", { reason: "starting" });
          await this.#launch(job, plan, false);
        })(),
      );
      await rm(this.#stateDir.requestFile(job.id), { force: true });
    } catch (err) {
      this.#admission.release(job.id);
      if (job.ended) return;
      await this.#endQueued(job, "failed", `could not start: ${JobError.from(err).message}`).catch(
        (problem: unknown) => {
          job.reportProblem("end the queued job", problem);
        },
      );
    }
  }

  /** Counts a launch as under way until it settles. */
  async #tracked<T>(launching: Promise<T>): Promise<T> {
    this.#launching.add(launching);
    try {
      return await launching;
    } finally {
      this.#launching.delete(launching);
    }
  }

  /** The plan a queued job keeps on disk until it starts. */
  async #readPlan(id: string): Promise<LaunchPlan> {
    return JSON.parse(await readFile(this.#stateDir.requestFile(id), "utf8")) as LaunchPlan;
  }

  /**
   * One output notifier per job until it ends; followers that arrive once
   * it has ended read to the end of the file and stop.
   */
  #watchOutput(job: Job): void {
    this.#notifiers.set(job.id, new OutputNotifier(this.#stateDir.outputFile(job.id)));
    const unsubscribe = job.onTransition((status) => {
      if (!isFinalState(status.state)) return;
      unsubscribe();
      this.#notifiers.delete(job.id);
    });
  }

  /** Ends a job that never ran (stopped while queued, or failed to launch from the queue). */
  async #endQueued(job: Job, state: "stopped" | "failed", reason: string): Promise<void> {
    const notifier = this.#notifiers.get(job.id);
    await rm(this.#stateDir.requestFile(job.id), { force: true });
    await job.transition(state, {
      reason,
      endedAt: new Date().toISOString(),
      stopOutcome: state === "stopped" ? "never-started" : null,
      endCause: state === "stopped" ? "stopped" : "start-failed",
    });
    notifier?.end();
  }

  /** Creates the cgroup, uid and scratch folder, and launches the command. */
  async #launch(job: Job, plan: LaunchPlan, direct: boolean): Promise<JobStatus> {
    const { id } = job;
    const { checked, notInForce, policy } = plan;
    const notifier = this.#notifiers.get(id);
    if (notifier === undefined) throw new JobError("internal", `job ${id} has no output notifier`);
    const approve = await this.#programCheck(checked, policy);
    const uid = this.#uids?.acquire();
    const scratch = checked.cwd === undefined ? this.#stateDir.scratchDir(id) : undefined;
    let cgroup;
    let launched;
    try {
      // Independent: made at once. Both settle before a failure undoes them.
      const [made, created] = await Promise.allSettled([
        scratch === undefined ? undefined : this.#makeScratch(id, uid),
        this.#cgroups.create(id, checked.limits, notInForce),
      ]);
      if (created.status === "rejected") throw created.reason;
      cgroup = created.value;
      if (made.status === "rejected") throw made.reason;
      const { isolation } = this.#options;
      launched = await launch(this.#spawner, {
        program: checked.command,
        args: checked.args,
        env: checked.env,
        cwd: job.snapshot().cwd,
        searchPath: SERVER_SEARCH_PATH,
        ...(uid === undefined ? {} : { user: { uid, gid: uid } }),
        procsFiles: cgroup.procsFiles,
        outputPath: this.#stateDir.outputFile(id),
        namespaces: {
          pid: isolation.pid,
          mount: isolation.mount,
          uts: isolation.uts,
          ipc: isolation.ipc,
          net: isolation.net,
          cgroup: isolation.cgroup && isolation.mount,
        },
        hostname: `job-${id.slice(0, 8)}`,
        ...(scratch === undefined ? {} : { scratch }),
        ...(checked.limits.memoryBytes === undefined
          ? {}
          : { tmpfsBytes: checked.limits.memoryBytes }),
        cgroupView: this.#cgroups.view,
        seccomp: policy.unconfined !== true,
        ...(approve === undefined ? {} : { approve }),
        ...(checked.limits.diskBytes === undefined
          ? {}
          : { fileSizeLimitBytes: checked.limits.diskBytes }),
      });
    } catch (err) {
      await cgroup?.remove();
      await this.#releaseScratch(job, uid);
      throw err;
    }
    job.update({ uid: uid ?? null });
    const supervisor = new JobSupervisor({
      job,
      cgroup,
      launched,
      notifier,
      outputFile: this.#stateDir.outputFile(id),
      outputCapBytes: this.#options.outputCapBytes,
      scratchDir: scratch,
      measure: this.#measure,
      defaultGraceMs: this.#options.defaultGraceMs,
      hasInit: this.#options.isolation.pid,
      release: async () => {
        this.#supervisors.delete(id);
        await this.#releaseScratch(job, uid);
        this.#admission.release(id);
      },
    });
    this.#supervisors.set(id, supervisor);
    const pendingGraceMs = this.#pendingStops.get(id);
    if (pendingGraceMs !== undefined) {
      this.#pendingStops.delete(id);
      void supervisor.stop("request", pendingGraceMs);
    }
    await supervisor.settled;
    // A request the launcher found wrong (no such program, a working
    // directory the job cannot enter, a program not allowed) is refused to
    // the caller who is waiting for it, as a bad request is; start() then
    // removes the job, which never ran. A queued job's caller is gone: it
    // just ends failed, with the reason.
    const refusal = await launched.started.then(
      () => undefined,
      (err: unknown) => err,
    );
    if (
      direct &&
      (isJobError(refusal, "invalid_argument") || isJobError(refusal, "permission_denied"))
    )
      throw refusal;
    // As it is now, without reading its cgroup's usage: it has only just started.
    return job.snapshot();
  }

  /**
   * The check of the program the launcher found, when the policy names the
   * allowed ones: on real paths, both sides resolved (command-path.ts).
   */
  async #programCheck(
    checked: CheckedSpec,
    policy: StartPolicy,
  ): Promise<((realPath: string) => JobError | undefined) | undefined> {
    if (policy.allowedPrograms === undefined) return undefined;
    const allowed = await resolveAllowList(policy.allowedPrograms);
    const caller = policy.caller ?? checked.owner;
    return (realPath) =>
      allowed.has(realPath)
        ? undefined
        : new JobError(
            "permission_denied",
            `the command ${JSON.stringify(checked.command)} (${realPath}) is not allowed for ${caller}`,
            { startFailure: "command-not-allowed" },
          );
  }

  async #makeScratch(id: string, uid: number | undefined): Promise<void> {
    const dir = this.#stateDir.scratchDir(id);
    try {
      await mkdir(dir, { mode: 0o700 });
      if (uid !== undefined) await chown(dir, uid, uid);
    } catch (err) {
      throw fromOsError(err, `create the scratch folder of job ${id}`);
    }
  }

  /** The uid returns to the pool only once its files are gone (never throws). */
  async #releaseScratch(job: Job, uid: number | undefined): Promise<void> {
    await this.#cleaner.remove(this.#stateDir.scratchDir(job.id), uid, (error) => {
      job.reportProblem("clean up", error);
    });
  }

  async #outputSize(id: string): Promise<number> {
    return stat(this.#stateDir.outputFile(id)).then(
      (info) => info.size,
      () => 0,
    );
  }

  /**
   * Takes in a job from the state directory: a queued one queues again; one
   * left starting or running is killed and marked failed.
   */
  async #adopt(status: JobStatus): Promise<void> {
    const job = new Job(status, this.#stateDir.recordFile(status.id));
    this.#jobs.set(status.id, job);
    if (job.ended) return;
    if (job.state === "queued") {
      this.#watchOutput(job);
      const plan = await this.#readPlan(job.id).catch(() => undefined);
      const request = {
        id: status.id,
        owner: status.owner,
        reservation: this.#admission.reservationOf(status.limits),
        caps: ownerCapsOf(plan?.policy ?? {}),
      };
      const admittedNow = this.#admission.enqueue(request, () => {
        void this.#startQueued(job);
      });
      if (admittedNow) void this.#startQueued(job);
      return;
    }
    let usage = status.usage;
    try {
      const cgroup = await this.#cgroups.open(status.id);
      if (cgroup !== undefined) {
        await cgroup.killAll();
        usage = { ...usage, ...(await cgroup.usage()), pids: 0 };
        await cgroup.remove();
      }
    } catch (err) {
      // Reported, not fatal: one job's cgroup must not keep every user's
      // server from starting. The kill is the kernel's to finish.
      job.reportProblem("kill the processes left behind", err);
    }
    await job.transition("failed", {
      reason: ORPHAN_REASON,
      endCause: "server-restart",
      endedAt: new Date().toISOString(),
      usage,
      outputBytes: await this.#outputSize(status.id),
    });
  }
}
