/**
 * `jobworker watch` (and `status -w`): the job's state and usage, live,
 * until it ends. On a terminal one line is rewritten in place; into a pipe
 * every update is a line of its own (with --json: one job object per line).
 */
import { CLIENT_OPTIONS, CLIENT_OPTIONS_HELP, type ClientFlags } from "../client-config.ts";
import { colorEnabled, painter } from "../colors.ts";
import {
  HELP_OPTION,
  JOB_OPTION,
  parseJobCommandArgs,
  writeAll,
  type CommandIo,
} from "../command.ts";
import { openConnection, type Connection } from "../connection.ts";
import { parseDuration } from "../durations.ts";
import { EXIT_OK, UsageError } from "../errors.ts";
import { formatWatchLine } from "../format.ts";
import { jobToJson, type UsageJson } from "../job-json.ts";

export const help = `Usage: jobworker watch [OPTIONS] JOB
       jobworker status -w [OPTIONS] JOB

Shows the job's state, CPU use (share of one core), memory, processes and
output size, updated live, until the job ends.

Options:
  --interval DURATION  time between usage updates (default 1s, at least 100ms)
  --json               one job object per line (JSON Lines) instead of text
  --job JOB            the job (instead of the JOB argument)
${CLIENT_OPTIONS_HELP}

Exit status: 0 once the job has ended (whatever its own status; see wait).
`;

export const OPTIONS = {
  ...CLIENT_OPTIONS,
  ...HELP_OPTION,
  ...JOB_OPTION,
  json: { type: "boolean" },
  interval: { type: "string" },
} as const;

/** Streams updates for `id` to stdout until the job's final status. */
async function watchJob(
  io: CommandIo,
  connection: Connection,
  id: string,
  options: { json: boolean; intervalMs: number },
): Promise<void> {
  const tty = io.stdout.isTTY;
  const paint = painter(colorEnabled(io.stdout, io.env));
  let previous: { usage: UsageJson; at: number } | undefined;
  let last = "";
  try {
    for await (const message of connection.client.watchJob({
      id,
      intervalMs: options.intervalMs,
    })) {
      if (message.job === undefined) continue;
      const job = jobToJson(message.job);
      const at = Date.now();
      if (options.json) {
        await writeAll(io.stdout, `${JSON.stringify(job)}\n`);
      } else {
        last = formatWatchLine(job, previous, at, paint);
        await writeAll(io.stdout, tty ? `\r\u001b[K${last}` : `${last}\n`);
      }
      previous = { usage: job.usage, at };
    }
  } catch (err) {
    if (tty && last !== "") io.stdout.write("\n");
    throw connection.explain(err, id);
  }
  if (tty && last !== "") await writeAll(io.stdout, "\n");
}

export function intervalFrom(text: string | undefined): number {
  if (text === undefined) return 0;
  const ms = parseDuration(text, "--interval");
  if (ms < 100) throw new UsageError("--interval must be at least 100ms");
  return ms;
}

/** `watch` (and `status -w`) once its arguments are parsed: connects and watches job `id`. */
export async function watchCommand(
  io: CommandIo,
  values: ClientFlags & { json?: boolean | undefined; interval?: string | undefined },
  id: string,
): Promise<number> {
  const intervalMs = intervalFrom(values.interval);
  const connection = await openConnection(io, values);
  try {
    await watchJob(io, connection, id, { json: values.json === true, intervalMs });
    return EXIT_OK;
  } finally {
    connection.close();
  }
}

export async function run(io: CommandIo): Promise<number> {
  const args = parseJobCommandArgs(io, "watch", OPTIONS, help);
  return args === undefined ? EXIT_OK : watchCommand(io, args.values, args.id);
}
