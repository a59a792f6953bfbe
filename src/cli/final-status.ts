/**
 * A job's final status, waiting for it if need be. Output following ends
 * when the job's last byte has been read, which can be a moment before the
 * server records the job as ended; WatchJob ends exactly after the final
 * status, so it is the one reliable way to get it. A dropped connection is
 * ridden out as when following output (see reconnect.ts).
 */
import type { JobClient } from "../client/index.ts";
import type { Connection } from "./connection.ts";
import { isFinal, jobToJson, type JobJson } from "./job-json.ts";
import { attemptCallOptions, reconnectOptionsFor, withReconnect } from "./reconnect.ts";

/** Usage updates are not needed here; one a minute keeps the stream cheap. */
const INTERVAL_MS = 60_000;

async function watchToEnd(client: JobClient, id: string, signal?: AbortSignal): Promise<JobJson> {
  let final: JobJson | undefined;
  const options = signal === undefined ? {} : { signal };
  for await (const message of client.watchJob({ id, intervalMs: INTERVAL_MS }, options)) {
    if (message.job === undefined) continue;
    const job = jobToJson(message.job);
    if (isFinal(job.state)) final = job;
  }
  if (final === undefined)
    throw new Error(`the server's watch of job ${id} ended without its final status`);
  return final;
}

export interface FinalStatusOptions {
  reconnectTimeoutMs: number;
  /** A line for stderr, without the "jobworker: " prefix. */
  notice: (line: string) => void;
  signal?: AbortSignal | undefined;
}

export function finalStatus(
  connection: Connection,
  id: string,
  options: FinalStatusOptions,
): Promise<JobJson> {
  return withReconnect(
    async (attempt) => {
      if (attempt.number > 0) {
        const job = (
          await connection.client.getJob({ id }, attemptCallOptions(attempt, options.signal))
        ).job;
        if (attempt.alive()) options.notice("connection lost; reconnected");
        if (job !== undefined && isFinal(jobToJson(job).state)) return jobToJson(job);
      }
      return watchToEnd(connection.client, id, options.signal);
    },
    reconnectOptionsFor(connection, id, options),
  );
}
