/**
 * Colours only on a terminal, and never when NO_COLOR is set to anything
 * non-empty (https://no-color.org). Piped output is always plain text.
 */
import type { JobStateName } from "./job-json.ts";

export interface Painter {
  readonly enabled: boolean;
  state(name: JobStateName, text?: string): string;
  dim(text: string): string;
  bold(text: string): string;
  warn(text: string): string;
  error(text: string): string;
}

const CODES = {
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  blue: [34, 39],
  dim: [2, 22],
  bold: [1, 22],
} as const;

type Style = keyof typeof CODES;

const STATE_STYLE: Readonly<Record<JobStateName, Style>> = {
  queued: "dim",
  starting: "blue",
  running: "blue",
  succeeded: "green",
  failed: "red",
  stopped: "yellow",
};

export function colorEnabled(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
  const noColor = env["NO_COLOR"];
  return stream.isTTY === true && (noColor === undefined || noColor === "");
}

export function painter(enabled: boolean): Painter {
  const paint = (style: Style, text: string): string => {
    if (!enabled) return text;
    const [on, off] = CODES[style];
    return `\u001b[${on}m${text}\u001b[${off}m`;
  };
  return {
    enabled,
    state: (name, text = name) => paint(STATE_STYLE[name], text),
    dim: (text) => paint("dim", text),
    bold: (text) => paint("bold", text),
    warn: (text) => paint("yellow", text),
    error: (text) => paint("red", text),
  };
}

/** Text width without colour codes (for aligning table columns). */
export function visibleLength(text: string): number {
  return text.replace(/\u001b\[[0-9;]*m/g, "").length;
}
