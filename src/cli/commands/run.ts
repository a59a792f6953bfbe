/**
 * `jobworker run`: start a job and, unless detached, stream its output and
 * exit with its status.
 *
 * Ctrl-C while attached: the first one stops the job (SIGTERM, then SIGKILL
 * after the server's grace period) and keeps streaming until it has ended,
 * so the output is whole and the exit status is the job's; a second one
 * detaches at once, leaving the stop to finish on the server (exit 130).
 * Anything else that ends the CLI (SIGTERM, a closed terminal, a lost
 * connection) leaves the job running: it belongs to the server, and
 * `jobworker logs -f ID` picks up its output again.
 */
import { CLIENT_OPTIONS_HELP } from "../client-config.ts";
import { printError, writeAll, type CommandIo } from "../command.ts";
import { openConnection } from "../connection.ts";
import { EXIT_OK } from "../errors.ts";
import { endNeedsExplaining, jobExitStatus } from "../exit-status.ts";
import { finalStatus } from "../final-status.ts";
import { followOutput } from "../follow-output.ts";
import { JOB_OPTIONS_HELP, parseJobCommand } from "../job-options.ts";
import { RECONNECT_OPTION_HELP, reconnectTimeoutFrom } from "../reconnect.ts";
import { jobToJson } from "../job-json.ts";
import { showQueueStatus, type QueueStatus } from "../queue-status.ts";
import { warnLimitsNotInForce } from "../start-outcome.ts";
import { startDetached, withStartFailureStatus } from "./start.ts";

export const help = `Usage: jobworker run [OPTIONS] -- COMMAND [ARG...]
       jobworker run [OPTIONS] "COMMAND LINE"

Runs COMMAND as a job on the server. Attached (the default), writes the job's
output (stdout and stderr, interleaved as written) to stdout as raw bytes
while it runs, and exits with the job's exit status.

Options:
  -d, --detach         print only the job ID and return (see also: start)
  --json               with -d: print the job object instead of the ID
${RECONNECT_OPTION_HELP}
${JOB_OPTIONS_HELP}
${CLIENT_OPTIONS_HELP}

Ctrl-C: the first stops the job (SIGTERM, then SIGKILL after the server's grace
period) and keeps showing output until it has ended; a second detaches at once
(exit 130) and the stop completes on the server. Killing the CLI any other way
leaves the job running; \`jobworker logs -f ID\` shows its output again.

A job the server cannot start yet for lack of capacity waits in the queue: on
a terminal one status line on stderr shows its place and how long it has
waited, updated in place, and goes once the job starts (into a pipe: a line
each time its place changes); its output follows once it starts. A dropped
connection is reconnected (see --reconnect-timeout) without losing or
repeating a byte of output.

A limit this host cannot enforce (e.g. --io-weight without the BFQ scheduler)
does not stop the job unless the server runs with --strict-limits: a warning
line per such limit goes to stderr, and \`status\` lists it as not in force.

Exit status: the job's exit code; 128+N when signal N ended it (137 for
SIGKILL); 127 when the command was not found, 126 when it cannot be executed
(as a shell and docker run say, with -d too); 1 when the CLI could not run the
job (server unreachable, refused); 2 for a usage error.

Examples:
  jobworker run -- echo hello
  jobworker run --memory 512M --timeout 10m -- make -j4
  jobworker run -d -- sleep 600
`;

const EXIT_INTERRUPTED = 130;

export async function run(io: CommandIo): Promise<number> {
  const { values, request } = parseJobCommand("run", io.argv, io.env);
  if (values.help === true) {
    io.stdout.write(help);
    return EXIT_OK;
  }
  if (values.detach === true) return startDetached(io, values, request, values.json === true);
  const reconnectTimeoutMs = reconnectTimeoutFrom(values["reconnect-timeout"], io.env);
  const notice = (line: string): void => {
    printError(io, line);
  };

  const connection = await openConnection(io, values);
  const detach = new AbortController();
  let interrupts = 0;
  let id: string | undefined;
  let queued: QueueStatus | undefined;
  const onInterrupt = (): void => {
    interrupts += 1;
    if (id === undefined) return;
    queued?.clear();
    if (interrupts === 1) {
      printError(io, `stopping job ${id} (Ctrl-C again to detach and let it stop on its own)`);
      connection.client.stopJob({ id }).catch((err: unknown) => {
        printError(io, `could not stop job ${id}: ${connection.explain(err, id).message}`);
      });
    } else {
      printError(io, `detached from job ${id}; it is still stopping (see: jobworker status ${id})`);
      detach.abort();
    }
  };
  process.on("SIGINT", onInterrupt);
  try {
    const response = await connection.client.startJob(request);
    if (response.job === undefined) throw new Error("the server answered without a job");
    id = response.job.id;
    const started = jobToJson(response.job);
    warnLimitsNotInForce(io, started);
    if (started.queuePosition !== null) {
      queued = showQueueStatus(io, connection, {
        id,
        position: started.queuePosition,
        createdAt: started.createdAt,
      });
    }
    // Ctrl-C before the job existed: nothing to stop, so stop it now.
    if (interrupts > 0) {
      interrupts = 0;
      onInterrupt();
    }
    await followOutput(connection, {
      id,
      offset: 0,
      follow: true,
      verified: true,
      write: (data) => {
        // The job's output begins: the queue line (on the same terminal) goes.
        queued?.stop();
        return writeAll(io.stdout, data);
      },
      reconnectTimeoutMs,
      notice,
      signal: detach.signal,
    });
    if (detach.signal.aborted) return EXIT_INTERRUPTED;
    const job = await finalStatus(connection, id, {
      reconnectTimeoutMs,
      notice,
      signal: detach.signal,
    });
    if (endNeedsExplaining(job)) printError(io, `job ${job.id} ${job.state}: ${job.reason}`);
    return jobExitStatus(job);
  } catch (err) {
    if (detach.signal.aborted) return EXIT_INTERRUPTED;
    throw withStartFailureStatus(err, connection.explain(err, id));
  } finally {
    queued?.stop();
    process.off("SIGINT", onInterrupt);
    connection.close();
  }
}
