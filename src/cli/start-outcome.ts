/**
 * What `run` and `start` say about a start besides the job itself, as
 * docker does:
 * - a limit the host cannot enforce does not stop the job (unless the
 *   server is strict); one warning line per such limit goes to stderr,
 *   with the server's reason: `jobworker: io weight not in force: ...`;
 * - a command that could not be started ends the command with the shell's
 *   status: 127 for a command not found, 126 for one that cannot be
 *   executed. The server says which as a StartFailure error detail, so
 *   this never depends on the words of its message.
 */
import { ConnectError } from "@connectrpc/connect";
import { StartFailureCause, StartFailureSchema } from "../gen/jobworker/v1/jobworker_pb.js";
import { printError, type CommandIo } from "./command.ts";
import { limitLabel } from "./format.ts";
import type { JobJson } from "./job-json.ts";

const EXIT_NOT_FOUND = 127;
const EXIT_NOT_EXECUTABLE = 126;

export function warnLimitsNotInForce(
  io: Pick<CommandIo, "stderr">,
  job: Pick<JobJson, "limitsNotInForce" | "limitsNotInForceReasons">,
): void {
  for (const name of job.limitsNotInForce) {
    const reason = job.limitsNotInForceReasons[name] ?? "this host cannot enforce it";
    printError(io, `${limitLabel(name)} not in force: ${reason}`);
  }
}

/** The exit status for a start refused because its command could not be started, if it was. */
export function startFailureStatus(err: unknown): number | undefined {
  if (!(err instanceof ConnectError)) return undefined;
  switch (err.findDetails(StartFailureSchema)[0]?.cause) {
    case StartFailureCause.COMMAND_NOT_FOUND:
      return EXIT_NOT_FOUND;
    case StartFailureCause.COMMAND_NOT_EXECUTABLE:
      return EXIT_NOT_EXECUTABLE;
    default:
      return undefined;
  }
}
