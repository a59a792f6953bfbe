/**
 * The server's log: pino, one JSON object per line, one line per event.
 * Starts and stops also write an audit line (`audit: true`) that says who
 * (user, role), what (command, args), which job and with what result, so
 * "who ran this?" is answered by one `grep '"audit":true'`.
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

export function audit(logger: Logger, event: AuditEvent): void {
  logger.info(
    {
      audit: true,
      action: event.action,
      user: event.who.user,
      role: event.who.role,
      command: event.command,
      args: event.args,
      jobId: event.jobId,
      result: event.result,
      detail: event.detail,
    },
    `${event.action} ${event.result}`,
  );
}
