/**
 * `npm run bench`: runs every benchmark, one process each, in order, shows
 * their reports as they come, and appends the run (with node version,
 * kernel, cgroup mode and cores) to bench/RESULTS.md. Sizes pass through
 * the environment (BENCH_JOBS=100 ...; see each script's --help).
 * It ends with every target of the run, met or missed, in one table.
 *   node bench/run-all.ts [NAME...]   (names without .ts: a subset)
 */
import { spawn } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { format, resolveConfig } from "prettier";
import { systemInfo, table } from "./lib/report.ts";

const BENCHMARKS = [
  "start-latency",
  "output-throughput",
  "fan-out",
  "concurrency",
  "api-rate",
  "connections",
];
const RESULTS = join(import.meta.dirname, "RESULTS.md");
const HEADER = `# Benchmark results

Appended by \`npm run bench\` (bench/run-all.ts), newest last. These machines
are shared and noisy: compare the ratios against the baselines measured in
the same run, not absolute figures between runs.
`;

const chosen = process.argv.slice(2);
for (const name of chosen) {
  if (!BENCHMARKS.includes(name))
    throw new Error(`unknown benchmark ${name}: ${BENCHMARKS.join(", ")}`);
}

/**
 * Every target of the run in one table: the rows of the benchmarks' tables
 * whose last cell is a verdict (lib/stats.ts), as "what | value | target |
 * verdict" (a row's value is the cell before its target), and a benchmark
 * that failed counts as missed.
 */
function targetSummary(names: readonly string[], reports: readonly string[]): string {
  const rows: string[][] = [];
  names.forEach((name, i) => {
    const report = reports[i] ?? "";
    if (report.includes("\nFailed (exit "))
      rows.push([name, "failed", "runs to the end", "**missed**"]);
    for (const line of report.split("\n")) {
      const cells = line
        .split("|")
        .slice(1, -1)
        .map((cell) => cell.trim());
      const last = cells.at(-1);
      if (cells.length < 4 || (last !== "met" && last !== "**missed**")) continue;
      rows.push([`${name}: ${cells[0] ?? ""}`, cells.at(-3) ?? "", cells.at(-2) ?? "", last]);
    }
  });
  const missed = rows.filter((row) => row[3] !== "met").length;
  return [
    "### Targets",
    "",
    `${rows.length - missed} of ${rows.length} met.`,
    "",
    table(["target", "value", "goal", ""], rows),
    "",
  ].join("\n");
}

/** Runs one script, echoing its report while keeping a copy. */
async function run(name: string): Promise<string> {
  const child = spawn(process.execPath, [join(import.meta.dirname, `${name}.ts`)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let report = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (text: string) => {
    report += text;
    process.stdout.write(text);
  });
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  if (code !== 0)
    report += `### ${name}\n\nFailed (exit ${code ?? "by signal"}); see the run's output.\n\n`;
  return report;
}

const info = systemInfo();
const started = new Date();
const t0 = performance.now();
const sections: string[] = [];
for (const name of chosen.length > 0 ? chosen : BENCHMARKS) {
  process.stderr.write(`${name}\n`);
  sections.push(await run(name));
}
const minutes = ((performance.now() - t0) / 60_000).toFixed(1);
const summary = targetSummary(chosen.length > 0 ? chosen : BENCHMARKS, sections);
process.stdout.write(`${summary}\n`);
const overrides = Object.entries(process.env)
  .filter(([key]) => key.startsWith("BENCH_"))
  .map(([key, value]) => `${key}=${value ?? ""}`);
const entry = [
  `## Run of ${started.toISOString()}`,
  "",
  `Node ${info.node}, Linux ${info.kernel}, cgroup ${info.cgroupMode}, ${info.cores} cores ` +
    `(${info.cpuModel}), ${info.memory}; ${minutes} min` +
    (overrides.length > 0 ? `; sizes changed: ${overrides.join(" ")}` : "; default sizes") +
    ".",
  "",
  summary,
  ...sections,
].join("\n");
const existing = await readFile(RESULTS, "utf8").catch(() => undefined);
const text = existing === undefined ? `${HEADER}\n${entry}` : `${existing}\n${entry}`;
// Formatted as the repository's prettier check expects (tables aligned).
const config = (await resolveConfig(RESULTS)) ?? {};
await writeFile(RESULTS, await format(text, { ...config, filepath: RESULTS }));
process.stderr.write(`appended to ${RESULTS}\n`);
