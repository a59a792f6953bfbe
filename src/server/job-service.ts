/**
 * jobworker.v1.JobService: a thin adapter from RPCs onto the Worker. Each
 * handler authenticates (identity), authorizes, converts, calls the worker
 * and converts back; errors become gRPC codes in error-codes.ts.
 */
import type { ServiceImpl, HandlerContext } from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";
import type { JobService } from "../gen/jobworker/v1/jobworker_pb.js";
import { JobError, isJobError, type JobStatus, type Worker } from "../worker/index.ts";
import {
  authorizeStart,
  authorizeStop,
  hostOwnersFor,
  ownerScope,
  jobNotFound,
  listFilterFor,
} from "./authorization.ts";
import {
  hostToProto,
  jobToProto,
  specFromProto,
  stateFromProto,
  stopOutcomeToProto,
  toSafeNumber,
} from "./convert.ts";
import { directResponseOf } from "./direct-response.ts";
import { callerOf, type Identity } from "./identity.ts";
import { audit, type Logger } from "./logger.ts";
import { outputMessageParts, outputSentKey } from "./output-message.ts";
import { startPolicyFor, type Policy } from "./policy.ts";

/** WatchJob's interval bounds: 0 asks for the worker's default (1 s); below
 * the minimum a client could make the server read cgroup files in a loop. */
const MIN_WATCH_INTERVAL_MS = 100;

export interface JobServiceDeps {
  worker: Worker;
  policy: Policy;
  logger: Logger;
}

export function createJobService(deps: JobServiceDeps): ServiceImpl<typeof JobService> {
  const { worker, policy, logger } = deps;

  /**
   * The status of the job `reference` names (its id, or a unique prefix of
   * 4+ characters) among the jobs the caller may see; the same NOT_FOUND
   * for a job that is missing and one that is hidden.
   */
  async function visibleJob(who: Identity, reference: string): Promise<JobStatus> {
    let id: string;
    try {
      id = worker.resolveId(reference, ownerScope(who));
    } catch (err) {
      if (isJobError(err, "not_found")) throw jobNotFound(reference);
      throw err;
    }
    return worker.status(id);
  }

  /** A stream that ended because the server is shutting down must not look
   * like a stream that reached its end: the client would take partial
   * output for all of it. Rethrow the abort reason (UNAVAILABLE). A client
   * that went away has no one to read this. */
  function throwIfAborted(context: HandlerContext): void {
    if (context.signal.aborted) throw ConnectError.from(context.signal.reason);
  }

  return {
    async startJob(request, context) {
      const who = callerOf(context);
      const what = { command: request.command, args: request.args };
      try {
        authorizeStart(who);
        const status = await worker.start(
          { ...specFromProto(request), owner: who.user },
          startPolicyFor(policy, who),
        );
        audit(logger, {
          action: "start",
          who,
          ...what,
          jobId: status.id,
          result: "ok",
          detail: status.state,
        });
        return { job: jobToProto(status) };
      } catch (err) {
        audit(logger, { action: "start", who, ...what, ...refusal(err) });
        throw err;
      }
    },

    async stopJob(request, context) {
      const who = callerOf(context);
      let what: { command?: string; args?: readonly string[] } = {};
      try {
        const job = await visibleJob(who, request.id);
        what = { command: job.command, args: job.args };
        authorizeStop(who, job);
        const options =
          request.graceMs === undefined
            ? {}
            : { graceMs: toSafeNumber(request.graceMs, "grace_ms") };
        const status = await worker.stop(job.id, options);
        const outcome = stopOutcomeToProto(job, status);
        audit(logger, {
          action: "stop",
          who,
          ...what,
          jobId: job.id,
          result: "ok",
          detail: `${status.state}: ${status.reason}`,
        });
        return { job: jobToProto(status), outcome };
      } catch (err) {
        audit(logger, { action: "stop", who, ...what, jobId: request.id, ...refusal(err) });
        throw err;
      }
    },

    async getJob(request, context) {
      const who = callerOf(context);
      return { job: jobToProto(await visibleJob(who, request.id)) };
    },

    async listJobs(request, context) {
      const who = callerOf(context);
      const filter = listFilterFor(who, request.owner, request.states.map(stateFromProto));
      if (filter === null) return { jobs: [] };
      const jobs = await worker.list(filter);
      return { jobs: jobs.map(jobToProto) };
    },

    async *streamOutput(request, context) {
      const who = callerOf(context);
      const { id } = await visibleJob(who, request.id);
      const options = {
        offset: toSafeNumber(request.offset, "offset"),
        follow: request.follow,
        signal: context.signal,
      };
      const direct = directResponseOf(context);
      if (direct === undefined) {
        // A client that asked for JSON messages: connect encodes them.
        let offset = options.offset;
        for await (const data of worker.output(id, options)) {
          yield { data, offset: BigInt(offset) };
          offset += data.byteLength;
        }
      } else {
        // One message per chunk the worker lends (at most 256 KiB), written
        // without a copy and given back once written; a client that stops
        // reading holds one chunk.
        const sent = context.values.get(outputSentKey);
        for await (const chunk of worker.outputChunks(id, options)) {
          sent(chunk.bytes.byteLength);
          await direct.send(outputMessageParts(chunk.offset, chunk.bytes), () => {
            chunk.release();
          });
        }
      }
      throwIfAborted(context);
    },

    async getHost(_request, context) {
      const who = callerOf(context);
      const host = await worker.host();
      return hostToProto(host, hostOwnersFor(who, host.owners));
    },

    async *watchJob(request, context) {
      const who = callerOf(context);
      if (request.intervalMs !== 0 && request.intervalMs < MIN_WATCH_INTERVAL_MS) {
        throw new JobError(
          "invalid_argument",
          `interval_ms must be 0 (the default) or at least ${MIN_WATCH_INTERVAL_MS}`,
        );
      }
      const { id } = await visibleJob(who, request.id);
      const options =
        request.intervalMs === 0
          ? { signal: context.signal }
          : { intervalMs: request.intervalMs, signal: context.signal };
      for await (const status of worker.watch(id, options)) {
        yield { job: jobToProto(status) };
      }
      throwIfAborted(context);
    },
  };
}

/** The audit fields of a refused or failed action. */
function refusal(err: unknown): { result: string; detail: string } {
  if (isJobError(err)) return { result: err.code, detail: err.message };
  if (err instanceof ConnectError) {
    // "PermissionDenied" -> "permission_denied", as the library's codes read.
    const name = Code[err.code].replace(/(?<!^)([A-Z])/g, "_$1").toLowerCase();
    return { result: name, detail: err.rawMessage };
  }
  return { result: "internal", detail: "unexpected error" };
}
