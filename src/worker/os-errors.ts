/**
 * The one place where Node's OS errors (errno strings) become JobErrors.
 * Everything else calls `fromOsError(err, "what we were doing")`.
 */
import { errnoOf } from "../common/errno.ts";
import { JobError, type JobErrorCode } from "./errors.ts";

const CODE_BY_ERRNO: Readonly<Record<string, JobErrorCode>> = {
  ENOENT: "not_found",
  ENOTDIR: "invalid_argument",
  EISDIR: "invalid_argument",
  EINVAL: "invalid_argument",
  ENAMETOOLONG: "invalid_argument",
  EACCES: "permission_denied",
  EPERM: "permission_denied",
  EROFS: "failed_precondition",
  EBUSY: "failed_precondition",
  ENOSPC: "resource_exhausted",
  EDQUOT: "resource_exhausted",
  EMFILE: "resource_exhausted",
  ENFILE: "resource_exhausted",
  ENOMEM: "resource_exhausted",
  EAGAIN: "resource_exhausted",
};

/** Describes an errno in words, as strerror would ("No space left on device"). */
export function describeErrno(errno: string): string {
  return ERRNO_WORDS[errno] ?? errno;
}

const ERRNO_WORDS: Readonly<Record<string, string>> = {
  ENOENT: "no such file or directory",
  ENOTDIR: "not a directory",
  EISDIR: "is a directory",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  ENOSPC: "no space left on device",
  EDQUOT: "disk quota exceeded",
  EROFS: "read-only file system",
  EBUSY: "device or resource busy",
  EMFILE: "too many open files",
  ENOMEM: "out of memory",
  EAGAIN: "resource temporarily unavailable",
  EINVAL: "invalid argument",
  ENOEXEC: "exec format error",
  E2BIG: "argument list too long",
  ETXTBSY: "text file busy",
  ELOOP: "too many levels of symbolic links",
  ENAMETOOLONG: "file name too long",
  ELIBBAD: "accessing a corrupted shared library",
  ESRCH: "no such process",
  EBADF: "bad file descriptor",
  ENOSYS: "function not implemented",
  ENFILE: "too many open files in system",
  EEXIST: "file exists",
  ENODEV: "no such device",
};

/**
 * Turns an OS error met while `doing` something into a JobError whose message
 * reads as one sentence: "could not write the job record: no space left on device".
 */
export function fromOsError(err: unknown, doing: string): JobError {
  if (err instanceof JobError) return err;
  const errno = errnoOf(err);
  if (errno === undefined) return JobError.from(err);
  const code = CODE_BY_ERRNO[errno] ?? "internal";
  return new JobError(code, `could not ${doing}: ${describeErrno(errno)}`, { cause: err });
}
