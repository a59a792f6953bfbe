/**
 * The heap reducer: a heap left mostly empty after a burst is collected
 * and given back; a heap in use is left alone. Runs in this test's own
 * process, on its real V8 heap (no --expose-gc: the reducer gets gc itself).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { getHeapStatistics } from "node:v8";
import { startHeapReducer } from "../../../src/server/heap-reducer.ts";
import { keptLogger } from "../../helpers/kept-logger.ts";

const MiB = 2 ** 20;

/** Allocates ~`mib` MiB of small objects, then drops them: a burst's leftovers. */
function burst(mib: number): void {
  let objects: { i: number; s: string }[] | undefined = [];
  for (let i = 0; i < mib * 11_000; i++) objects.push({ i, s: `item ${i}` });
  objects = undefined;
}

describe("heap reducer", () => {
  it("gives back a heap a burst left mostly empty", async () => {
    burst(150);
    const before = getHeapStatistics();
    assert.ok(
      before.total_heap_size - before.used_heap_size > 32 * MiB ||
        before.total_heap_size > 100 * MiB,
      `the burst left ${(before.total_heap_size / MiB).toFixed(0)} MiB of heap`,
    );
    const { logger, lines } = keptLogger("debug");
    const reducer = startHeapReducer({
      logger,
      checkMs: 200,
      slackBytes: 32 * MiB,
    });
    try {
      const deadline = Date.now() + 10_000;
      while (lines.length === 0 && Date.now() < deadline) await sleep(100);
    } finally {
      reducer.stop();
    }
    assert.equal(lines.length, 1, "one collection");
    const after = getHeapStatistics().total_heap_size;
    assert.ok(
      after < before.total_heap_size / 2,
      `heap ${(before.total_heap_size / MiB).toFixed(0)} MiB before, ${(after / MiB).toFixed(0)} MiB after`,
    );
  });

  it("leaves a heap in use alone", async () => {
    const held: { i: number; s: string }[] = [];
    for (let i = 0; i < 60 * 11_000; i++) held.push({ i, s: `item ${i}` });
    const { logger, lines } = keptLogger("debug");
    const reducer = startHeapReducer({
      logger,
      checkMs: 100,
      slackBytes: 256 * MiB,
    });
    await sleep(1_000);
    reducer.stop();
    assert.equal(lines.length, 0);
    assert.equal(held.length, 660_000);
  });
});
