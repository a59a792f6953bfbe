/**
 * Forcing a garbage collection in a helper process started with the hook
 * of gc-hook.ts.
 */
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

/** Runs `start` (which spawns helpers) with gc-hook.ts preloaded into what it spawns. */
export async function withGcHook<T>(start: () => Promise<T>): Promise<T> {
  const saved = process.env["NODE_OPTIONS"];
  const hook = `--import=${join(import.meta.dirname, "gc-hook.ts")}`;
  process.env["NODE_OPTIONS"] = saved === undefined ? hook : `${saved} ${hook}`;
  try {
    return await start();
  } finally {
    if (saved === undefined) delete process.env["NODE_OPTIONS"];
    else process.env["NODE_OPTIONS"] = saved;
  }
}

/** Asks `pid` for full collections (twice: the first frees what finalizers
 * release for the second) and gives each `settleMs` to run. */
export async function collectGarbage(pid: number, settleMs = 500): Promise<void> {
  for (let i = 0; i < 2; i++) {
    process.kill(pid, "SIGUSR2");
    await sleep(settleMs);
  }
}
