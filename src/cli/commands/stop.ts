/** `jobworker stop`: stop a job (SIGTERM, grace period, SIGKILL) and say how it ended. */
import { parseArgs } from "node:util";
import { CLIENT_OPTIONS, CLIENT_OPTIONS_HELP } from "../client-config.ts";
import { colorEnabled, painter } from "../colors.ts";
import { HELP_OPTION, JOB_OPTION, jobIdFrom, printError, type CommandIo } from "../command.ts";
import { connect } from "../connection.ts";
import { parseDuration } from "../durations.ts";
import { EXIT_OK, parseOrUsage } from "../errors.ts";
import { jobToJson, toJsonText, type JobJson } from "../job-json.ts";

export const help = `Usage: jobworker stop [OPTIONS] JOB
       jobworker stop [OPTIONS] --job JOB

Stops the job: SIGTERM to all its processes, then SIGKILL to whatever is left
when the grace period is over. Waits until the job has ended, then prints its
final state and how it ended: on its own before the stop, after SIGTERM, or
killed after the grace period. Stopping a job that has already ended only
prints how it ended.

Options:
  --grace DURATION     time between SIGTERM and SIGKILL (e.g. 0, 500ms, 10s;
                       default: the server's, 10s unless configured)
  --json               print the final job object instead of text
${CLIENT_OPTIONS_HELP}

Exit status: 0 when the job has ended (like docker stop), whatever its own
status; 1 when it is not found or may not be stopped by you.
`;

const OPTIONS = {
  ...CLIENT_OPTIONS,
  ...HELP_OPTION,
  ...JOB_OPTION,
  grace: { type: "string" },
  json: { type: "boolean" },
} as const;

/** "<id> stopped: stopped by request: ended after SIGTERM (killed by SIGTERM)". */
export function describeStop(job: JobJson, paint = painter(false)): string {
  const how = job.state === "stopped" ? job.reason : `${job.reason} (it had ended before the stop)`;
  return `${job.id} ${paint.state(job.state)}: ${how}\n`;
}

export async function run(io: CommandIo): Promise<number> {
  const { values, positionals } = parseOrUsage("stop", () =>
    parseArgs({ args: io.argv, options: OPTIONS, allowPositionals: true, strict: true }),
  );
  if (values.help === true) {
    io.stdout.write(help);
    return EXIT_OK;
  }
  const id = jobIdFrom("stop", values.job, positionals);
  const graceMs = values.grace === undefined ? undefined : parseDuration(values.grace, "--grace");
  const connection = await connect(values, {
    env: io.env,
    warn: (line) => {
      printError(io, line);
    },
  });
  let job: JobJson;
  try {
    const response = await connection.client.stopJob({
      id,
      ...(graceMs === undefined ? {} : { graceMs: BigInt(graceMs) }),
    });
    if (response.job === undefined) throw new Error("the server answered without a job");
    job = jobToJson(response.job);
  } catch (err) {
    throw connection.explain(err, id);
  } finally {
    connection.close();
  }
  io.stdout.write(
    values.json === true
      ? toJsonText(job)
      : describeStop(job, painter(colorEnabled(io.stdout, io.env))),
  );
  return EXIT_OK;
}
