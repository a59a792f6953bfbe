/** `jobworker stop`: stop a job (SIGTERM, grace period, SIGKILL) and say how it ended. */
import { CLIENT_OPTIONS, CLIENT_OPTIONS_HELP } from "../client-config.ts";
import { colorEnabled, painter, type Painter } from "../colors.ts";
import { HELP_OPTION, JOB_OPTION, parseJobCommandArgs, type CommandIo } from "../command.ts";
import { openConnection } from "../connection.ts";
import { parseDuration } from "../durations.ts";
import { EXIT_OK } from "../errors.ts";
import {
  jobToJson,
  stopOutcomeName,
  toJsonText,
  type JobJson,
  type StopOutcomeName,
} from "../job-json.ts";

export const help = `Usage: jobworker stop [OPTIONS] JOB
       jobworker stop [OPTIONS] --job JOB

Stops the job: SIGTERM to all its processes, then SIGKILL to whatever is left
when the grace period is over. Waits until the job has ended, then says how:

  job ID had already ended: exited with code 0
  job ID stopped: ended after SIGTERM (exited with code 7)
  job ID force-ended: killed with SIGKILL after the 10 s grace period
  job ID stopped before it started (it was queued)

Stopping a job that has already ended changes nothing.

Options:
  --grace DURATION     time between SIGTERM and SIGKILL (e.g. 0, 500ms, 10s;
                       default: the server's, 10s unless configured)
  --json               print the final job object, with "outcome" (already-ended,
                       never-started, terminated, force-ended), instead of text
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

/** What the job's reason says after its cause ("stopped by request: ended after SIGTERM (...)"). */
function how(reason: string): string {
  const colon = reason.indexOf(": ");
  return colon === -1 ? reason : reason.slice(colon + 2);
}

/** The line `stop` prints: how the job ended, from the stop's outcome. */
export function describeStop(
  job: JobJson,
  outcome: StopOutcomeName | null,
  paint: Painter = painter(false),
): string {
  const id = job.id;
  switch (outcome) {
    case "already-ended":
      return `job ${id} had already ended: ${job.reason}\n`;
    case "never-started":
      return `job ${id} ${paint.state(job.state)} before it started (it was queued)\n`;
    case "terminated":
    case "force-ended": {
      // A stop by request reads "stopped: ..."; one that met a timeout or the
      // output cap already under way keeps that reason.
      const word =
        outcome === "force-ended" ? paint.state(job.state, "force-ended") : paint.state(job.state);
      return job.state === "stopped"
        ? `job ${id} ${word}: ${how(job.reason)}\n`
        : `job ${id} ${word}: ${job.reason}\n`;
    }
    case null:
      return `job ${id} ${paint.state(job.state)}: ${job.reason}\n`;
  }
}

export async function run(io: CommandIo): Promise<number> {
  const args = parseJobCommandArgs(io, "stop", OPTIONS, help);
  if (args === undefined) return EXIT_OK;
  const { values, id } = args;
  const graceMs = values.grace === undefined ? undefined : parseDuration(values.grace, "--grace");
  const connection = await openConnection(io, values);
  let job: JobJson;
  let outcome: StopOutcomeName | null;
  try {
    const response = await connection.client.stopJob({
      id,
      ...(graceMs === undefined ? {} : { graceMs: BigInt(graceMs) }),
    });
    if (response.job === undefined) throw new Error("the server answered without a job");
    job = jobToJson(response.job);
    outcome = stopOutcomeName(response.outcome);
  } catch (err) {
    throw connection.explain(err, id);
  } finally {
    connection.close();
  }
  io.stdout.write(
    values.json === true
      ? toJsonText({ ...job, outcome })
      : describeStop(job, outcome, painter(colorEnabled(io.stdout, io.env))),
  );
  return EXIT_OK;
}
