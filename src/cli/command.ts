/**
 * What every command gets and returns, and the small helpers they share.
 * A command module exports `help` (its full --help text) and `run`, which
 * resolves with the exit status or throws a CliError.
 */
import { once } from "node:events";
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { parseOrUsage, UsageError } from "./errors.ts";

export interface CommandIo {
  /** The arguments after the command name. */
  argv: string[];
  env: NodeJS.ProcessEnv;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

export interface CommandModule {
  readonly help: string;
  run(io: CommandIo): Promise<number>;
}

/** -h/--help, which every command takes. */
export const HELP_OPTION = { help: { type: "boolean", short: "h" } } as const;

/** --job ID, for every command that names a job (as well as the positional ID). */
export const JOB_OPTION = { job: { type: "string" } } as const;

/** A stderr line with the program's prefix. */
export function printError(io: Pick<CommandIo, "stderr">, line: string): void {
  io.stderr.write(`jobworker: ${line}\n`);
}

/** What parseArgs gives for a command's options (positionals allowed, strict). */
export type ParsedArgs<O extends ParseArgsOptionsConfig> = ReturnType<
  typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>
>;

/**
 * Parses a command's arguments (a parse error is a UsageError for
 * `command`); with -h/--help writes `help` to stdout and returns undefined,
 * for the command to exit 0.
 */
export function parseCommandArgs<const O extends ParseArgsOptionsConfig & typeof HELP_OPTION>(
  io: Pick<CommandIo, "argv" | "stdout">,
  command: string,
  options: O,
  help: string,
): ParsedArgs<O> | undefined {
  const parsed = parseOrUsage(command, () =>
    parseArgs({ args: io.argv, options, allowPositionals: true, strict: true }),
  );
  if ((parsed.values as { help?: boolean }).help === true) {
    io.stdout.write(help);
    return undefined;
  }
  return parsed;
}

/**
 * parseCommandArgs for a command that takes no positional arguments: its
 * options, or undefined after printing the help.
 */
export function parseCommandOptions<const O extends ParseArgsOptionsConfig & typeof HELP_OPTION>(
  io: Pick<CommandIo, "argv" | "stdout">,
  command: string,
  options: O,
  help: string,
): ParsedArgs<O>["values"] | undefined {
  const parsed = parseCommandArgs(io, command, options, help);
  if (parsed === undefined) return undefined;
  noPositionals(command, parsed.positionals);
  return parsed.values;
}

/**
 * parseCommandArgs for a command that names one job (JOB or --job ID):
 * the parsed options and the job's ID, or undefined after printing the help.
 */
export function parseJobCommandArgs<
  const O extends ParseArgsOptionsConfig & typeof HELP_OPTION & typeof JOB_OPTION,
>(
  io: Pick<CommandIo, "argv" | "stdout">,
  command: string,
  options: O,
  help: string,
): { values: ParsedArgs<O>["values"]; id: string } | undefined {
  const parsed = parseCommandArgs(io, command, options, help);
  if (parsed === undefined) return undefined;
  const job = (parsed.values as { job?: string }).job;
  return { values: parsed.values, id: jobIdFrom(command, job, parsed.positionals) };
}

/** The job a command names, from `--job ID` or its one positional argument. */
export function jobIdFrom(
  command: string,
  job: string | undefined,
  positionals: readonly string[],
): string {
  if (positionals.length > 1) {
    throw new UsageError(
      `${command} takes one job ID, got ${positionals.length}: ${positionals.join(" ")}`,
      command,
    );
  }
  const [positional] = positionals;
  if (job !== undefined && positional !== undefined && job !== positional) {
    throw new UsageError(
      `${command}: --job ${job} and the job ID ${positional} disagree; give one`,
      command,
    );
  }
  const id = job ?? positional;
  if (id === undefined || id === "")
    throw new UsageError(`${command} needs a job ID (JOB or --job ID)`, command);
  return id;
}

/** The value of an option `command` cannot do without ("--dir DIR"), or a UsageError. */
export function requiredOption<T>(command: string, value: T | undefined, option: string): T {
  if (value === undefined) throw new UsageError(`${command} needs ${option}`, command);
  return value;
}

export function noPositionals(command: string, positionals: readonly string[]): void {
  if (positionals.length > 0) {
    throw new UsageError(`${command} takes no arguments, got: ${positionals.join(" ")}`, command);
  }
}

/**
 * Splits argv where the job's command begins: at "--" (everything after is
 * the command word for word), or at the first argument that is not an
 * option or an option's value (as docker does), so options of the job's
 * command (`run ls -la`) are never taken for ours.
 */
export function splitAtCommand(
  argv: readonly string[],
  options: ParseArgsOptionsConfig,
): { ours: string[]; command: string[]; afterDashDash: boolean } {
  const takesValue = new Set<string>();
  for (const [name, option] of Object.entries(options)) {
    if (option.type !== "string") continue;
    takesValue.add(`--${name}`);
    if (option.short !== undefined) takesValue.add(`-${option.short}`);
  }
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] ?? "";
    if (arg === "--")
      return { ours: argv.slice(0, i), command: argv.slice(i + 1), afterDashDash: true };
    if (arg.startsWith("-") && arg !== "-") {
      // "--memory 256M": skip the value too ("--memory=256M" is one word).
      if (takesValue.has(arg)) i += 1;
      continue;
    }
    return { ours: argv.slice(0, i), command: argv.slice(i), afterDashDash: false };
  }
  return { ours: [...argv], command: [], afterDashDash: false };
}

/** Writes bytes to a stream, waiting when its buffer is full (backpressure). */
export async function writeAll(
  stream: NodeJS.WritableStream,
  data: Uint8Array | string,
): Promise<void> {
  if (!stream.write(data)) await once(stream, "drain");
}
