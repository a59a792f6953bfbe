/**
 * The library's one error type. Every failure a caller can act on is a
 * `JobError` with a code from a closed set; the API server maps these codes
 * onto gRPC codes in exactly one place (src/server/error-codes.ts).
 */

/** What went wrong, from the caller's point of view. Closed set: add with care. */
export type JobErrorCode =
  /** The request itself is wrong: bad spec, bad limit, bad offset. */
  | "invalid_argument"
  /** No such job (in the caller's view). */
  | "not_found"
  /** The request is valid but the host or the job is not in a state to do it
   * (a limit the host cannot enforce, a worker that is closed). */
  | "failed_precondition"
  /** Something is used up: uid pool, disk space, output cap, capacity. */
  | "resource_exhausted"
  /** Not allowed by policy. */
  | "permission_denied"
  /** A bug or an unexpected host failure. */
  | "internal";

export const JOB_ERROR_CODES: readonly JobErrorCode[] = [
  "invalid_argument",
  "not_found",
  "failed_precondition",
  "resource_exhausted",
  "permission_denied",
  "internal",
];

/**
 * Why a command could not be started, as data, for a start refused because
 * of it: callers act on it (a CLI exits 127 for a command not found, as a
 * shell does) without reading the message.
 */
export type StartFailure =
  "command-not-found" | "command-not-executable" | "working-directory" | "command-not-allowed";

export class JobError extends Error {
  override readonly name = "JobError";
  readonly code: JobErrorCode;
  /** Set on the refusal of a start whose command could not be started. */
  readonly startFailure: StartFailure | undefined;

  constructor(
    code: JobErrorCode,
    message: string,
    options?: { cause?: unknown; startFailure?: StartFailure },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.startFailure = options?.startFailure;
  }

  /** Wraps anything thrown into a JobError, keeping JobErrors as they are. */
  static from(reason: unknown, fallbackCode: JobErrorCode = "internal"): JobError {
    if (reason instanceof JobError) return reason;
    const message = reason instanceof Error ? reason.message : String(reason);
    return new JobError(fallbackCode, message, { cause: reason });
  }
}

export function isJobError(value: unknown, code?: JobErrorCode): value is JobError {
  return value instanceof JobError && (code === undefined || value.code === code);
}
