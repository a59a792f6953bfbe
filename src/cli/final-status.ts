/**
 * A job's final status, waiting for it if need be. Output following ends
 * when the job's last byte has been read, which can be a moment before the
 * server records the job as ended; WatchJob ends exactly after the final
 * status, so it is the one reliable way to get it.
 */
import type { JobClient } from "../client/index.ts";
import { isFinal, jobToJson, type JobJson } from "./job-json.ts";

/** Usage updates are not needed here; one a minute keeps the stream cheap. */
const INTERVAL_MS = 60_000;

export async function finalStatus(
  client: JobClient,
  id: string,
  signal?: AbortSignal,
): Promise<JobJson> {
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
