/**
 * `jobworker completion bash|zsh|fish`: a shell completion script for the
 * commands, the certs subcommands, each command's options (read from its
 * own --help, so the script never lists an option that does not exist),
 * and, where a command names a job, the IDs `jobworker ps -a -q` prints
 * (asked of the server as you press Tab, with the connection settings of
 * your environment; nothing when it cannot be reached).
 */
import { printError, type CommandIo, type CommandModule } from "../command.ts";
import { EXIT_OK, UsageError } from "../errors.ts";

/** A command as the completion sees it: its name, summary and module. */
export interface CompletionEntry {
  summary: string;
  load: () => Promise<CommandModule>;
}

interface CommandSpec {
  name: string;
  summary: string;
  /** Options ("--cpu", "-d"), and which of them take a value. */
  options: string[];
  takesValue: Set<string>;
  namesJob: boolean;
  subcommands: CommandSpec[];
}

const SHELLS = ["bash", "zsh", "fish"] as const;
type Shell = (typeof SHELLS)[number];

const help = `Usage: jobworker completion bash|zsh|fish

Prints a completion script for the shell: commands, options, and job IDs
(from \`jobworker ps -a -q\` as you press Tab). To use it:

  bash:  source <(jobworker completion bash)      # e.g. in ~/.bashrc
  zsh:   source <(jobworker completion zsh)       # e.g. in ~/.zshrc (after compinit)
  fish:  jobworker completion fish > ~/.config/fish/completions/jobworker.fish
`;

/** Options in a command's help: "  -d, --detach", "  --cpu CORES" (a value: a word in capitals). */
function optionsOf(helpText: string): { options: string[]; takesValue: Set<string> } {
  const options: string[] = ["--help"];
  const takesValue = new Set<string>();
  for (const match of helpText.matchAll(/^ {2}(?:(-[A-Za-z]), )?(--[a-z][a-z0-9-]*)( [A-Z])?/gm)) {
    const [, short, long, value] = match;
    for (const option of [short, long]) {
      if (option === undefined || options.includes(option)) continue;
      options.push(option);
      if (value !== undefined) takesValue.add(option);
    }
  }
  return { options, takesValue };
}

async function specOf(name: string, entry: CompletionEntry): Promise<CommandSpec> {
  const module = await entry.load();
  return {
    name,
    summary: entry.summary,
    ...optionsOf(module.help),
    namesJob: /\bJOB\b/.test(module.help.split("\n", 2).join("\n")),
    subcommands: [],
  };
}

const quoteSingle = (text: string): string => `'${text.replaceAll("'", `'\\''`)}'`;

function bash(commands: readonly CommandSpec[]): string {
  const cases = commands.map((command) => {
    const sub = command.subcommands;
    const names = sub.map((s) => s.name).join(" ");
    const subCases = sub
      .map((s) => `        ${s.name}) opts=${quoteSingle(s.options.join(" "))} ;;\n`)
      .join("");
    const subBlock =
      sub.length === 0
        ? ""
        : `      if [ "$COMP_CWORD" -gt 2 ]; then\n        case "\${COMP_WORDS[2]}" in\n${subCases}        esac\n      fi\n`;
    return `    ${command.name})\n      opts=${quoteSingle(command.options.join(" "))}\n      subs=${quoteSingle(names)}\n${subBlock}      jobs=${command.namesJob ? 1 : 0}\n      ;;\n`;
  });
  return `# bash completion for jobworker (jobworker completion bash)
_jobworker() {
  local cur=\${COMP_WORDS[COMP_CWORD]} opts="" subs="" jobs=0
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W ${quoteSingle(commands.map((c) => c.name).join(" "))} -- "$cur"))
    return
  fi
  case "\${COMP_WORDS[1]}" in
${cases.join("")}  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
  elif [ -n "$subs" ] && [ "$COMP_CWORD" -eq 2 ]; then
    COMPREPLY=($(compgen -W "$subs" -- "$cur"))
  elif [ "$jobs" = 1 ]; then
    COMPREPLY=($(compgen -W "$(jobworker ps -a -q 2>/dev/null)" -- "$cur"))
  else
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}
complete -F _jobworker jobworker
`;
}

function zsh(commands: readonly CommandSpec[]): string {
  const describe = commands
    .map((c) => `    ${quoteSingle(`${c.name}:${c.summary.replaceAll(":", "\\:")}`)}`)
    .join("\n");
  const cases = commands
    .map((command) => {
      const sub = command.subcommands;
      const subCases = sub
        .map((s) => `          ${s.name}) opts=(${s.options.join(" ")}) ;;\n`)
        .join("");
      const subBlock =
        sub.length === 0
          ? ""
          : `      if (( CURRENT == 3 )); then compadd -- ${sub.map((s) => s.name).join(" ")}; return; fi\n      case $words[3] in\n${subCases}      esac\n`;
      return `    ${command.name})\n      opts=(${command.options.join(" ")})\n${subBlock}      jobs=${command.namesJob ? 1 : 0}\n      ;;\n`;
    })
    .join("");
  return `#compdef jobworker
# zsh completion for jobworker (jobworker completion zsh)
_jobworker() {
  local -a commands opts
  local jobs=0
  commands=(
${describe}
  )
  if (( CURRENT == 2 )); then
    _describe 'command' commands
    return
  fi
  case $words[2] in
${cases}  esac
  if [[ $PREFIX == -* ]]; then
    compadd -- $opts
  elif (( jobs )); then
    compadd -- \${(f)"$(jobworker ps -a -q 2>/dev/null)"}
  else
    _files
  fi
}
compdef _jobworker jobworker
`;
}

function fish(commands: readonly CommandSpec[]): string {
  const lines = [
    "# fish completion for jobworker (jobworker completion fish)",
    "complete -c jobworker -f",
  ];
  const names = commands.map((c) => c.name).join(" ");
  for (const command of commands) {
    lines.push(
      `complete -c jobworker -n 'not __fish_seen_subcommand_from ${names}' -a ${command.name} -d ${quoteSingle(command.summary)}`,
    );
    const seen = `__fish_seen_subcommand_from ${command.name}`;
    for (const option of command.options) lines.push(fishOption(seen, option, command.takesValue));
    for (const sub of command.subcommands) {
      lines.push(
        `complete -c jobworker -n '${seen}' -a ${sub.name} -d ${quoteSingle(sub.summary)}`,
      );
      const inSub = `${seen}; and __fish_seen_subcommand_from ${sub.name}`;
      for (const option of sub.options) lines.push(fishOption(inSub, option, sub.takesValue));
    }
    if (command.namesJob) {
      lines.push(`complete -c jobworker -n '${seen}' -a '(jobworker ps -a -q 2>/dev/null)' -d job`);
    }
  }
  return `${lines.join("\n")}\n`;
}

function fishOption(condition: string, option: string, takesValue: Set<string>): string {
  const flag = option.startsWith("--") ? `-l ${option.slice(2)}` : `-s ${option.slice(1)}`;
  return `complete -c jobworker -n '${condition}' ${flag}${takesValue.has(option) ? " -r" : ""}`;
}

const WRITERS: Readonly<Record<Shell, (commands: readonly CommandSpec[]) => string>> = {
  bash,
  zsh,
  fish,
};

/** The `completion` command over the program's command table (main.ts hands it over). */
export function completionCommand(
  commands: Readonly<Record<string, CompletionEntry>>,
  certs: Readonly<Record<string, CompletionEntry>>,
): CommandModule {
  return {
    help,
    async run(io: CommandIo): Promise<number> {
      const [shell, ...rest] = io.argv;
      if (shell === "--help" || shell === "-h") {
        io.stdout.write(help);
        return EXIT_OK;
      }
      if (shell === undefined || !(SHELLS as readonly string[]).includes(shell)) {
        throw new UsageError(
          `completion needs a shell: ${SHELLS.join(", ")}${shell === undefined ? "" : ` (not ${JSON.stringify(shell)})`}`,
          "completion",
        );
      }
      if (rest.length > 0) printError(io, `ignoring ${rest.join(" ")}`);
      const specs: CommandSpec[] = [];
      for (const [name, entry] of Object.entries(commands)) {
        const spec = name === "certs" ? certsSpec(entry) : await specOf(name, entry);
        if (name === "certs") {
          for (const [subName, sub] of Object.entries(certs)) {
            spec.subcommands.push(await specOf(subName, sub));
          }
        }
        specs.push(spec);
      }
      io.stdout.write(WRITERS[shell as Shell](specs));
      return EXIT_OK;
    },
  };
}

function certsSpec(entry: CompletionEntry): CommandSpec {
  return {
    name: "certs",
    summary: entry.summary,
    options: ["--help"],
    takesValue: new Set(),
    namesJob: false,
    subcommands: [],
  };
}
