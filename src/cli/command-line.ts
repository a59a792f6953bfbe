/**
 * A command given as one string (`jobworker start "echo 'Life is Great'"`)
 * is split into words here by the POSIX shell's quoting rules, and never
 * handed to a shell: the job runs `echo` with the one argument
 * `Life is Great`.
 *
 * Quoting, as in sh (POSIX.1-2017 XCU 2.2):
 * - 'single quotes' keep everything inside literally;
 * - "double quotes" keep everything literally except that a backslash
 *   escapes $ ` " \ and newline (before any other character it stays);
 * - an unquoted backslash keeps the next character literally (backslash +
 *   newline is removed, a line continuation);
 * - unquoted spaces and tabs separate words.
 *
 * Anything a shell would do more than quote removal is refused, because
 * doing it silently without a shell would run something else than the user
 * typed: variables and `$(...)`/backticks (also inside double quotes), globs
 * `* ? [`, pipes, redirections, `;`, `&`/`&&`, `( )`, a newline, `#` comments,
 * `~` expansion, and `NAME=value` prefixes. The refusal says to write
 * `-- sh -c '...'` (or `--env` for an assignment).
 */
import { UsageError } from "./errors.ts";

/** What a shell would do with a character that we will not do. */
const NEEDS_SHELL: Readonly<Record<string, string>> = {
  "|": "| is a pipe",
  "&": "& runs in the background or chains with &&",
  ";": "; separates commands",
  "<": "< is a redirection",
  ">": "> is a redirection",
  "*": "* is a glob pattern",
  "?": "? is a glob pattern",
  "[": "[ starts a glob pattern",
  "(": "( starts a subshell",
  ")": ") ends a subshell",
  "`": "backticks substitute a command's output",
  "\n": "a newline separates commands",
};

const ASSIGNMENT_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A POSIX sh single-quoted form of `text`, for the hint. */
function shellQuote(text: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(text)) return text;
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

function refuse(text: string, why: string): never {
  throw new UsageError(
    `the command ${JSON.stringify(text)} needs a shell (${why}); jobworker runs no shell for you: write -- sh -c ${shellQuote(text)} to use one`,
  );
}

function dollarMeaning(next: string | undefined): string {
  return next === "(" ? "$(...) substitutes a command's output" : "$ expands a variable";
}

/**
 * Splits `text` into words by POSIX quoting rules; throws a UsageError for
 * unterminated quotes, an empty command, and anything that needs a shell.
 */
export function splitCommandLine(text: string): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  // Whether the current word so far was typed without any quoting (an
  // assignment prefix is only one when its name is unquoted).
  let plain = true;
  let i = 0;
  const endWord = (): void => {
    if (inWord) words.push(word);
    word = "";
    inWord = false;
    plain = true;
  };

  while (i < text.length) {
    const c = text.charAt(i);
    if (c === " " || c === "\t") {
      endWord();
      i += 1;
    } else if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end === -1)
        throw new UsageError(`the command ${JSON.stringify(text)} has an unterminated ' quote`);
      word += text.slice(i + 1, end);
      inWord = true;
      plain = false;
      i = end + 1;
    } else if (c === '"') {
      i += 1;
      for (;;) {
        if (i >= text.length)
          throw new UsageError(`the command ${JSON.stringify(text)} has an unterminated " quote`);
        const d = text.charAt(i);
        if (d === '"') break;
        if (d === "$") refuse(text, dollarMeaning(text[i + 1]));
        if (d === "`") refuse(text, NEEDS_SHELL["`"] ?? "");
        if (d === "\\" && i + 1 < text.length && '$`"\\\n'.includes(text.charAt(i + 1))) {
          if (text.charAt(i + 1) !== "\n") word += text.charAt(i + 1);
          i += 2;
        } else {
          word += d;
          i += 1;
        }
      }
      inWord = true;
      plain = false;
      i += 1;
    } else if (c === "\\") {
      if (i + 1 >= text.length)
        throw new UsageError(`the command ${JSON.stringify(text)} ends with a lone backslash`);
      const next = text.charAt(i + 1);
      if (next !== "\n") {
        word += next;
        inWord = true;
        plain = false;
      }
      i += 2;
    } else if (c === "$") {
      refuse(text, dollarMeaning(text[i + 1]));
    } else if (NEEDS_SHELL[c] !== undefined) {
      refuse(text, NEEDS_SHELL[c]);
    } else if (c === "#" && !inWord) {
      refuse(text, "# starts a comment");
    } else if (c === "~" && !inWord) {
      refuse(text, "~ expands to a home directory");
    } else if (c === "=" && words.length === 0 && plain && ASSIGNMENT_NAME.test(word)) {
      throw new UsageError(
        `the command ${JSON.stringify(text)} starts with a variable assignment (${word}=...), which needs a shell: pass it as --env ${word}=VALUE instead`,
      );
    } else {
      word += c;
      inWord = true;
      i += 1;
    }
  }
  endWord();
  if (words.length === 0) throw new UsageError("no command given");
  return words;
}

/** argv as one line a user could paste into sh (for tables and messages). */
export function joinCommandLine(argv: readonly string[]): string {
  return argv.map((arg) => (arg === "" ? "''" : shellQuote(arg))).join(" ");
}
