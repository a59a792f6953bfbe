/**
 * Human output: the `ps` table, `status` view, `watch` line and times.
 * Scripts should use --json; this text may change between versions.
 */
import { painter, visibleLength, type Painter } from "./colors.ts";
import { joinCommandLine } from "./command-line.ts";
import { formatDuration } from "./durations.ts";
import type { JobJson, LimitsJson, UsageJson } from "./job-json.ts";
import { formatSize } from "./sizes.ts";

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

export function commandText(job: Pick<JobJson, "command" | "args">): string {
  return joinCommandLine([job.command, ...job.args]);
}

/** EXIT column: the exit code, the signal name, or "-" while running. */
export function exitText(job: Pick<JobJson, "exitCode" | "signal">): string {
  if (job.exitCode !== null) return String(job.exitCode);
  return job.signal ?? "-";
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
    paint.state(job.state),
    exitText(job),
    timeAgo(job.createdAt, options.now),
  ]);
  return formatTable(["ID", "OWNER", "COMMAND", "STATE", "EXIT", "CREATED"], rows);
}

export function formatLimits(limits: LimitsJson): string {
  const parts: string[] = [];
  if (limits.cpu !== null) parts.push(`cpu ${limits.cpu} cores`);
  if (limits.memoryBytes !== null) parts.push(`memory ${formatSize(limits.memoryBytes)}`);
  if (limits.ioReadBytesPerSecond !== null)
    parts.push(`io read ${formatSize(limits.ioReadBytesPerSecond)}/s`);
  if (limits.ioWriteBytesPerSecond !== null)
    parts.push(`io write ${formatSize(limits.ioWriteBytesPerSecond)}/s`);
  if (limits.pids !== null) parts.push(`pids ${limits.pids}`);
  return parts.length === 0 ? "none" : parts.join(", ");
}

export function formatUsage(usage: UsageJson): string {
  return [
    `cpu ${formatDuration(usage.cpuUsec / 1000)}`,
    `memory ${formatSize(usage.memoryCurrentBytes)} (peak ${formatSize(usage.memoryPeakBytes)})`,
    `io read ${formatSize(usage.ioReadBytes)}, write ${formatSize(usage.ioWriteBytes)}`,
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
    ["State", `${paint.state(job.state)}${job.reason === "" ? "" : ` (${job.reason})`}`],
    ["Exit code", job.exitCode === null ? "-" : String(job.exitCode)],
    ["Signal", job.signal ?? "-"],
    ["OOM killed", job.oomKilled ? "yes" : "no"],
    ["PID", job.pid === null ? "-" : String(job.pid)],
    ["Created", job.createdAt ?? "-"],
    ["Started", job.startedAt ?? "-"],
    ["Ended", job.endedAt ?? "-"],
    ["Run time", elapsed === null ? "-" : formatDuration(elapsed)],
    ["Limits", formatLimits(job.limits)],
  ];
  if (job.limitsNotInForce.length > 0)
    lines.push(["Not enforced", job.limitsNotInForce.join(", ")]);
  if (job.timeoutMs !== null) lines.push(["Timeout", formatDuration(job.timeoutMs)]);
  lines.push(["Usage", formatUsage(job.usage)], ["Output", formatSize(job.outputBytes)]);
  const width = Math.max(...lines.map(([label]) => label.length)) + 1;
  return lines.map(([label, value]) => `${`${label}:`.padEnd(width)} ${value}\n`).join("");
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
    `mem ${formatSize(job.usage.memoryCurrentBytes)}`,
    `pids ${job.usage.pids}`,
    `output ${formatSize(job.outputBytes)}`,
  ];
  if (job.state !== "running" && job.state !== "starting" && job.reason !== "")
    parts.push(job.reason);
  return parts.join("  ");
}
