/**
 * `jobworker logs` (and its following forms `stream` and `tail`): the job's
 * output as raw bytes, from a byte offset or its last N lines.
 */
import { CLIENT_OPTIONS, CLIENT_OPTIONS_HELP } from "../client-config.ts";
import {
  HELP_OPTION,
  JOB_OPTION,
  parseJobCommandArgs,
  printError,
  writeAll,
  type CommandIo,
  type CommandModule,
} from "../command.ts";
import { openConnection } from "../connection.ts";
import { EXIT_OK, UsageError } from "../errors.ts";
import { followOutput } from "../follow-output.ts";
import { RECONNECT_OPTION, RECONNECT_OPTION_HELP, reconnectTimeoutFrom } from "../reconnect.ts";
import { tailOffset } from "../tail-offset.ts";

const OPTIONS = {
  ...CLIENT_OPTIONS,
  ...HELP_OPTION,
  ...JOB_OPTION,
  ...RECONNECT_OPTION,
  follow: { type: "boolean", short: "f" },
  from: { type: "string" },
  tail: { type: "string", short: "n" },
} as const;

function helpText(name: string, alwaysFollow: boolean): string {
  const what = alwaysFollow
    ? `Follows the job's output from its first byte (or --from / --tail) until the
job has ended and everything was written: the same as \`jobworker logs -f\`.`
    : `Writes the job's output (stdout and stderr interleaved as written) to stdout
as raw bytes, unchanged. With -f, keeps writing new output until the job has
ended and everything was written.`;
  return `Usage: jobworker ${name} [OPTIONS] JOB
       jobworker ${name} [OPTIONS] --job JOB

${what}

Options:
${alwaysFollow ? "" : "  -f, --follow         wait for new output until the job ends\n"}  --from OFFSET        start at this byte of the output (0 = the first)
  -n, --tail N         only the last N lines (then follow, with -f)
${RECONNECT_OPTION_HELP}
${CLIENT_OPTIONS_HELP}

While following, a dropped connection is reconnected and the output resumes
at the exact byte reached: nothing is lost or repeated on stdout, and one line
on stderr says so. A job is named by its ID or a unique prefix of it (4+ chars).

Exit status: 0 when the output was written (whatever the job's own status);
1 when the job is not found or the server cannot be reached (or could not be
reached again within the reconnect timeout).
`;
}

function nonNegativeInteger(text: string, option: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value)) {
    throw new UsageError(`${option} ${JSON.stringify(text)} is not a whole number >= 0`);
  }
  return value;
}

export function logsCommand(name: string, alwaysFollow: boolean): CommandModule {
  const help = helpText(name, alwaysFollow);
  return {
    help,
    async run(io: CommandIo): Promise<number> {
      const args = parseJobCommandArgs(io, name, OPTIONS, help);
      if (args === undefined) return EXIT_OK;
      const { values, id } = args;
      const from = values.from === undefined ? 0 : nonNegativeInteger(values.from, "--from");
      const tail =
        values.tail === undefined ? undefined : nonNegativeInteger(values.tail, "--tail");
      const follow = alwaysFollow || values.follow === true;
      const reconnectTimeoutMs = reconnectTimeoutFrom(values["reconnect-timeout"], io.env);

      const connection = await openConnection(io, values);
      try {
        const offset =
          tail === undefined ? from : await tailOffset(connection.client, id, tail, from);
        await followOutput(connection, {
          id,
          offset,
          follow,
          write: (data) => writeAll(io.stdout, data),
          reconnectTimeoutMs,
          notice: (line) => {
            printError(io, line);
          },
        });
        return EXIT_OK;
      } catch (err) {
        throw connection.explain(err, id);
      } finally {
        connection.close();
      }
    },
  };
}

const logs = logsCommand("logs", false);
export const help = logs.help;
export function run(io: CommandIo): Promise<number> {
  return logs.run(io);
}
