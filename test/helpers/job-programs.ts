/**
 * Small programs that tests run as jobs, shared by the host (v1) and the
 * VM (v2) suites so both check the same behaviour.
 */

/**
 * Python forks `attempts` sleeping children and prints how many forks
 * succeeded. Unlike a POSIX shell, it keeps trying after a failed fork.
 */
export function forkLoop(attempts: number): { command: string; args: string[] } {
  const program = [
    "import os, time",
    "forked = 0",
    `for _ in range(${attempts}):`,
    "    try:",
    "        if os.fork() == 0:",
    "            time.sleep(2); os._exit(0)",
    "        forked += 1",
    "    except OSError:",
    "        pass",
    "print(forked, flush=True)",
    "time.sleep(1)",
  ].join("\n");
  return { command: "/usr/bin/python3", args: ["-c", program] };
}

/** A memory hog: tail keeps its whole newline-free input in memory. */
export const MEMORY_HOG = { command: "sh", args: ["-c", "head -c 256M /dev/zero | tail"] };
