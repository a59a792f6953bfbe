/**
 * `jobworker top` (also `host`): the server's room for jobs and its load:
 * capacity, reserved and used for cpu, memory, pids and jobs, disk IO, and
 * the jobs running and queued per owner. A user sees the totals and its own
 * jobs; observer and admin every owner (the server decides).
 */
import { CLIENT_OPTIONS, CLIENT_OPTIONS_HELP } from "../client-config.ts";
import { parseCommandOptions, writeAll, type CommandIo } from "../command.ts";
import { HELP_OPTION } from "../command.ts";
import { openConnection, type Connection } from "../connection.ts";
import { EXIT_OK } from "../errors.ts";
import { formatHost, hostToJson } from "../host-view.ts";
import { toJsonText } from "../job-json.ts";
import { intervalFrom } from "./watch.ts";

export const help = `Usage: jobworker top [OPTIONS]
       jobworker host [OPTIONS]

Shows the server's capacity for jobs (what all running jobs together may
reserve), what the running jobs reserve (each its limits) and use (from their
cgroups: CPU in cores and disk IO averaged since the server last measured),
the queue, and the jobs running and queued per owner. A user sees the totals
and its own jobs; observer and admin see every owner.

Options:
  --json               print the host object (JSON) instead of text
  -w, --watch          redraw every --interval until Ctrl-C
  --interval DURATION  with -w: time between updates (default 2s)
${CLIENT_OPTIONS_HELP}

The JSON object has: cgroupMode, capacity {cpu, memoryBytes, pids, jobs},
reserved {cpu, memoryBytes, pids, jobs}, used {cpu, memoryBytes, pids,
ioReadBytesPerSecond, ioWriteBytesPerSecond}, queued, owners [{owner, running,
queued, reserved, used}], limitsNotEnforceable {limit: reason}.
`;

const OPTIONS = {
  ...CLIENT_OPTIONS,
  ...HELP_OPTION,
  json: { type: "boolean" },
  watch: { type: "boolean", short: "w" },
  interval: { type: "string" },
} as const;

const DEFAULT_INTERVAL_MS = 2000;

async function show(io: CommandIo, connection: Connection, json: boolean, redraw: boolean) {
  let response;
  try {
    response = await connection.client.getHost({});
  } catch (err) {
    throw connection.explain(err);
  }
  const host = hostToJson(response);
  const text = json ? toJsonText(host) : formatHost(host);
  // On a terminal the view replaces the last one, as top does.
  await writeAll(io.stdout, redraw ? `\u001b[H\u001b[2J${text}` : text);
}

export async function run(io: CommandIo): Promise<number> {
  const values = parseCommandOptions(io, "top", OPTIONS, help);
  if (values === undefined) return EXIT_OK;
  const intervalMs = intervalFrom(values.interval) || DEFAULT_INTERVAL_MS;
  const json = values.json === true;
  const connection = await openConnection(io, values);
  try {
    if (values.watch !== true) {
      await show(io, connection, json, false);
      return EXIT_OK;
    }
    const redraw = io.stdout.isTTY && !json;
    for (;;) {
      await show(io, connection, json, redraw);
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  } finally {
    connection.close();
  }
}
