/**
 * Gives the V8 heap back to the system once a burst is over. 1,000
 * followers leave a heap of ~200 MiB of which ~35 MiB is live, and V8 only
 * shrinks a heap after a full collection, which a server that then idles
 * may not run for a long time (its memory reducer is armed only by an
 * earlier full collection): RSS stayed ~150 MiB above its start. So, every
 * few seconds, when the heap has held more than `slackBytes` of unused
 * space for two checks in a row without V8 shrinking it, the server asks
 * for one full, compacting collection (V8's "last resort" flavour: a
 * plain major collection left 134 of 269 MiB; this one, 6 MiB, in one
 * pause of ~150 ms on that heap). A collection runs at most once per two
 * checks, and only when V8 has not shrunk the heap itself.
 */
import { getHeapStatistics, setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { Logger } from "./logger.ts";

/** V8's gc(): a full, compacting collection ("last resort": it also returns
 * the heap's empty pages), at once ("sync") or with concurrent marking. */
export interface FullGc {
  (options: { type: "major"; execution: "async"; flavor: "last-resort" }): Promise<void>;
  (options: { type: "major"; execution: "sync"; flavor: "last-resort" }): void;
}

/**
 * V8's gc(), without starting Node with --expose-gc (which every CLI
 * command would then carry): the flag is on only while one new context
 * is made, so no code of the server's or its dependencies sees a global gc.
 */
export function exposeGc(): FullGc {
  setFlagsFromString("--expose-gc");
  try {
    return runInNewContext("gc") as FullGc;
  } finally {
    setFlagsFromString("--no-expose-gc");
  }
}

export interface HeapReducerOptions {
  logger: Logger;
  /** @default 10 s */
  checkMs?: number;
  /** Unused heap tolerated. @default 64 MiB */
  slackBytes?: number;
}

export interface HeapReducer {
  stop(): void;
}

export function startHeapReducer(options: HeapReducerOptions): HeapReducer {
  const { logger, checkMs = 10_000, slackBytes = 64 * 2 ** 20 } = options;
  const collect = exposeGc();
  /** The heap's size at the last check where it had too much slack. */
  let slackHeapSize: number | undefined;
  let collecting = false;
  const timer = setInterval(() => {
    if (collecting) return;
    const { total_heap_size: total, used_heap_size: used } = getHeapStatistics();
    if (total - used <= slackBytes) {
      slackHeapSize = undefined;
      return;
    }
    // The first check that sees the slack gives V8 until the next to shrink the heap itself.
    if (slackHeapSize === undefined || total < slackHeapSize) {
      slackHeapSize = total;
      return;
    }
    slackHeapSize = undefined;
    collecting = true;
    void collect({ type: "major", execution: "async", flavor: "last-resort" }).finally(() => {
      collecting = false;
      const after = getHeapStatistics().total_heap_size;
      logger.debug({ heapBefore: total, heapAfter: after }, "heap collected after a burst");
    });
  }, checkMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
    },
  };
}
