/**
 * Writing a job's output, following it across dropped connections without
 * losing or repeating a byte.
 *
 * Every StreamOutput message carries the offset of its first byte. The CLI
 * counts what it has written; after a reconnect it asks for the output from
 * exactly that count, and it checks every message against it: a message
 * that starts before it (bytes already written) is trimmed, one that starts
 * after it would leave a hole in the output and ends the command with an
 * error rather than write a corrupt copy.
 */
import type { Connection } from "./connection.ts";
import { CliError } from "./errors.ts";
import { attemptCallOptions, reconnectOptionsFor, withReconnect } from "./reconnect.ts";

export interface FollowOutputOptions {
  /** The job: its ID, or a prefix when `verified` is false. */
  id: string;
  /** First byte to write. */
  offset: number;
  /** Keep waiting for output until the job has ended. */
  follow: boolean;
  /** Writes bytes out (to stdout), resolving when they are taken. */
  write: (data: Uint8Array) => Promise<void>;
  reconnectTimeoutMs: number;
  /** A line for stderr ("connection lost; reconnected, ..."), without the "jobworker: " prefix. */
  notice: (line: string) => void;
  /** Aborting it (a detach) ends following at once. */
  signal?: AbortSignal | undefined;
  /**
   * `id` is a full ID and a call already succeeded on this connection (run's
   * StartJob). Otherwise a GetJob first resolves the ID (a prefix stays
   * meaningful only until another job shares it) and proves that the server
   * takes our certificate, so a later failure can only be an outage.
   */
  verified?: boolean;
}

export interface FollowResult {
  /** The job's full ID. */
  id: string;
  /** Offset after the last byte written. */
  end: number;
}

/** The part of a message not yet written, or an error for a hole before it. */
export function unwrittenPart(data: Uint8Array, at: number, written: number): Uint8Array {
  if (at > written) {
    throw new CliError(
      `the server sent output starting at byte ${at} while ${written} bytes had been written: stopping rather than leave a gap (run the command again)`,
    );
  }
  return at === written ? data : data.subarray(Math.min(data.byteLength, written - at));
}

/** Follows the output of a job; throws the call's error (explain it) or a CliError. */
export async function followOutput(
  connection: Connection,
  options: FollowOutputOptions,
): Promise<FollowResult> {
  let id = options.id;
  if (options.verified !== true) {
    const job = (await connection.client.getJob({ id })).job;
    if (job === undefined) throw new Error("the server answered without a job");
    id = job.id;
  }
  let written = options.offset;
  await withReconnect(
    async (attempt) => {
      if (attempt.number > 0) {
        // A unary call answers at once, where a followed stream of a quiet
        // job might say nothing for minutes: it tells that the server is back.
        await connection.client.getJob({ id }, attemptCallOptions(attempt, options.signal));
        if (attempt.alive())
          options.notice(`connection lost; reconnected, resuming at byte ${written}`);
      }
      const stream = connection.client.streamOutput(
        { id, offset: BigInt(written), follow: options.follow },
        options.signal === undefined ? {} : { signal: options.signal },
      );
      for await (const message of stream) {
        attempt.alive();
        const data = unwrittenPart(message.data, Number(message.offset), written);
        if (data.byteLength === 0) continue;
        await options.write(data);
        written += data.byteLength;
      }
    },
    reconnectOptionsFor(connection, id, options),
  );
  return { id, end: written };
}
