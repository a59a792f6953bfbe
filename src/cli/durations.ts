/**
 * Durations on the command line: "500ms", "10s", "2m", "1h", "1m30s",
 * "1.5s". A plain number is seconds (as `docker stop --time`).
 */
import { UsageError } from "./errors.ts";

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

const WHOLE = /^(?:(?:\d+(?:\.\d+)?|\.\d+)(?:ms|s|m|h))+$/;
const PART = /(\d+(?:\.\d+)?|\.\d+)(ms|s|m|h)/g;
const PLAIN = /^(?:\d+(?:\.\d+)?|\.\d+)$/;

/** Whole milliseconds for `text`; `option` ("--grace") names the flag in the error. */
export function parseDuration(text: string, option: string): number {
  const trimmed = text.trim();
  let ms: number;
  if (PLAIN.test(trimmed)) {
    ms = Number(trimmed) * 1000;
  } else if (WHOLE.test(trimmed)) {
    ms = 0;
    for (const [, amount, unit] of trimmed.matchAll(PART))
      ms += Number(amount) * (UNIT_MS[unit ?? ""] ?? 0);
  } else {
    throw new UsageError(
      `${option} ${JSON.stringify(text)} is not a duration: use a number with ms, s, m or h (e.g. 500ms, 10s, 2m, 1m30s); a plain number is seconds`,
    );
  }
  const rounded = Math.round(ms);
  if (!Number.isSafeInteger(rounded))
    throw new UsageError(`${option} ${JSON.stringify(text)} is too long`);
  return rounded;
}
