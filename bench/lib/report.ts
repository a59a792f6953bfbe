/**
 * Report output. Every benchmark prints its section as Markdown on standard
 * output (progress goes to standard error), so run-all.ts can paste what it
 * captured straight into RESULTS.md.
 */
import { readFileSync } from "node:fs";
import { availableParallelism, cpus, release, totalmem } from "node:os";

export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]): string => `| ${cells.join(" | ")} |`;
  return [line(headers), line(headers.map(() => "---")), ...rows.map(line)].join("\n");
}

/** Prints one benchmark's section (title, then blocks separated by blank lines). */
export function printSection(title: string, blocks: readonly string[]): void {
  process.stdout.write(`### ${title}\n\n${blocks.join("\n\n")}\n\n`);
}

/** Progress for the person watching (standard error, not the report). */
export function progress(message: string): void {
  process.stderr.write(`  ${message}\n`);
}

/** "v1 (hybrid)" or "v2", as the kernel mounts them (same test as the worker's detection). */
function cgroupMode(): string {
  try {
    readFileSync("/sys/fs/cgroup/cgroup.controllers");
    return "v2";
  } catch {
    return "v1 (hybrid)";
  }
}

export interface SystemInfo {
  node: string;
  kernel: string;
  cgroupMode: string;
  cores: number;
  cpuModel: string;
  memory: string;
}

export function systemInfo(): SystemInfo {
  return {
    node: process.version,
    kernel: release(),
    cgroupMode: cgroupMode(),
    cores: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? "unknown",
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
  };
}
