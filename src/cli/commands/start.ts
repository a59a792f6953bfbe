/** `jobworker start`: start a job in the background and print its ID (the same as `run -d`). */
import { CLIENT_OPTIONS_HELP, type ClientFlags } from "../client-config.ts";
import { printError, type CommandIo } from "../command.ts";
import { openConnection } from "../connection.ts";
import { CliError, EXIT_FAILURE, EXIT_OK } from "../errors.ts";
import { JOB_OPTIONS_HELP, parseJobCommand } from "../job-options.ts";
import { jobToJson, toJsonText, type JobJson } from "../job-json.ts";
import { startFailureStatus, warnLimitsNotInForce } from "../start-outcome.ts";
import type { StartJobRequest } from "../../gen/jobworker/v1/jobworker_pb.js";

export const help = `Usage: jobworker start [OPTIONS] -- COMMAND [ARG...]
       jobworker start [OPTIONS] "COMMAND LINE"

Starts a job in the background and prints its ID (the same as run -d). A job
that does not fit beside the running ones within the server's capacity waits
in a queue (a line on stderr says so) and starts when there is room.

Options:
  --json               print the whole job object instead of the ID
${JOB_OPTIONS_HELP}
${CLIENT_OPTIONS_HELP}

A limit this host cannot enforce (e.g. --io-weight without the BFQ scheduler)
does not stop the job unless the server runs with --strict-limits: a warning
line per such limit goes to stderr, and \`status\` lists it as not in force.

Exit status: 0 when the job started; 127 when its command was not found and
126 when it cannot be executed (as a shell and docker run say); 1 when it could
not start otherwise (the reason goes to stderr); 2 for a usage error.

Examples:
  jobworker start -- sleep 60
  jobworker start "echo 'Life is Great'"
  jobworker start --memory 256M --cpu 0.5 -- python3 train.py
`;

/** Starts the job and reports it the way `start` and `run -d` do. */
export async function startDetached(
  io: CommandIo,
  flags: ClientFlags,
  request: StartJobRequest,
  json: boolean,
): Promise<number> {
  const connection = await openConnection(io, flags);
  let job: JobJson;
  try {
    const response = await connection.client.startJob(request);
    if (response.job === undefined) throw new Error("the server answered without a job");
    job = jobToJson(response.job);
  } catch (err) {
    throw withStartFailureStatus(err, connection.explain(err));
  } finally {
    connection.close();
  }
  io.stdout.write(json ? toJsonText(job) : `${job.id}\n`);
  warnLimitsNotInForce(io, job);
  if (job.queuePosition !== null) {
    printError(
      io,
      `job ${job.id} is queued (#${job.queuePosition}): it starts when there is room within the server's capacity`,
    );
  }
  if (job.state === "failed" && job.exitCode === null && job.signal === null) {
    printError(io, `job ${job.id} failed: ${job.reason}`);
    return EXIT_FAILURE;
  }
  return EXIT_OK;
}

/**
 * `explained` with the shell's status when the start was refused because
 * its command could not be started (127: not found, 126: not executable),
 * as docker run exits, attached or not.
 */
export function withStartFailureStatus(err: unknown, explained: CliError): CliError {
  const status = startFailureStatus(err);
  return status === undefined
    ? explained
    : new CliError(explained.message, { exitCode: status, cause: err });
}

export async function run(io: CommandIo): Promise<number> {
  const { values, request } = parseJobCommand("start", io.argv, io.env);
  if (values.help === true) {
    io.stdout.write(help);
    return EXIT_OK;
  }
  return startDetached(io, values, request, values.json === true);
}
