/**
 * Host capacity and the admission queue with real jobs: a job that does
 * not fit waits in `queued`, first in first out, starts the moment it fits,
 * can be stopped while queued, and survives a restart.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { collectOutput, openTestWorker, type TestWorker } from "../helpers/worker.ts";

const MiB = 1024 * 1024;

describe("admission", () => {
  let t: TestWorker;
  before(async () => {
    t = await openTestWorker({ capacity: { memoryBytes: 512 * MiB } });
  });
  after(async () => {
    await t.dispose();
  });

  const asking256 = (args: string[]) => ({
    command: "sh",
    args,
    owner: "alice",
    limits: { memoryBytes: 256 * MiB },
  });

  it("capacity 512 MiB: two 256 MiB jobs run, the third queues and starts when one ends", async () => {
    const first = await t.worker.start(asking256(["-c", "sleep 0.5"]));
    const second = await t.worker.start(asking256(["-c", "sleep 30"]));
    const third = await t.worker.start(asking256(["-c", "echo third ran"]));
    assert.deepEqual([first.state, second.state, third.state], ["running", "running", "queued"]);
    assert.equal(third.queuePosition, 1);
    assert.equal(third.reason, "waiting for capacity");
    // A follower of a queued job waits for it to start and gets all its output.
    const output = collectOutput(t.worker.output(third.id, { follow: true }));
    const ended = await t.worker.wait(third.id);
    assert.equal(ended.state, "succeeded");
    assert.ok((ended.startedAt ?? "") >= ((await t.worker.status(first.id)).endedAt ?? "z"));
    assert.equal((await output).toString(), "third ran\n");
    await t.worker.stop(second.id, { graceMs: 0 });
  });

  it("a queued job can be stopped: it ends 'stopped' having never run", async () => {
    const blockers = [
      await t.worker.start(asking256(["-c", "sleep 30"])),
      await t.worker.start(asking256(["-c", "sleep 30"])),
    ];
    const queued = await t.worker.start(asking256(["-c", "echo never"]));
    assert.equal(queued.state, "queued");
    const stopped = await t.worker.stop(queued.id);
    assert.equal(stopped.state, "stopped");
    assert.equal(stopped.reason, "stopped by request before it started");
    assert.equal(stopped.startedAt, null);
    assert.equal((await collectOutput(t.worker.output(queued.id, { follow: true }))).length, 0);
    for (const job of blockers) await t.worker.stop(job.id, { graceMs: 0 });
  });

  it("a job asking more than the whole capacity is refused at once with the numbers", async () => {
    await assert.rejects(
      t.worker.start({ command: "true", owner: "alice", limits: { memoryBytes: 1024 * MiB } }),
      {
        code: "resource_exhausted",
        message:
          "the job asks for 1 GiB of memory but all jobs together may use only 512 MiB of memory",
      },
    );
  });

  it("queued jobs survive a restart, their environment included, and start there", async () => {
    const blockers = [
      await t.worker.start(asking256(["-c", "sleep 30"])),
      await t.worker.start(asking256(["-c", "sleep 30"])),
    ];
    const a = await t.worker.start({
      ...asking256(["-c", 'echo "a:$SECRET"']),
      env: { SECRET: "kept" },
    });
    const b = await t.worker.start(asking256(["-c", "echo b"]));
    await t.worker.close();
    // Blockers were stopped by the shutdown; the queue is still on disk.
    const again = await t.reopen();
    assert.equal((await again.wait(a.id)).state, "succeeded");
    assert.equal((await again.wait(b.id)).state, "succeeded");
    assert.equal((await collectOutput(again.output(a.id))).toString(), "a:kept\n");
    for (const job of blockers) assert.equal((await again.status(job.id)).state, "stopped");
  });
});
