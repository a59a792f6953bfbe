/**
 * The jobs' lives in the server's log, from the worker's `jobworker:job`
 * diagnostics channel: every job's end (state and reason) at info, a record
 * the disk refused at error (the job goes on; the write is retried), and a
 * failed cleanup at warn; and the worker's own problems (`jobworker:worker`,
 * e.g. a leftover scratch folder it cannot remove yet) at warn. The
 * channels are process-wide: two servers in one process would both log
 * every job.
 */
import {
  isFinalState,
  jobChannel,
  workerChannel,
  type JobEvent,
  type WorkerEvent,
} from "../worker/index.ts";
import type { Logger } from "./logger.ts";

/** Starts logging job events; returns the function that stops it. */
export function logJobEvents(logger: Logger): () => void {
  const onEvent = (message: unknown): void => {
    const { type, job, error } = message as JobEvent;
    const fields = { jobId: job.id, owner: job.owner, state: job.state };
    switch (type) {
      case "transition":
        if (isFinalState(job.state)) logger.info({ ...fields, reason: job.reason }, "job ended");
        break;
      case "record-write-failed":
        logger.error(
          { ...fields, reason: error?.message },
          "job record not written; retrying (the job itself goes on)",
        );
        break;
      case "problem":
        logger.warn({ ...fields, reason: error?.message }, "job cleanup failed");
        break;
    }
  };
  const onWorkerEvent = (message: unknown): void => {
    const { error } = message as WorkerEvent;
    logger.warn({ reason: error.message }, "worker problem");
  };
  jobChannel.subscribe(onEvent);
  workerChannel.subscribe(onWorkerEvent);
  return () => {
    jobChannel.unsubscribe(onEvent);
    workerChannel.unsubscribe(onWorkerEvent);
  };
}
