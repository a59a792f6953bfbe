/**
 * Sizes on the command line: "256M", "1.5G", "512K", "10MiB", "4096".
 * Suffixes are 1024-based whatever their spelling (K = KiB = KB = 1024), as
 * in docker and in what cgroup limits are usually thought of in; a plain
 * number is bytes. Fractions are allowed and rounded down to whole bytes.
 */
import { UsageError } from "./errors.ts";

const MULTIPLIERS: Readonly<Record<string, number>> = {
  "": 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
};

const SIZE = /^(\d+(?:\.\d*)?|\.\d+)\s*([kmgt]?)(i?b)?$/i;

/** Bytes for `text`; `option` ("--memory") names the flag in the error. */
export function parseSize(text: string, option: string): number {
  const match = SIZE.exec(text.trim());
  const unit = (match?.[2] ?? "").toLowerCase();
  const suffix = (match?.[3] ?? "").toLowerCase();
  const multiplier = MULTIPLIERS[unit];
  // "5iB" has a binary marker with no unit to mark.
  if (match === null || multiplier === undefined || (unit === "" && suffix === "ib")) {
    throw new UsageError(
      `${option} ${JSON.stringify(text)} is not a size: give bytes with an optional K, M, G or T suffix (1024-based), e.g. 256M or 1.5G`,
    );
  }
  const bytes = Math.floor(Number(match[1]) * multiplier);
  if (!Number.isSafeInteger(bytes))
    throw new UsageError(`${option} ${JSON.stringify(text)} is too large`);
  return bytes;
}
