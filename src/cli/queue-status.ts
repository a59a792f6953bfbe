/**
 * While an attached `run` waits in the server's queue, where it stands:
 * on a terminal one status line on stderr, rewritten in place every second
 * (`jobworker: job ID is queued (#3), waiting 12s`) and cleared once the job
 * leaves the queue, before its output; into a pipe or file a plain line
 * each time its place changes, so a log shows the wait without a line per
 * second. Updates come from WatchJob; if that stream fails the display just
 * stops (following the output rides out a lost connection on its own).
 */
import { formatDuration } from "../common/format.ts";
import type { CommandIo } from "./command.ts";
import type { Connection } from "./connection.ts";
import { jobToJson } from "./job-json.ts";

/** How often the line is refreshed (WatchJob's interval while queued). */
const INTERVAL_MS = 1000;

export interface QueueStatus {
  /** Clears the status line (before output is written, and at the end). Idempotent. */
  clear(): void;
  /** Stops watching and clears the line. */
  stop(): void;
}

export function showQueueStatus(
  io: Pick<CommandIo, "stderr">,
  connection: Connection,
  job: { id: string; position: number; createdAt: string | null },
): QueueStatus {
  const tty = io.stderr.isTTY;
  const created = job.createdAt === null ? Date.now() : Date.parse(job.createdAt);
  const text = (position: number): string =>
    `jobworker: job ${job.id} is queued (#${position}), waiting ${formatDuration(Math.max(0, Math.round((Date.now() - created) / 1000) * 1000))}`;
  let shown = false;
  let lastPosition = job.position;
  const draw = (position: number): void => {
    if (tty) {
      io.stderr.write(`\r\u001b[K${text(position)}`);
      shown = true;
    } else if (position !== lastPosition) {
      io.stderr.write(`${text(position)}\n`);
    }
    lastPosition = position;
  };
  const clear = (): void => {
    if (!shown) return;
    io.stderr.write("\r\u001b[K");
    shown = false;
  };
  // The first line, as a plain one into a pipe (with its place in the queue).
  if (tty) draw(job.position);
  else
    io.stderr.write(
      `jobworker: job ${job.id} is queued (#${job.position}): waiting for room within the server's capacity\n`,
    );
  const watching = new AbortController();
  void (async () => {
    for await (const message of connection.client.watchJob(
      { id: job.id, intervalMs: INTERVAL_MS },
      { signal: watching.signal },
    )) {
      if (message.job === undefined) continue;
      const status = jobToJson(message.job);
      if (status.state !== "queued" || status.queuePosition === null) break;
      draw(status.queuePosition);
    }
  })()
    .catch(() => undefined)
    .finally(() => {
      watching.abort();
      clear();
    });
  return {
    clear,
    stop() {
      watching.abort();
      clear();
    },
  };
}
