/**
 * The process's open-file limit (RLIMIT_NOFILE) and the server-wide ceiling
 * on open output and watch streams derived from it.
 *
 * Node raises the soft limit to the hard limit itself when it starts (see
 * PlatformInit in nodejs/node src/node.cc; checked on Node 24.21: a shell at
 * `ulimit -Sn 1024` with a hard limit of 20000 starts node at 20000/20000),
 * so there is nothing to raise here: the soft limit read below is already
 * the most this process may have. The hard limit is the administrator's
 * (systemd's LimitNOFILE=, /etc/security/limits.conf).
 */
import { readFileSync } from "node:fs";
import { JobError } from "../worker/index.ts";

export interface OpenFileLimit {
  /** The limit in force. */
  soft: number;
  /** The most the soft limit could be raised to. */
  hard: number;
}

/**
 * Reads the limit from /proc/self/limits (Node has no getrlimit). A line
 * reads "Max open files            20000                20000                files".
 */
export function readOpenFileLimit(): OpenFileLimit {
  const file = "/proc/self/limits";
  let text: string;
  try {
    // Synchronous: read once, at startup.
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new JobError("failed_precondition", `could not read the open-file limit from ${file}`, {
      cause: err,
    });
  }
  // (Never "unlimited": Linux caps RLIMIT_NOFILE at fs.nr_open.)
  const match = /^Max open files\s+(\d+)\s+(\d+)\s/m.exec(text);
  if (match === null) {
    throw new JobError("failed_precondition", `${file} has no "Max open files" line`);
  }
  return { soft: Number(match[1]), hard: Number(match[2]) };
}

/**
 * The most output and watch streams open at once, all users together: half
 * the descriptors. A followed output stream holds its output file open; the
 * other half is left for the connections those streams arrive on, running
 * jobs' files and pipes, and the server's own files (state, TLS, logs), so
 * streams alone can never make `accept()` or a job start fail with EMFILE.
 */
export function streamCeilingFor(limit: OpenFileLimit): number {
  return Math.floor(limit.soft / 2);
}
