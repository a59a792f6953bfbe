/**
 * A job's state machine and its durable record. Every change of state goes
 * through `transition`, which checks it against the allowed moves, writes
 * the record atomically, tells listeners, and publishes it on the
 * `jobworker:job` diagnostics channel.
 */
import { channel } from "node:diagnostics_channel";
import { JobError } from "./errors.ts";
import { writeRecord } from "./job-record.ts";
import { isFinalState, type JobState, type JobStatus } from "./types.ts";

const ALLOWED: Readonly<Record<JobState, readonly JobState[]>> = {
  queued: ["starting", "stopped", "failed"],
  starting: ["running", "failed", "stopped"],
  running: ["succeeded", "failed", "stopped"],
  succeeded: [],
  failed: [],
  stopped: [],
};

/** Payload of the `jobworker:job` diagnostics channel. */
export interface JobEvent {
  /** "problem": something failed that the job's outcome does not depend on
   * (a cleanup), reported instead of thrown. */
  type: "transition" | "record-write-failed" | "problem";
  job: JobStatus;
  from?: JobState;
  error?: JobError;
}

export const jobChannel = channel("jobworker:job");

/** How often a record that could not be written is tried again. */
const RECORD_RETRY_MS = 1000;

type Patch = Partial<Omit<JobStatus, "id" | "state">>;

export class Job {
  #status: JobStatus;
  readonly #recordFile: string;
  readonly #listeners = new Set<(job: JobStatus) => void>();
  readonly #ended = Promise.withResolvers<JobStatus>();
  /** Set when the last record write failed; retried by a timer and by `flush()`. */
  #unsaved = false;
  /** Record writes, one after another: two at once would share the temporary file. */
  #saving: Promise<void> = Promise.resolve();
  #retry: NodeJS.Timeout | undefined;

  constructor(status: JobStatus, recordFile: string) {
    this.#status = status;
    this.#recordFile = recordFile;
    if (isFinalState(status.state)) this.#ended.resolve(this.snapshot());
  }

  get id(): string {
    return this.#status.id;
  }

  get state(): JobState {
    return this.#status.state;
  }

  get owner(): string {
    return this.#status.owner;
  }

  get ended(): boolean {
    return isFinalState(this.#status.state);
  }

  /** A copy of the status that callers may keep and change. */
  snapshot(): JobStatus {
    return structuredClone(this.#status);
  }

  /** Writes the first record; a failure here refuses the job. */
  async create(): Promise<void> {
    await writeRecord(this.#recordFile, this.#status);
  }

  /**
   * Moves to `to`, applying `patch`. The record is written before listeners
   * hear of it; if the disk refuses, the state still changes in memory (the
   * process is real and has ended), the failure is published, and the write
   * is retried by `flush()`.
   */
  async transition(to: JobState, patch: Patch = {}): Promise<void> {
    const from = this.#status.state;
    if (!ALLOWED[from].includes(to)) {
      throw new JobError("internal", `job ${this.id} cannot go from ${from} to ${to}`);
    }
    this.#status = { ...this.#status, ...patch, state: to };
    await this.#save();
    jobChannel.publish({ type: "transition", job: this.snapshot(), from } satisfies JobEvent);
    this.#notify();
    if (isFinalState(to)) this.#ended.resolve(this.snapshot());
  }

  /**
   * Updates live fields (usage, output size) while the job runs; not
   * persisted by itself. Ignored once the job has ended: a sample read just
   * before the end must not overwrite the final record.
   */
  update(patch: Patch): void {
    if (!this.ended) this.#status = { ...this.#status, ...patch };
  }

  /** Retries a record write that failed earlier. */
  async flush(): Promise<void> {
    if (this.#unsaved) await this.#save();
  }

  /** Calls `listener` after every transition; returns the unsubscribe function. */
  onTransition(listener: (job: JobStatus) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Publishes a failure that must not break the job's flow (e.g. a cleanup). */
  reportProblem(doing: string, err: unknown): void {
    const { code, message } = JobError.from(err);
    const error = new JobError(code, `could not ${doing} of job ${this.id}: ${message}`, {
      cause: err,
    });
    jobChannel.publish({ type: "problem", job: this.snapshot(), error } satisfies JobEvent);
  }

  whenEnded(): Promise<JobStatus> {
    return this.#ended.promise;
  }

  /** Queues a write of the status as it is when the write runs (so the newest wins). */
  #save(): Promise<void> {
    this.#saving = this.#saving.then(() => this.#write());
    return this.#saving;
  }

  async #write(): Promise<void> {
    clearTimeout(this.#retry);
    this.#retry = undefined;
    try {
      await writeRecord(this.#recordFile, this.#status);
      this.#unsaved = false;
    } catch (err) {
      this.#unsaved = true;
      jobChannel.publish({
        type: "record-write-failed",
        job: this.snapshot(),
        error: JobError.from(err),
      } satisfies JobEvent);
      // A full disk frees up: keep trying, so the record on disk catches up
      // with the job without waiting for its next transition or a shutdown.
      this.#retry = setTimeout(() => void this.flush(), RECORD_RETRY_MS).unref();
    }
  }

  #notify(): void {
    const job = this.snapshot();
    for (const listener of this.#listeners) listener(job);
  }
}
