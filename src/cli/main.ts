/**
 * The `jobworker` program: one binary that is both the server (`serve`) and
 * its client (every other command). Commands are loaded on demand, so a
 * client command never loads the job library and `--help` is instant.
 */
import { readFileSync } from "node:fs";
import { CliError, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError } from "./errors.ts";
import type { CommandIo, CommandModule } from "./command.ts";

interface CommandEntry {
  summary: string;
  load: () => Promise<CommandModule>;
}

const JOB_COMMANDS: Readonly<Record<string, CommandEntry>> = {
  run: {
    summary: "run a command as a job, stream its output, exit with its status",
    load: () => import("./commands/run.ts"),
  },
  start: {
    summary: "start a job in the background and print its ID (= run -d)",
    load: () => import("./commands/start.ts"),
  },
  logs: {
    summary: "write a job's output (-f: follow it until the job ends)",
    load: () => import("./commands/logs.ts"),
  },
  stream: {
    summary: "follow a job's output until it ends (= logs -f)",
    load: async () => (await import("./commands/logs.ts")).logsCommand("stream", true),
  },
  tail: {
    summary: "follow a job's output until it ends (= logs -f)",
    load: async () => (await import("./commands/logs.ts")).logsCommand("tail", true),
  },
  status: {
    summary: "show a job's state, exit status, limits and usage",
    load: () => import("./commands/status.ts"),
  },
  watch: {
    summary: "show a job's state and usage live until it ends",
    load: () => import("./commands/watch.ts"),
  },
  ps: { summary: "list jobs (-a: also those that ended)", load: () => import("./commands/ps.ts") },
  stop: { summary: "stop a job and say how it ended", load: () => import("./commands/stop.ts") },
  wait: {
    summary: "wait for a job to end and exit with its status",
    load: () => import("./commands/wait.ts"),
  },
  top: {
    summary: "show the server's capacity, what jobs reserve and use, jobs per owner",
    load: () => import("./commands/top.ts"),
  },
  host: {
    summary: "the same as top",
    load: () => import("./commands/top.ts"),
  },
};

const SERVER_COMMANDS: Readonly<Record<string, CommandEntry>> = {
  serve: {
    summary: "run the API server on this host (Linux, root)",
    load: () => import("./commands/serve.ts"),
  },
  certs: {
    summary: "make and inspect certificates: init, issue, show, renew",
    load: () => Promise.resolve(certsGroup),
  },
};

const OTHER_COMMANDS: Readonly<Record<string, CommandEntry>> = {
  completion: {
    summary: "print a completion script for bash, zsh or fish",
    load: async () =>
      (await import("./commands/completion.ts")).completionCommand(
        { ...JOB_COMMANDS, ...SERVER_COMMANDS, ...OTHER_COMMANDS },
        CERTS_COMMANDS,
      ),
  },
};

const CERTS_COMMANDS: Readonly<Record<string, CommandEntry>> = {
  init: {
    summary: "create a CA, a server certificate and an admin identity",
    load: () => import("./commands/certs-init.ts"),
  },
  issue: {
    summary: "issue a client certificate for a user",
    load: () => import("./commands/certs-issue.ts"),
  },
  show: {
    summary: "print what a certificate says (user, role, validity...)",
    load: () => import("./commands/certs-show.ts"),
  },
  renew: {
    summary: "renew a user's certificate (same identity and role)",
    load: () => import("./commands/certs-renew.ts"),
  },
};

function listing(commands: Readonly<Record<string, CommandEntry>>): string {
  return Object.entries(commands)
    .map(([name, entry]) => `  ${name.padEnd(10)} ${entry.summary}\n`)
    .join("");
}

export const HELP = `Usage: jobworker COMMAND [OPTIONS] [ARGS]

Runs commands as jobs on a Linux host, each in its own cgroup (CPU, memory,
disk IO and process limits) and namespaces, behind a gRPC API with mutual TLS.
One program is both the server (serve) and the client (everything else).

Jobs:
${listing(JOB_COMMANDS)}
Server and certificates:
${listing(SERVER_COMMANDS)}
Shell:
${listing(OTHER_COMMANDS)}
Run \`jobworker COMMAND --help\` for a command's options. A job is named by its
ID, as the JOB argument or with --job ID.

Exit status: 0 ok; 1 an error (server unreachable, job not found, permission
denied, bad certificate); 2 a usage error. run and wait exit with the job's
status (its exit code, 128+N for signal N).
`;

const CERTS_HELP = `Usage: jobworker certs SUBCOMMAND [OPTIONS]

${listing(CERTS_COMMANDS)}
Run \`jobworker certs SUBCOMMAND --help\` for its options.
`;

const certsGroup: CommandModule = {
  help: CERTS_HELP,
  async run(io) {
    const [name, ...rest] = io.argv;
    if (name === undefined || name === "--help" || name === "-h" || name === "help") {
      (name === undefined ? io.stderr : io.stdout).write(CERTS_HELP);
      return name === undefined ? EXIT_USAGE : EXIT_OK;
    }
    const entry = CERTS_COMMANDS[name];
    if (entry === undefined)
      throw new UsageError(`unknown certs subcommand ${JSON.stringify(name)}`, "certs");
    return (await entry.load()).run({ ...io, argv: rest });
  },
};

function lookup(name: string): CommandEntry | undefined {
  for (const table of [JOB_COMMANDS, SERVER_COMMANDS, OTHER_COMMANDS]) {
    if (Object.hasOwn(table, name)) return table[name];
  }
  return undefined;
}

function version(): string {
  const text = readFileSync(new URL("../../package.json", import.meta.url), "utf8");
  const parsed = JSON.parse(text) as { version?: unknown };
  return typeof parsed.version === "string" ? parsed.version : "unknown";
}

/** The one line (and exit status) for anything a command throws. */
export function reportError(err: unknown, io: Pick<CommandIo, "stderr" | "env">): number {
  if (err instanceof UsageError) {
    // Only where the help says more than the message (an option, a command name).
    const see =
      err.command === undefined
        ? ""
        : ` (see: jobworker ${err.command === "" ? "" : `${err.command} `}--help)`;
    io.stderr.write(`jobworker: ${err.message}${see}\n`);
    return err.exitCode;
  }
  if (err instanceof CliError) {
    io.stderr.write(`jobworker: ${err.message}\n`);
    return err.exitCode;
  }
  // The library layers' own errors (PkiError from certs, JobError from serve)
  // carry messages written for people; a wrong argument is a usage error.
  if (err instanceof Error && (err.name === "PkiError" || err.name === "JobError")) {
    const code = "code" in err ? err.code : undefined;
    io.stderr.write(`jobworker: ${err.message}\n`);
    return code === "invalid_argument" && err.name === "PkiError" ? EXIT_USAGE : EXIT_FAILURE;
  }
  const message = err instanceof Error ? err.message : String(err);
  io.stderr.write(`jobworker: unexpected error: ${message}\n`);
  const debug = io.env["JOBWORKER_DEBUG"];
  if (debug !== undefined && debug !== "" && err instanceof Error && err.stack !== undefined) {
    io.stderr.write(`${err.stack}\n`);
  } else {
    io.stderr.write("jobworker: (set JOBWORKER_DEBUG=1 for the stack trace)\n");
  }
  return EXIT_FAILURE;
}

/** Runs the program with `argv` (without node and script); resolves with the exit status. */
export async function main(
  argv: readonly string[],
  io: Omit<CommandIo, "argv"> = process,
): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    io.stderr.write(HELP);
    return EXIT_USAGE;
  }
  if (name === "--help" || name === "-h") {
    io.stdout.write(HELP);
    return EXIT_OK;
  }
  if (name === "--version" || name === "-V") {
    io.stdout.write(`jobworker ${version()}\n`);
    return EXIT_OK;
  }
  try {
    if (name === "help") {
      const [topic, ...sub] = rest;
      if (topic === undefined) {
        io.stdout.write(HELP);
        return EXIT_OK;
      }
      return await main([topic, ...sub, "--help"], io);
    }
    const entry = lookup(name);
    if (entry === undefined) throw new UsageError(`unknown command ${JSON.stringify(name)}`, "");
    const command = await entry.load();
    return await command.run({ ...io, argv: rest });
  } catch (err) {
    return reportError(err, io);
  }
}
