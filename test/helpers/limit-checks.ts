/**
 * The limit checks the issue names, as functions, so the host (cgroup v1)
 * suite and the VM (cgroup v2) suite run exactly the same checks.
 */
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import type { Worker } from "../../src/worker/index.ts";
import { collectOutput } from "./worker.ts";

const MiB = 1024 * 1024;

/** A job over a 32 MiB memory limit is OOM-killed and reported oomKilled. */
export async function checkMemoryHogIsOomKilled(worker: Worker): Promise<void> {
  // tail keeps its whole newline-free input in memory.
  const job = await worker.start({
    command: "sh",
    args: ["-c", "head -c 256M /dev/zero | tail"],
    owner: "alice",
    limits: { memoryBytes: 32 * MiB },
  });
  const ended = await worker.wait(job.id);
  assert.equal(ended.state, "failed");
  assert.equal(ended.oomKilled, true);
  assert.ok(ended.usage.oomKills >= 1);
  assert.match(ended.reason, /^out of memory \(limit 32 MiB\)/);
  assert.ok(ended.usage.memoryPeakBytes <= 33 * MiB, `peak ${ended.usage.memoryPeakBytes}`);
}

/**
 * Under a pids limit of 20 a fork loop gets exactly 17 children (the
 * launcher, its init and the program are the other 3) and the job never
 * has more than 20 processes. Python keeps trying after a failed fork,
 * where a POSIX shell gives up.
 */
export async function checkForkLoopIsCapped(worker: Worker): Promise<void> {
  const program = [
    "import os, time",
    "forked = 0",
    "for _ in range(60):",
    "    try:",
    "        if os.fork() == 0:",
    "            time.sleep(2); os._exit(0)",
    "        forked += 1",
    "    except OSError:",
    "        pass",
    "print(forked, flush=True)",
    "time.sleep(1)",
  ].join("\n");
  const job = await worker.start({
    command: "/usr/bin/python3",
    args: ["-c", program],
    owner: "alice",
    limits: { pids: 20 },
  });
  let most = 0;
  for (let status = job; status.state === "running"; status = await worker.status(job.id)) {
    most = Math.max(most, status.usage.pids);
    await sleep(100);
  }
  const forked = Number((await collectOutput(worker.output(job.id))).toString());
  assert.equal(forked, 17, `python forked ${forked} children`);
  assert.ok(most <= 20, `saw ${most} processes`);
}

/** 3 MiB of O_DIRECT writes under a 1 MiB/s limit take about 2 s or more. */
export async function checkDirectWritesAreThrottled(worker: Worker): Promise<void> {
  const job = await worker.start({
    command: "dd",
    args: ["if=/dev/zero", "of=blob", "bs=256K", "count=12", "oflag=direct"],
    owner: "alice",
    limits: { ioWriteBytesPerSecond: MiB },
  });
  const ended = await worker.wait(job.id);
  assert.equal(ended.state, "succeeded", (await collectOutput(worker.output(job.id))).toString());
  const seconds = (Date.parse(ended.endedAt ?? "") - Date.parse(ended.startedAt ?? "")) / 1000;
  assert.ok(ended.usage.ioWriteBytes >= 3 * MiB, `kernel counted ${ended.usage.ioWriteBytes}`);
  // The first second's budget goes at once, the rest waits.
  assert.ok(seconds >= 1.8, `3 MiB took only ${seconds} s`);
}
