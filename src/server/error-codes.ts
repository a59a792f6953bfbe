/**
 * The one place where library errors become gRPC status codes. Handlers throw
 * whatever they meet; an interceptor passes every error through
 * `toConnectError` on its way out.
 */
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { StartFailureCause, StartFailureSchema } from "../gen/jobworker/v1/jobworker_pb.js";
import {
  isJobError,
  type JobError,
  type JobErrorCode,
  type StartFailure,
} from "../worker/index.ts";
import type { Logger } from "./logger.ts";

const CODE_BY_JOB_ERROR: Readonly<Record<JobErrorCode, Code>> = {
  invalid_argument: Code.InvalidArgument,
  not_found: Code.NotFound,
  failed_precondition: Code.FailedPrecondition,
  resource_exhausted: Code.ResourceExhausted,
  permission_denied: Code.PermissionDenied,
  internal: Code.Internal,
};

const START_FAILURE_TO_PROTO: Readonly<Record<StartFailure, StartFailureCause>> = {
  "command-not-found": StartFailureCause.COMMAND_NOT_FOUND,
  "command-not-executable": StartFailureCause.COMMAND_NOT_EXECUTABLE,
  "working-directory": StartFailureCause.WORKING_DIRECTORY,
  "command-not-allowed": StartFailureCause.COMMAND_NOT_ALLOWED,
};

/**
 * A JobError as the client sees it: its message, the gRPC code of its code,
 * and why a command could not be started, as a StartFailure detail, when
 * that is why (a client acts on it without reading the message).
 */
export function fromJobError(err: JobError): ConnectError {
  const details =
    err.startFailure === undefined
      ? undefined
      : [{ desc: StartFailureSchema, value: { cause: START_FAILURE_TO_PROTO[err.startFailure] } }];
  return new ConnectError(err.message, CODE_BY_JOB_ERROR[err.code], undefined, details, err);
}

/** What a client is told about an error we did not expect. */
export const INTERNAL_MESSAGE = "internal error; the server log has the details";

/**
 * Maps anything thrown by a handler onto a ConnectError. JobErrors keep their
 * message (it is written for the caller); ConnectErrors pass unchanged;
 * anything else is a bug or a host failure whose text may reveal internals,
 * so the client gets a generic INTERNAL and the log gets the real error.
 * A JobError coded `internal` is logged as well, for the same reason.
 */
export function toConnectError(
  err: unknown,
  logger: Logger,
  procedure: string,
  signal?: AbortSignal,
): ConnectError {
  return withShortMessage(mapError(err, logger, procedure, signal?.aborted === true));
}

/** Longest grpc-message sent: messages quote the request (a command, an id),
 * and a multi-megabyte quote would exceed HTTP/2's header size limits, so the
 * client would get a reset stream instead of the reason. */
export const MAX_MESSAGE_CHARS = 1024;

function withShortMessage(e: ConnectError): ConnectError {
  if (e.rawMessage.length <= MAX_MESSAGE_CHARS) return e;
  const short = `${e.rawMessage.slice(0, MAX_MESSAGE_CHARS - 20)}… (message shortened)`;
  const shortened = new ConnectError(short, e.code, e.metadata, undefined, e.cause);
  // The details (a StartFailure) are what a client acts on: keep them.
  shortened.details = e.details;
  return shortened;
}

/** `callAborted`: the call's signal fired (the client cancelled or its
 * connection is gone) before the error reached us. */
function mapError(
  err: unknown,
  logger: Logger,
  procedure: string,
  callAborted: boolean,
): ConnectError {
  if (err instanceof ConnectError) return err;
  if (isJobError(err) && err.code !== "internal") return fromJobError(err);
  if (callAborted || isClientGone(err)) {
    // The caller reset its stream (before its request was read, or while
    // output was written to it: "write ECANCELED"): nobody is left to tell,
    // and it is not a fault of ours to log as one.
    logger.debug({ procedure, reason: String(err) }, "the client closed the call");
    return new ConnectError("the client closed the call", Code.Canceled, undefined, undefined, err);
  }
  logger.error({ err, procedure }, "internal error");
  return new ConnectError(INTERNAL_MESSAGE, Code.Internal, undefined, undefined, err);
}

/**
 * Passes every error a handler throws (unary, or while streaming) through
 * `toConnectError`, so handlers never build gRPC errors themselves.
 */
export function errorMapping(logger: Logger): Interceptor {
  return (next) => async (request) => {
    const procedure = `${request.service.typeName}/${request.method.name}`;
    try {
      const response = await next(request);
      if (!response.stream) return response;
      return {
        ...response,
        message: mapStreamErrors(response.message, logger, procedure, request.signal),
      };
    } catch (err) {
      throw toConnectError(err, logger, procedure, request.signal);
    }
  };
}

async function* mapStreamErrors<T>(
  messages: AsyncIterable<T>,
  logger: Logger,
  procedure: string,
  signal: AbortSignal,
): AsyncIterable<T> {
  try {
    // yield* forwards return() as well: a cancelled call still ends the
    // handler's generator, and with it the worker reader it holds.
    yield* messages;
  } catch (err) {
    throw toConnectError(err, logger, procedure, signal);
  }
}

/** Node's error for a request stream the peer closed before its end. */
function isClientGone(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === "ERR_STREAM_PREMATURE_CLOSE";
}
