/**
 * The options `run` and `start` share: limits, environment, working
 * directory, timeout, and the job's command (after "--", as separate words,
 * or as one string split by POSIX quoting rules; see command-line.ts).
 */
import { create } from "@bufbuild/protobuf";
import { parseArgs } from "node:util";
import { LimitsSchema, StartJobRequestSchema } from "../gen/jobworker/v1/jobworker_pb.js";
import { CLIENT_OPTIONS } from "./client-config.ts";
import { HELP_OPTION, splitAtCommand } from "./command.ts";
import { splitCommandLine } from "./command-line.ts";
import { parseDuration } from "./durations.ts";
import { parseOrUsage, UsageError } from "./errors.ts";
import { parseSize } from "./sizes.ts";

const JOB_OPTIONS = {
  cpu: { type: "string" },
  memory: { type: "string" },
  "memory-limit": { type: "string" },
  "io-read": { type: "string" },
  "io-write": { type: "string" },
  "io-read-iops": { type: "string" },
  "io-write-iops": { type: "string" },
  disk: { type: "string" },
  pids: { type: "string" },
  "cpu-weight": { type: "string" },
  "io-weight": { type: "string" },
  env: { type: "string", short: "e", multiple: true },
  cwd: { type: "string" },
  timeout: { type: "string" },
} as const;

export const JOB_OPTIONS_HELP = `Limits (unset: the server's defaults):
  --cpu CORES          CPU time in cores, fractional (0.5 = half a core)
  --memory SIZE        memory, no swap on top (e.g. 256M, 1.5G)
  --memory-limit SIZE  the same as --memory
  --io-read SIZE       disk read bandwidth per second, per disk (e.g. 10M)
  --io-write SIZE      disk write bandwidth per second, per disk
  --io-read-iops N     disk read operations per second, per disk
  --io-write-iops N    disk write operations per second, per disk
  --disk SIZE          disk space: output plus scratch folder (no file larger)
  --pids N             most processes and threads at once
  --cpu-weight N       CPU share under contention, 1-10000 (100 = normal); never
                       caps an idle host
  --io-weight N        disk share, 1-10000 (100 = normal); only where the disk's
                       scheduler honours it (BFQ): elsewhere the server refuses the
                       job, or runs it with the weight listed as not in force
  SIZE is bytes with an optional K, M, G or T suffix, all 1024-based
  (K = KiB = KB = 1024; 1.5G = 1610612736).
Job:
  -e, --env K=V        set an environment variable (repeatable); --env K copies
                       K from this shell. The job gets only these and a PATH.
  --cwd DIR            working directory (default: a fresh scratch folder)
  --timeout DURATION   stop the job after this long (e.g. 30s, 5m, 1h30m)
Command:
  -- COMMAND [ARG...]  run COMMAND with ARGs exactly as given (recommended)
  COMMAND [ARG...]     the same; our options end at the first word that is not one
  "COMMAND LINE"       one quoted string is split like sh splits words (quotes and
                       backslashes), but no shell runs it: a string that needs one
                       ($VAR, $(...), globs, |, <, >, ;, &) is refused; write
                       -- sh -c '...' to use a shell on purpose. Our options may
                       follow the string too ("echo 'hi there'" --cpu 0.5).`;

function positiveNumber(text: string, option: string): number {
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value) || value <= 0) {
    throw new UsageError(`${option} ${JSON.stringify(text)} is not a positive number`);
  }
  return value;
}

function positiveInteger(text: string, option: string): number {
  const value = positiveNumber(text, option);
  if (!Number.isSafeInteger(value))
    throw new UsageError(`${option} ${JSON.stringify(text)} is not a whole number`);
  return value;
}

/** A weight: a whole number 1-10000, as cgroup v2's cpu.weight and io.weight take. */
function weight(text: string, option: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || value < 1 || value > 10_000) {
    throw new UsageError(
      `${option} ${JSON.stringify(text)} is not a weight: give a whole number from 1 to 10000 (100 = normal)`,
    );
  }
  return value;
}

function parseEnv(entries: readonly string[], env: NodeJS.ProcessEnv): Record<string, string> {
  const result: Record<string, string> = {};
  for (const entry of entries) {
    const eq = entry.indexOf("=");
    const name = eq === -1 ? entry : entry.slice(0, eq);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      throw new UsageError(
        `--env ${JSON.stringify(entry)}: ${JSON.stringify(name)} is not a variable name`,
      );
    }
    if (eq === -1) {
      const inherited = env[name];
      if (inherited === undefined)
        throw new UsageError(`--env ${name}: ${name} is not set in this environment`);
      result[name] = inherited;
    } else {
      result[name] = entry.slice(eq + 1);
    }
  }
  return result;
}

/** Everything run and start accept (start takes -d too: it is detached anyway). */
const OPTIONS = {
  ...JOB_OPTIONS,
  ...CLIENT_OPTIONS,
  ...HELP_OPTION,
  detach: { type: "boolean", short: "d" },
  json: { type: "boolean" },
  "reconnect-timeout": { type: "string" },
} as const;

/** Characters that make one word a command line to split rather than a program's name. */
const COMMAND_LINE_CHARS = /[\s'"\\]/;

/**
 * Our options and the job's command words. A command given as one string
 * that needs splitting (`start "echo 'Life is Great'" --cpu-weight 1024`)
 * is a whole command line, so the words after it are ours again, as a
 * person typing it means them; a command of separate words (`run ls -la`)
 * keeps every word after its name, as docker does.
 */
function commandWords(
  command: string,
  argv: readonly string[],
  options: typeof OPTIONS,
): { ours: string[]; words: string[] } {
  const split = splitAtCommand(argv, options);
  const [first, ...rest] = split.command;
  if (split.afterDashDash || first === undefined) return { ours: split.ours, words: split.command };
  if (rest.length > 0 && !COMMAND_LINE_CHARS.test(first)) {
    return { ours: split.ours, words: split.command };
  }
  // The rest are our options: another command word there would be lost.
  const after = splitAtCommand(rest, options);
  const stray = after.afterDashDash ? ["--", ...after.command] : after.command;
  if (stray.length > 0) {
    throw new UsageError(
      `the command is given as one string (${JSON.stringify(first)}), so ${JSON.stringify(stray[0])} after it is not part of it: put the whole command line in the quotes, or write -- COMMAND ARG...`,
      command,
    );
  }
  return { ours: [...split.ours, ...rest], words: splitCommandLine(first) };
}

/** Parses `argv` of run/start: our options, then the job's command. */
export function parseJobCommand(command: string, argv: readonly string[], env: NodeJS.ProcessEnv) {
  const options = OPTIONS;
  const { ours, words } = commandWords(command, argv, options);
  const { values } = parseOrUsage(command, () =>
    parseArgs({ args: ours, options, allowPositionals: false, strict: true }),
  );
  const request = create(StartJobRequestSchema);
  if (values.help === true) return { values, request };

  const [program, ...args] = words;
  if (program === undefined || program === "") {
    throw new UsageError(
      `${command} needs a command: jobworker ${command} [OPTIONS] -- COMMAND [ARG...]`,
      command,
    );
  }
  request.command = program;
  request.args = args;

  const limits = create(LimitsSchema);
  if (values.cpu !== undefined) limits.cpu = positiveNumber(values.cpu, "--cpu");
  if (values.memory !== undefined && values["memory-limit"] !== undefined) {
    throw new UsageError("--memory and --memory-limit are the same option: give one", command);
  }
  if (values.memory !== undefined)
    limits.memoryBytes = BigInt(parseSize(values.memory, "--memory"));
  if (values["memory-limit"] !== undefined)
    limits.memoryBytes = BigInt(parseSize(values["memory-limit"], "--memory-limit"));
  if (values["io-read"] !== undefined)
    limits.ioReadBytesPerSecond = BigInt(parseSize(values["io-read"], "--io-read"));
  if (values["io-write"] !== undefined)
    limits.ioWriteBytesPerSecond = BigInt(parseSize(values["io-write"], "--io-write"));
  if (values["io-read-iops"] !== undefined)
    limits.ioReadIopsPerSecond = BigInt(positiveInteger(values["io-read-iops"], "--io-read-iops"));
  if (values["io-write-iops"] !== undefined)
    limits.ioWriteIopsPerSecond = BigInt(
      positiveInteger(values["io-write-iops"], "--io-write-iops"),
    );
  if (values.pids !== undefined) limits.pids = positiveInteger(values.pids, "--pids");
  if (values.disk !== undefined) limits.diskBytes = BigInt(parseSize(values.disk, "--disk"));
  if (values["cpu-weight"] !== undefined)
    limits.cpuWeight = weight(values["cpu-weight"], "--cpu-weight");
  if (values["io-weight"] !== undefined)
    limits.ioWeight = weight(values["io-weight"], "--io-weight");
  request.limits = limits;
  request.env = parseEnv(values.env ?? [], env);
  if (values.cwd !== undefined) request.cwd = values.cwd;
  if (values.timeout !== undefined) {
    const ms = parseDuration(values.timeout, "--timeout");
    if (ms <= 0) throw new UsageError("--timeout must be longer than 0");
    request.timeoutMs = BigInt(ms);
  }
  return { values, request };
}
