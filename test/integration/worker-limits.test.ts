/**
 * Limits enforced by the real kernel on this host's cgroups (v1 here; the
 * v2 equivalents run in test/v2 inside vm-run).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  checkDirectWritesAreThrottled,
  checkForkLoopIsCapped,
  checkMemoryHogIsOomKilled,
} from "../helpers/limit-checks.ts";
import { openTestWorker, type TestWorker } from "../helpers/worker.ts";

const MiB = 1024 * 1024;

describe("limits on the real kernel", () => {
  let t: TestWorker;
  before(async () => {
    t = await openTestWorker();
  });
  after(async () => {
    await t.dispose();
  });

  it("a memory hog over its limit is OOM-killed and reported oomKilled", async () => {
    await checkMemoryHogIsOomKilled(t.worker);
  });

  it("a fork loop under a pids limit of 20 never exceeds 20 processes", async () => {
    await checkForkLoopIsCapped(t.worker);
  });

  it("O_DIRECT writes under a 1 MiB/s write limit are throttled", async () => {
    await checkDirectWritesAreThrottled(t.worker);
  });

  it("a busy loop limited to 0.2 cores uses 0.15-0.25 cores over 3 s", async () => {
    const job = await t.worker.start({
      command: "timeout",
      args: ["3", "sh", "-c", "while :; do :; done"],
      owner: "alice",
      limits: { cpu: 0.2 },
    });
    const ended = await t.worker.wait(job.id);
    const wall = (Date.parse(ended.endedAt ?? "") - Date.parse(ended.startedAt ?? "")) / 1000;
    const cores = ended.usage.cpuUsec / 1e6 / wall;
    assert.ok(cores >= 0.15 && cores <= 0.25, `used ${cores.toFixed(3)} cores`);
    assert.ok(ended.usage.cpuThrottledUsec > 0, "the kernel reports throttling");
  });

  it("limits in force are in the status, defaults filled in", async () => {
    const job = await t.worker.start({ command: "true", owner: "alice", limits: { cpu: 0.5 } });
    assert.deepEqual(job.limits, {
      cpu: 0.5,
      memoryBytes: 1024 * MiB,
      pids: 1024,
      diskBytes: 1024 * MiB,
    });
    assert.deepEqual(job.limitsNotInForce, []);
  });
});
