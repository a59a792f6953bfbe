/**
 * The PKI's one error type. The CLI turns it into a message and an exit
 * status; nothing here knows about jobs, so it is separate from JobError.
 */

/** What went wrong, from the caller's point of view. Closed set. */
export type PkiErrorCode =
  /** A file the operation would write already exists (and `force` was not given). */
  | "exists"
  /** A file the operation needs (CA certificate or key, a user's certificate) is missing. */
  | "not_found"
  /** The request itself is wrong: bad user name, role, host name, validity. */
  | "invalid_argument"
  /** A certificate or key could not be parsed or does not fit its purpose. */
  | "invalid_certificate"
  /** The file system refused (permissions, no space): the cause holds the OS error. */
  | "io";

export class PkiError extends Error {
  override readonly name = "PkiError";
  readonly code: PkiErrorCode;
  /** The files the error is about (for "exists": every file that is in the way). */
  readonly files: readonly string[];

  constructor(
    code: PkiErrorCode,
    message: string,
    options?: { cause?: unknown; files?: readonly string[] },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.files = options?.files ?? [];
  }

  /** Wraps anything thrown into a PkiError, keeping PkiErrors as they are. */
  static from(reason: unknown, fallbackCode: PkiErrorCode = "io"): PkiError {
    if (reason instanceof PkiError) return reason;
    const message = reason instanceof Error ? reason.message : String(reason);
    return new PkiError(fallbackCode, message, { cause: reason });
  }
}

export function isPkiError(value: unknown, code?: PkiErrorCode): value is PkiError {
  return value instanceof PkiError && (code === undefined || value.code === code);
}
