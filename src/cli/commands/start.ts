/** `jobworker start`: start a job in the background and print its ID (the same as `run -d`). */
import { CLIENT_OPTIONS_HELP, type ClientFlags } from "../client-config.ts";
import { printError, type CommandIo } from "../command.ts";
import { openConnection } from "../connection.ts";
import { EXIT_FAILURE, EXIT_OK } from "../errors.ts";
import { JOB_OPTIONS_HELP, parseJobCommand } from "../job-options.ts";
import { jobToJson, toJsonText, type JobJson } from "../job-json.ts";
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

Exit status: 0 when the job started; 1 when it could not (the reason goes to
stderr; with a command that could not be executed the job exists, ended
"failed", and its ID is still printed); 2 for a usage error.

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
    throw connection.explain(err);
  } finally {
    connection.close();
  }
  io.stdout.write(json ? toJsonText(job) : `${job.id}\n`);
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

export async function run(io: CommandIo): Promise<number> {
  const { values, request } = parseJobCommand("start", io.argv, io.env);
  if (values.help === true) {
    io.stdout.write(help);
    return EXIT_OK;
  }
  return startDetached(io, values, request, values.json === true);
}
