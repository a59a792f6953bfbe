/**
 * Limits enforced by the real kernel on this host's cgroups (v1 here; the
 * v2 equivalents run in test/v2 inside vm-run).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { forkLoop, MEMORY_HOG } from "../helpers/job-programs.ts";
import { collectOutput, openTestWorker, type TestWorker } from "../helpers/worker.ts";

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
    const job = await t.worker.start({
      ...MEMORY_HOG,
      owner: "alice",
      limits: { memoryBytes: 32 * MiB },
    });
    const ended = await t.worker.wait(job.id);
    assert.equal(ended.state, "failed");
    assert.equal(ended.oomKilled, true);
    assert.ok(ended.usage.oomKills >= 1);
    assert.match(ended.reason, /^out of memory \(limit 32 MiB\)/);
    assert.ok(ended.usage.memoryPeakBytes <= 32 * MiB + MiB, `peak ${ended.usage.memoryPeakBytes}`);
  });

  it("a fork loop under a pids limit of 20 never exceeds 20 processes", async () => {
    const job = await t.worker.start({
      ...forkLoop(60),
      owner: "alice",
      limits: { pids: 20 },
    });
    let most = 0;
    for (let status = job; status.state === "running"; status = await t.worker.status(job.id)) {
      most = Math.max(most, status.usage.pids);
      await sleep(100);
    }
    const forked = Number((await collectOutput(t.worker.output(job.id))).toString());
    // The launcher, its init and python itself are 3 of the 20.
    assert.equal(forked, 17, `python forked ${forked} children`);
    assert.ok(most <= 20, `saw ${most} processes`);
  });

  it("O_DIRECT writes under a 1 MiB/s write limit are throttled", async () => {
    const job = await t.worker.start({
      command: "dd",
      args: ["if=/dev/zero", "of=blob", "bs=256K", "count=12", "oflag=direct"],
      owner: "alice",
      limits: { ioWriteBytesPerSecond: MiB },
    });
    const ended = await t.worker.wait(job.id);
    assert.equal(
      ended.state,
      "succeeded",
      (await collectOutput(t.worker.output(job.id))).toString(),
    );
    const seconds = (Date.parse(ended.endedAt ?? "") - Date.parse(ended.startedAt ?? "")) / 1000;
    assert.ok(
      ended.usage.ioWriteBytes >= 3 * MiB,
      `kernel counted ${ended.usage.ioWriteBytes} bytes`,
    );
    // 3 MiB at 1 MiB/s: the first second's budget goes at once, the rest waits.
    assert.ok(seconds >= 1.8, `3 MiB took only ${seconds} s`);
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
    assert.deepEqual(job.limits, { cpu: 0.5, memoryBytes: 1024 * MiB, pids: 1024 });
    assert.deepEqual(job.limitsNotInForce, []);
  });
});
