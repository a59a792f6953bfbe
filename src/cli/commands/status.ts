/** `jobworker status`: everything known about one job. */
import { CLIENT_OPTIONS_HELP } from "../client-config.ts";
import { colorEnabled, painter } from "../colors.ts";
import { parseJobCommandArgs, type CommandIo } from "../command.ts";
import { openConnection } from "../connection.ts";
import { EXIT_OK } from "../errors.ts";
import { formatStatus } from "../format.ts";
import { jobToJson, toJsonText } from "../job-json.ts";
import { intervalFrom, OPTIONS as WATCH_OPTIONS, watchCommand } from "./watch.ts";

export const help = `Usage: jobworker status [OPTIONS] JOB
       jobworker status [OPTIONS] --job JOB

Shows the job's state and why it is in it (with its place in the queue while
queued), exit code, signal, whether the OOM killer struck, times, every limit
with its requested value and whether this host enforces it, how a stop ended
it, and usage (live while it runs). JOB is an ID or a unique prefix of one
(4+ characters).

Options:
  --json               print the job object (JSON) instead of text
  -w, --watch          keep showing state and usage until the job ends
                       (the same as \`jobworker watch\`)
  --interval DURATION  with -w: time between updates (default 1s)
${CLIENT_OPTIONS_HELP}

The JSON object has: id, owner, command, args, state (queued, starting,
running, succeeded, failed, stopped), queuePosition, exitCode, signal,
oomKilled, reason, pid, uid, createdAt, startedAt, endedAt, limits {cpu,
memoryBytes, ioReadBytesPerSecond, ioWriteBytesPerSecond, pids, cpuWeight,
ioWeight, ioReadIopsPerSecond, ioWriteIopsPerSecond, diskBytes}, limitsNotInForce,
timeoutMs, usage, outputBytes, envNames, cwd, stopOutcome (already-ended,
never-started, terminated, force-ended); null where a value is not set.
`;

const OPTIONS = { ...WATCH_OPTIONS, watch: { type: "boolean", short: "w" } } as const;

export async function run(io: CommandIo): Promise<number> {
  const args = parseJobCommandArgs(io, "status", OPTIONS, help);
  if (args === undefined) return EXIT_OK;
  const { values, id } = args;
  if (values.watch === true) return watchCommand(io, values, id);
  // A bad --interval is a usage error with or without -w.
  intervalFrom(values.interval);
  const connection = await openConnection(io, values);
  try {
    let response;
    try {
      response = await connection.client.getJob({ id });
    } catch (err) {
      throw connection.explain(err, id);
    }
    if (response.job === undefined) throw new Error("the server answered without a job");
    const job = jobToJson(response.job);
    io.stdout.write(
      values.json === true
        ? toJsonText(job)
        : formatStatus(job, painter(colorEnabled(io.stdout, io.env))),
    );
    return EXIT_OK;
  } finally {
    connection.close();
  }
}
