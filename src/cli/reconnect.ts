/**
 * Riding out a dropped connection while following a job (`logs -f`,
 * `stream`, `tail`, attached `run`, `wait`): when the connection is lost, a
 * fresh one is opened with backoff (100 ms, doubling up to 5 s, each wait
 * 20% longer or shorter at random) for up to the reconnect timeout (default
 * 60 s, counted from the first failure since the server last answered), and
 * the interrupted work is resumed.
 *
 * Only a lost connection is retried (the kinds in LOST_CONNECTION, as the
 * client's classify() names them): UNAVAILABLE (which is also how a server
 * that shuts down gracefully ends a followed stream), an HTTP/2 stream
 * reset under a dead connection, a deadline or keepalive failure, and the
 * socket errors behind them. NOT_FOUND, PERMISSION_DENIED, a refused
 * certificate and the rest are answers, not outages: they end the command
 * at once.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { classify, type FailureKind } from "../client/index.ts";
import type { Connection } from "./connection.ts";
import { parseDuration } from "./durations.ts";
import { CliError } from "./errors.ts";

export const DEFAULT_RECONNECT_TIMEOUT_MS = 60_000;
const FIRST_RETRY_DELAY_MS = 100;
const MAX_RETRY_DELAY_MS = 5_000;
const RECONNECT_TIMEOUT_ENV = "JOBWORKER_RECONNECT_TIMEOUT";

/** For node:util parseArgs, in the commands that follow a job. */
export const RECONNECT_OPTION = { "reconnect-timeout": { type: "string" } } as const;

export const RECONNECT_OPTION_HELP = `  --reconnect-timeout DURATION
                       when the connection drops while following, keep trying to
                       reconnect this long, then resume at the exact byte reached
                       (default 60s; 0: give up at once) [${RECONNECT_TIMEOUT_ENV}]`;

/** The reconnect timeout in ms from the flag, else the environment, else the default. */
export function reconnectTimeoutFrom(flag: string | undefined, env: NodeJS.ProcessEnv): number {
  if (flag !== undefined) return parseDuration(flag, "--reconnect-timeout");
  const fromEnv = env[RECONNECT_TIMEOUT_ENV];
  if (fromEnv !== undefined && fromEnv !== "") return parseDuration(fromEnv, RECONNECT_TIMEOUT_ENV);
  return DEFAULT_RECONNECT_TIMEOUT_MS;
}

/**
 * The failures that mean the connection is gone (worth reconnecting). A
 * CANCEL reset is one: on a connection the server has already accepted
 * (the certificate is proven), it is a connection dropped under the call.
 */
const LOST_CONNECTION: ReadonlySet<FailureKind> = new Set<FailureKind>([
  "stream-cancelled",
  "connection-reset",
  "unreachable",
  "outage",
  "deadline",
  "connection-lost",
]);

/** Whether `err` says the connection was lost (worth reconnecting), not that the call was refused. */
export function isConnectionLost(err: unknown): boolean {
  return LOST_CONNECTION.has(classify(err).kind);
}

/**
 * Each wait is the backoff delay times a random factor from 0.8 to 1.2, as
 * gRPC's connection backoff does
 * (https://github.com/grpc/grpc/blob/master/doc/connection-backoff.md), so
 * that clients cut off together, as when a server restarts, do not all
 * come back in the same instant.
 */
const RETRY_JITTER = 0.2;

/** `delayMs` with jitter; `random` returns a number in [0, 1) (Math.random). */
export function jittered(delayMs: number, random: () => number): number {
  return delayMs * (1 - RETRY_JITTER + 2 * RETRY_JITTER * random());
}

/** "60 s", "2.5 s", "500 ms": the timeout as the final message states it. */
function seconds(ms: number): string {
  return ms >= 1000 ? `${ms / 1000} s` : `${ms} ms`;
}

/** The server stayed out of reach for the whole reconnect timeout. */
export class ConnectionLostError extends CliError {
  override readonly name = "ConnectionLostError";

  constructor(server: string, timeoutMs: number, lastError: string, cause: unknown) {
    super(
      timeoutMs === 0
        ? `lost the connection to ${server} (reconnecting is off: --reconnect-timeout 0) (last error: ${lastError})`
        : `lost the connection to ${server} and could not reconnect within ${seconds(timeoutMs)} (last error: ${lastError})`,
      { cause },
    );
  }
}

export interface ReconnectOptions {
  /** HOST:PORT, for the final message. */
  server: string;
  timeoutMs: number;
  /** Opens a fresh connection before a retry. */
  reopen: () => void;
  /** One sentence for the last error, when giving up. */
  explain: (err: unknown) => string;
  /** Aborts the backoff waits (a detach). */
  signal?: AbortSignal | undefined;
  /** @default FIRST_RETRY_DELAY_MS */
  firstDelayMs?: number;
  /** @default MAX_RETRY_DELAY_MS */
  maxDelayMs?: number;
  /** The source of the backoff's jitter (tests pass a fixed one). @default Math.random */
  random?: () => number;
}

export interface Attempt {
  /** 0 for the first attempt, then 1, 2, ... */
  readonly number: number;
  /**
   * Call when the server has answered: the outage (if any) is over, the
   * backoff and the timeout start afresh. Returns true for the first answer
   * after a lost connection (the moment to say "reconnected").
   */
  alive(): boolean;
  /** The deadline a call made now should use, so an attempt cannot outlast the timeout. */
  readonly callTimeoutMs: number | undefined;
}

/**
 * withReconnect's options for following job `id` over `connection`: a fresh
 * connection before each retry, the last error explained as for that job.
 */
export function reconnectOptionsFor(
  connection: Pick<Connection, "config" | "reopen" | "explain">,
  id: string,
  options: { reconnectTimeoutMs: number; signal?: AbortSignal | undefined },
): ReconnectOptions {
  return {
    server: connection.config.server.value,
    timeoutMs: options.reconnectTimeoutMs,
    reopen: () => {
      connection.reopen();
    },
    explain: (err) => connection.explain(err, id).message,
    signal: options.signal,
  };
}

/** Options for a call made in `attempt`: the abort signal and the attempt's deadline, when set. */
export function attemptCallOptions(
  attempt: Attempt,
  signal: AbortSignal | undefined,
): { signal?: AbortSignal; timeoutMs?: number } {
  return {
    ...(signal === undefined ? {} : { signal }),
    ...(attempt.callTimeoutMs === undefined ? {} : { timeoutMs: attempt.callTimeoutMs }),
  };
}

/**
 * Runs `work` and, each time it fails because the connection was lost,
 * reopens the connection and runs it again, until it succeeds, fails
 * otherwise, or the server has been out of reach for `timeoutMs`.
 */
export async function withReconnect<T>(
  work: (attempt: Attempt) => Promise<T>,
  options: ReconnectOptions,
): Promise<T> {
  const firstDelay = options.firstDelayMs ?? FIRST_RETRY_DELAY_MS;
  const maxDelay = options.maxDelayMs ?? MAX_RETRY_DELAY_MS;
  const random = options.random ?? Math.random;
  let lostAt: number | undefined;
  let delay = firstDelay;
  for (let number = 0; ; number += 1) {
    const attempt: Attempt = {
      number,
      alive() {
        const recovered = lostAt !== undefined;
        lostAt = undefined;
        delay = firstDelay;
        return recovered;
      },
      callTimeoutMs:
        lostAt === undefined
          ? undefined
          : Math.max(1000, lostAt + options.timeoutMs - Date.now() + 1000),
    };
    try {
      return await work(attempt);
    } catch (err) {
      if (options.signal?.aborted === true || !isConnectionLost(err)) throw err;
      const now = Date.now();
      lostAt ??= now;
      const remaining = lostAt + options.timeoutMs - now;
      if (remaining <= 0) {
        throw new ConnectionLostError(options.server, options.timeoutMs, options.explain(err), err);
      }
      await sleep(Math.min(jittered(delay, random), remaining), undefined, {
        signal: options.signal,
      });
      delay = Math.min(delay * 2, maxDelay);
      options.reopen();
    }
  }
}
