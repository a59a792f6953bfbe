/**
 * The server's log: pino, one JSON object per line, one line per event.
 * Starts and stops also write an audit line (`audit: true`) that says who
 * (user, role), what (command, args), which job and with what result, so
 * "who ran this?" is answered by one `grep '"audit":true'`. The request's
 * strings in it are clipped: a line's size is the server's, not the caller's.
 */
import { pino, type DestinationStream, type Level, type Logger } from "pino";
import type { Identity } from "./identity.ts";

export type { Logger };

export interface LoggerOptions {
  /** @default "info" */
  level?: Level | "silent";
  /** Where lines go. @default standard output */
  destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const config = { level: options.level ?? "info", base: { service: "jobworker" } };
  return options.destination === undefined ? pino(config) : pino(config, options.destination);
}

/** A logger that drops everything (the default when a caller gives none). */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}

export interface AuditEvent {
  action: "start" | "stop";
  who: Identity;
  command?: string;
  args?: readonly string[];
  jobId?: string;
  /** "ok", or the gRPC code name of the refusal ("permission_denied"). */
  result: string;
  /** The job's state after the action, or the refusal's message. */
  detail?: string;
}

/** The most characters of one request string an audit line keeps. */
export const AUDIT_STRING_CHARS = 1024;
/** The most arguments an audit line lists. */
export const AUDIT_ARGS = 32;

/**
 * `text` cut to AUDIT_STRING_CHARS, saying how long it was: the request's
 * strings are the caller's, and one 3 MiB job id quoted whole made a 6 MB
 * log line (twice: in jobId and in the refusal's detail), so a user could
 * fill the server's log and disk at the price of a request.
 */
function clipped(text: string | undefined): string | undefined {
  if (text === undefined || text.length <= AUDIT_STRING_CHARS) return text;
  return `${text.slice(0, AUDIT_STRING_CHARS)}… (${text.length} characters)`;
}

function clippedArgs(args: readonly string[] | undefined): string[] | undefined {
  if (args === undefined) return undefined;
  const kept = args.slice(0, AUDIT_ARGS).map((arg) => clipped(arg) ?? "");
  if (args.length > AUDIT_ARGS) kept.push(`… (${args.length} arguments)`);
  return kept;
}

export function audit(logger: Logger, event: AuditEvent): void {
  logger.info(
    {
      audit: true,
      action: event.action,
      user: event.who.user,
      role: event.who.role,
      command: clipped(event.command),
      args: clippedArgs(event.args),
      jobId: clipped(event.jobId),
      result: event.result,
      detail: clipped(event.detail),
    },
    `${event.action} ${event.result}`,
  );
}
