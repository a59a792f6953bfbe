/**
 * Problems of the worker itself, not of one job (a leftover scratch folder
 * found at open that cannot be removed yet), published on the
 * `jobworker:worker` diagnostics channel instead of thrown: the worker goes
 * on, and whoever listens (the server's log) tells the operator.
 */
import { channel } from "node:diagnostics_channel";
import type { JobError } from "./errors.ts";

export interface WorkerEvent {
  type: "problem";
  error: JobError;
}

export const workerChannel = channel("jobworker:worker");

export function reportWorkerProblem(error: JobError): void {
  workerChannel.publish({ type: "problem", error } satisfies WorkerEvent);
}
