/** `jobworker ps`: the jobs the caller may see, as a table like `docker ps`. */
import { JobState } from "../../gen/jobworker/v1/jobworker_pb.js";
import { CLIENT_OPTIONS, CLIENT_OPTIONS_HELP } from "../client-config.ts";
import { colorEnabled, painter } from "../colors.ts";
import { HELP_OPTION, parseCommandOptions, type CommandIo } from "../command.ts";
import { openConnection } from "../connection.ts";
import { EXIT_OK } from "../errors.ts";
import { formatJobTable } from "../format.ts";
import { jobToJson, toJsonText } from "../job-json.ts";

export const help = `Usage: jobworker ps [OPTIONS]

Lists jobs that have not ended (queued, starting, running; with -a, all
jobs), oldest first: yours, or every job for the observer and admin roles.

Options:
  -a, --all            include jobs that have ended
  --owner NAME         only the jobs of this user
  -q, --quiet          print only the job IDs
  --json               print an array of job objects (see status --help)
${CLIENT_OPTIONS_HELP}

Columns: ID (the full job ID), OWNER, COMMAND, STATE ("queued (#2)": second in
the queue for capacity), EXIT (exit code, or the signal that ended the job),
CREATED.
`;

const OPTIONS = {
  ...CLIENT_OPTIONS,
  ...HELP_OPTION,
  all: { type: "boolean", short: "a" },
  owner: { type: "string" },
  quiet: { type: "boolean", short: "q" },
  json: { type: "boolean" },
} as const;

export async function run(io: CommandIo): Promise<number> {
  const values = parseCommandOptions(io, "ps", OPTIONS, help);
  if (values === undefined) return EXIT_OK;
  const connection = await openConnection(io, values);
  let jobs;
  try {
    const response = await connection.client.listJobs({
      states: values.all === true ? [] : [JobState.QUEUED, JobState.STARTING, JobState.RUNNING],
      owner: values.owner ?? "",
    });
    jobs = response.jobs.map(jobToJson);
  } catch (err) {
    throw connection.explain(err);
  } finally {
    connection.close();
  }
  if (values.json === true) {
    io.stdout.write(toJsonText(jobs));
  } else if (values.quiet === true) {
    io.stdout.write(jobs.map((job) => `${job.id}\n`).join(""));
  } else {
    const tty = io.stdout.isTTY;
    io.stdout.write(
      formatJobTable(jobs, {
        paint: painter(colorEnabled(io.stdout, io.env)),
        truncateCommands: tty,
      }),
    );
  }
  return EXIT_OK;
}
