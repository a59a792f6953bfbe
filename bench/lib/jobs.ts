/** Small helpers over the JobService client that several benchmarks share. */
import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { JobClient } from "../../src/client/index.ts";
import { JobState, type Job } from "../../src/gen/jobworker/v1/jobworker_pb.js";

const FINAL = new Set([JobState.SUCCEEDED, JobState.FAILED, JobState.STOPPED]);

function isFinal(job: Job): boolean {
  return FINAL.has(job.state);
}

/** Follows WatchJob until the job's final status, and returns it. */
export async function waitEnded(client: JobClient, id: string): Promise<Job> {
  for await (const { job } of client.watchJob({ id })) {
    if (job !== undefined && isFinal(job)) return job;
  }
  throw new Error(`WatchJob of ${id} ended before the job did`);
}

/** endedAt - startedAt as the server recorded them (ms resolution). */
export function runTimeMs(job: Job): number {
  if (job.startedAt === undefined || job.endedAt === undefined) {
    throw new Error(`job ${job.id} has no start or end time (${job.reason})`);
  }
  return timestampMs(job.endedAt) - timestampMs(job.startedAt);
}

/** Throws unless the job succeeded: a benchmark of failing jobs measures nothing. */
export function expectSucceeded(job: Job): void {
  if (job.state !== JobState.SUCCEEDED) {
    throw new Error(`job ${job.id} did not succeed: ${job.reason}`);
  }
}
