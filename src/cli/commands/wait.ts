/** `jobworker wait`: block until a job ends; exit with its status. */
import { CLIENT_OPTIONS, CLIENT_OPTIONS_HELP } from "../client-config.ts";
import {
  HELP_OPTION,
  JOB_OPTION,
  parseJobCommandArgs,
  printError,
  type CommandIo,
} from "../command.ts";
import { openConnection } from "../connection.ts";
import { EXIT_OK } from "../errors.ts";
import { endNeedsExplaining, jobExitStatus } from "../exit-status.ts";
import { finalStatus } from "../final-status.ts";
import { toJsonText, type JobJson } from "../job-json.ts";
import { RECONNECT_OPTION, RECONNECT_OPTION_HELP, reconnectTimeoutFrom } from "../reconnect.ts";

export const help = `Usage: jobworker wait [OPTIONS] JOB
       jobworker wait [OPTIONS] --job JOB

Waits until the job has ended and exits with its status, as an attached
\`jobworker run\` would: the job's exit code, 128+N when signal N ended it
(137 for SIGKILL), 127 when its command could not be started. A job that ended
other than by exiting by itself gets one line on stderr saying how.

Options:
  --json               print the final job object
${RECONNECT_OPTION_HELP}
${CLIENT_OPTIONS_HELP}

Exit status: the job's (above); 1 when the job is not found or the server
cannot be reached.
`;

const OPTIONS = {
  ...CLIENT_OPTIONS,
  ...HELP_OPTION,
  ...JOB_OPTION,
  ...RECONNECT_OPTION,
  json: { type: "boolean" },
} as const;

export async function run(io: CommandIo): Promise<number> {
  const args = parseJobCommandArgs(io, "wait", OPTIONS, help);
  if (args === undefined) return EXIT_OK;
  const { values, id } = args;
  const reconnectTimeoutMs = reconnectTimeoutFrom(values["reconnect-timeout"], io.env);
  const connection = await openConnection(io, values);
  let final: JobJson;
  try {
    final = await finalStatus(connection, id, {
      reconnectTimeoutMs,
      notice: (line) => {
        printError(io, line);
      },
    });
  } catch (err) {
    throw connection.explain(err, id);
  } finally {
    connection.close();
  }
  if (values.json === true) io.stdout.write(toJsonText(final));
  if (endNeedsExplaining(final)) printError(io, `job ${final.id} ${final.state}: ${final.reason}`);
  return jobExitStatus(final);
}
