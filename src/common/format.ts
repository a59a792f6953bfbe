/**
 * Sizes and durations for people, one way in every message and table:
 * 1024-based sizes ("512 bytes", "1.5 GiB", "64 MiB") and short durations
 * ("850 ms", "12.3 s", "4m 05s", "2h 03m"): at most one decimal, none
 * where the value is whole.
 */
const SIZE_UNITS = ["bytes", "KiB", "MiB", "GiB", "TiB"] as const;

export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < SIZE_UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${oneDecimal(value)} ${SIZE_UNITS[unit] ?? "bytes"}`;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${oneDecimal(ms / 1000)} s`;
  const totalSeconds = Math.floor(ms / 1000);
  const hours = Math.floor(totalSeconds / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = totalSeconds % 60;
  if (hours === 0) return `${minutes}m ${String(seconds).padStart(2, "0")}s`;
  return `${hours}h ${String(minutes).padStart(2, "0")}m`;
}

/** "3", "1.5", "1" for 1.04: one decimal at most, no trailing ".0". */
function oneDecimal(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(1).replace(/\.0$/, "");
}
