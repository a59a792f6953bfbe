/**
 * Human output: the `ps` table, `status` view, `watch` line and times.
 * Scripts should use --json; this text may change between versions.
 */
import { painter, visibleLength, type Painter } from "./colors.ts";
import { joinCommandLine } from "./command-line.ts";
import { formatBytes, formatDuration } from "../common/format.ts";
import type { JobJson, LimitsJson, UsageJson } from "./job-json.ts";

/** Columns padded to their widest cell, two spaces apart, like `docker ps`. */
export function formatTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
): string {
  const widths = header.map((title, column) =>
    Math.max(visibleLength(title), ...rows.map((row) => visibleLength(row[column] ?? ""))),
  );
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, column) =>
        column === cells.length - 1
          ? cell
          : cell + " ".repeat((widths[column] ?? 0) - visibleLength(cell)),
      )
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].map((text) => `${text}\n`).join("");
}

/** "3 seconds ago", "5 minutes ago", "2 hours ago", "4 days ago". */
export function timeAgo(iso: string | null, now: number = Date.now()): string {
  if (iso === null) return "-";
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  const plural = (n: number, unit: string): string => `${n} ${unit}${n === 1 ? "" : "s"} ago`;
  if (seconds < 60) return plural(seconds, "second");
  if (seconds < 3600) return plural(Math.floor(seconds / 60), "minute");
  if (seconds < 86_400) return plural(Math.floor(seconds / 3600), "hour");
  return plural(Math.floor(seconds / 86_400), "day");
}

function commandText(job: Pick<JobJson, "command" | "args">): string {
  return joinCommandLine([job.command, ...job.args]);
}

/** EXIT column: the exit code, the signal name, or "-" while running. */
function exitText(job: Pick<JobJson, "exitCode" | "signal">): string {
  if (job.exitCode !== null) return String(job.exitCode);
  return job.signal ?? "-";
}

/** "queued (#2)" for a queued job, else the state's name. */
function stateText(job: Pick<JobJson, "state" | "queuePosition">): string {
  return job.state === "queued" && job.queuePosition !== null
    ? `queued (#${job.queuePosition})`
    : job.state;
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

export interface TableOptions {
  paint?: Painter;
  /** Cut long commands (on a terminal; a pipe gets them whole). */
  truncateCommands?: boolean;
  now?: number;
}

export function formatJobTable(jobs: readonly JobJson[], options: TableOptions = {}): string {
  const paint = options.paint ?? painter(false);
  const rows = jobs.map((job) => [
    job.id,
    job.owner,
    options.truncateCommands === true ? truncate(commandText(job), 40) : commandText(job),
    paint.state(job.state, stateText(job)),
    exitText(job),
    timeAgo(job.createdAt, options.now),
  ]);
  return formatTable(["ID", "OWNER", "COMMAND", "STATE", "EXIT", "CREATED"], rows);
}

/** Each limit as people read it, in the order `status` lists them. */
const LIMIT_ROWS: readonly (readonly [keyof LimitsJson, string, (value: number) => string])[] = [
  ["cpu", "cpu", (v) => `${v} ${v === 1 ? "core" : "cores"}`],
  ["memoryBytes", "memory", formatBytes],
  ["pids", "processes", String],
  ["ioReadBytesPerSecond", "io read", (v) => `${formatBytes(v)}/s`],
  ["ioWriteBytesPerSecond", "io write", (v) => `${formatBytes(v)}/s`],
  ["ioReadIopsPerSecond", "io read ops", (v) => `${v} IOPS`],
  ["ioWriteIopsPerSecond", "io write ops", (v) => `${v} IOPS`],
  ["diskBytes", "disk", formatBytes],
  ["cpuWeight", "cpu weight", (v) => `${v} (100 = normal)`],
  ["ioWeight", "io weight", (v) => `${v} (100 = normal)`],
];

/** A limit's name as people read it ("io weight"), from its job object key ("ioWeight"). */
export function limitLabel(key: string): string {
  return LIMIT_ROWS.find(([name]) => name === key)?.[1] ?? key;
}

/**
 * The limits block of `status`: every limit, its requested value (after the
 * server's defaults) and whether this host enforces it.
 */
export function formatLimits(
  job: Pick<JobJson, "limits" | "limitsNotInForce">,
  paint: Painter = painter(false),
): string[] {
  const rows = LIMIT_ROWS.map(([key, label, show]) => {
    const value = job.limits[key];
    if (value === null) return [label, "none", ""];
    const inForce = !job.limitsNotInForce.includes(key);
    return [label, show(value), inForce ? "in force" : paint.warn("NOT in force on this host")];
  });
  return formatTable(["limit", "requested", "effective"], rows)
    .trimEnd()
    .split("\n")
    .map((line) => `  ${line}`);
}

function formatUsage(usage: UsageJson): string {
  return [
    `cpu ${formatDuration(usage.cpuUsec / 1000)}`,
    `memory ${formatBytes(usage.memoryCurrentBytes)} (peak ${formatBytes(usage.memoryPeakBytes)})`,
    `io read ${formatBytes(usage.ioReadBytes)}, write ${formatBytes(usage.ioWriteBytes)}`,
    `disk ${formatBytes(usage.diskBytes)}`,
    `pids ${usage.pids}`,
  ].join(", ");
}

function elapsedMs(job: JobJson, now: number): number | null {
  if (job.startedAt === null) return null;
  const end = job.endedAt === null ? now : Date.parse(job.endedAt);
  return end - Date.parse(job.startedAt);
}

/** The multi-line `status` view. */
export function formatStatus(
  job: JobJson,
  paint: Painter = painter(false),
  now: number = Date.now(),
): string {
  const elapsed = elapsedMs(job, now);
  const lines: [string, string][] = [
    ["ID", job.id],
    ["Owner", job.owner],
    ["Command", commandText(job)],
    [
      "State",
      `${paint.state(job.state, stateText(job))}${job.reason === "" ? "" : ` (${job.reason})`}`,
    ],
    ["Exit code", job.exitCode === null ? "-" : String(job.exitCode)],
    ["Signal", job.signal ?? "-"],
    ["OOM killed", job.oomKilled ? "yes" : "no"],
    ["PID", job.pid === null ? "-" : String(job.pid)],
    ["Created", job.createdAt ?? "-"],
    ["Started", job.startedAt ?? "-"],
    ["Ended", job.endedAt ?? "-"],
    ["Run time", elapsed === null ? "-" : formatDuration(elapsed)],
  ];
  if (job.queuePosition !== null) lines.splice(4, 0, ["Queue", `#${job.queuePosition}`]);
  if (job.program !== null) lines.splice(3, 0, ["Program", job.program]);
  if (job.stopOutcome !== null) lines.push(["Stop outcome", job.stopOutcome]);
  if (job.endCause !== null) lines.push(["End cause", job.endCause]);
  if (job.uid !== null) lines.push(["UID", String(job.uid)]);
  if (job.timeoutMs !== null) lines.push(["Timeout", formatDuration(job.timeoutMs)]);
  lines.push(["Usage", formatUsage(job.usage)], ["Output", formatBytes(job.outputBytes)]);
  const width = Math.max(...lines.map(([label]) => label.length)) + 1;
  const text = lines.map(([label, value]) => `${`${label}:`.padEnd(width)} ${value}\n`);
  // The limits table goes after the times, before usage.
  const limitsAt = lines.findIndex(([label]) => label === "Run time") + 1;
  text.splice(limitsAt, 0, "Limits:\n", ...formatLimits(job, paint).map((line) => `${line}\n`));
  return text.join("");
}

/**
 * One `watch` line: time, state, CPU use since the previous update (as a
 * share of one core), memory, pids and output size.
 */
export function formatWatchLine(
  job: JobJson,
  previous: { usage: UsageJson; at: number } | undefined,
  at: number,
  paint: Painter = painter(false),
): string {
  const time = new Date(at).toISOString().slice(11, 19);
  let cpu = "cpu -";
  if (previous !== undefined && at > previous.at) {
    const share = (job.usage.cpuUsec - previous.usage.cpuUsec) / 1000 / (at - previous.at);
    cpu = `cpu ${(Math.max(0, share) * 100).toFixed(0)}%`;
  }
  const parts = [
    time,
    paint.state(job.state),
    cpu,
    `mem ${formatBytes(job.usage.memoryCurrentBytes)}`,
    `pids ${job.usage.pids}`,
    `output ${formatBytes(job.outputBytes)}`,
  ];
  if (job.state !== "running" && job.state !== "starting" && job.reason !== "")
    parts.push(job.reason);
  return parts.join("  ");
}
