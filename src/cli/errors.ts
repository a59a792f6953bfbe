/**
 * The CLI's failures and their exit statuses. Every expected failure ends as
 * one line on stderr ("jobworker: ...") and a status from this file; only a
 * bug prints more (and only with JOBWORKER_DEBUG set).
 *
 * Exit statuses: 0 ok; 1 a runtime error (server down, job not found,
 * permission denied, bad certificate); 2 a usage error (unknown option, bad
 * value). `run` and `wait` exit with the job's own status instead.
 */

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** A failure the user can act on; `message` is one sentence without the "jobworker:" prefix. */
export class CliError extends Error {
  override readonly name: string = "CliError";
  readonly exitCode: number;

  constructor(message: string, options?: { exitCode?: number; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.exitCode = options?.exitCode ?? EXIT_FAILURE;
  }
}

/** The command line itself is wrong (exit status 2). `command` names the help to point at. */
export class UsageError extends CliError {
  override readonly name = "UsageError";
  readonly command: string | undefined;

  constructor(message: string, command?: string) {
    super(message, { exitCode: EXIT_USAGE });
    this.command = command;
  }
}

/**
 * Runs node:util parseArgs (or any parser) and turns its TypeError into a
 * UsageError for `command`, keeping parseArgs's wording ("Unknown option
 * '--x'") but dropping its advice about "--" where it does not apply.
 */
export function parseOrUsage<R>(command: string, parse: () => R): R {
  try {
    return parse();
  } catch (err) {
    if (err instanceof CliError) throw err;
    const text = err instanceof Error ? err.message : String(err);
    const first = (text.split(/\.\s/)[0] ?? text).replace(/\.$/, "");
    // parseArgs's advice for a value that starts with a dash, in one clause.
    const dashHint = /use '(--[^=']+=)-XYZ'/.exec(text);
    throw new UsageError(
      dashHint === null ? first : `${first}: write ${dashHint[1] ?? ""}VALUE`,
      command,
    );
  }
}
