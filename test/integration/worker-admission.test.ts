/**
 * Host capacity and the admission queue with real jobs: a job that does
 * not fit waits in `queued`, first in first out, starts the moment it fits,
 * can be stopped while queued, and survives a restart.
 */
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
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

describe("fairness between owners", () => {
  let t: TestWorker;
  before(async () => {
    t = await openTestWorker({ capacity: { maxRunning: 1 } });
  });
  after(async () => {
    await t.dispose();
  });

  // (The reliability suite's hostile-tenant section does it with 300.)
  it("bob's first job waits behind one of alice's 40, not all of them; places are real", async () => {
    const blocker = await t.worker.start({ command: "sleep", args: ["60"], owner: "carol" });
    const alice = [];
    for (let i = 0; i < 40; i++) {
      alice.push(await t.worker.start({ command: "true", owner: "alice" }));
    }
    const bob = await t.worker.start({ command: "true", owner: "bob" });
    assert.equal(bob.state, "queued");
    assert.equal(bob.queuePosition, 2);
    const places = (await t.worker.list({ states: ["queued"] })).map((job) => job.queuePosition);
    assert.deepEqual(
      places.sort((a, b) => (a ?? 0) - (b ?? 0)),
      Array.from({ length: 41 }, (_, i) => i + 1),
      "every queued job has its own place",
    );
    await t.worker.stop(blocker.id, { graceMs: 0 });
    const bobEnded = await t.worker.wait(bob.id);
    const secondOfAlice = await t.worker.status(alice[1]?.id ?? "");
    assert.equal(bobEnded.state, "succeeded");
    assert.ok(
      secondOfAlice.startedAt === null || (bobEnded.startedAt ?? "") <= secondOfAlice.startedAt,
      "bob started before alice's second job",
    );
    for (const job of alice) await t.worker.stop(job.id, { graceMs: 0 });
  });

  it("caps per owner: running jobs wait beyond maxRunningJobs; queued ones are refused beyond maxQueuedJobs", async () => {
    const wide = await openTestWorker();
    try {
      const policy = { maxRunningJobs: 1, maxQueuedJobs: 2 };
      const spec = { command: "sleep", args: ["30"], owner: "alice" };
      const first = await wide.worker.start(spec, policy);
      const second = await wide.worker.start(spec, policy);
      const third = await wide.worker.start(spec, policy);
      assert.deepEqual(
        [first.state, second.state, third.state],
        ["running", "queued", "queued"],
        "the host has room; alice's cap holds her second job",
      );
      await assert.rejects(wide.worker.start(spec, policy), {
        code: "resource_exhausted",
        message:
          "alice has 2 jobs waiting in the queue, the most allowed; wait for some to start or stop some",
      });
      const bob = await wide.worker.start({ ...spec, owner: "bob" }, policy);
      assert.equal(bob.state, "running", "bob has his own caps");
      await wide.worker.stop(first.id, { graceMs: 0 });
      for (let i = 0; i < 500 && (await wide.worker.status(second.id)).state !== "running"; i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.equal((await wide.worker.status(second.id)).state, "running");
      for (const job of [second, third, bob]) await wide.worker.stop(job.id, { graceMs: 0 });
    } finally {
      await wide.dispose();
    }
  });
});

describe("closing while the queue moves", () => {
  it("starts nothing after close, and leaves nothing half-started", async () => {
    for (const delayMs of [0, 5, 20, 50]) {
      const t = await openTestWorker({ capacity: { maxRunning: 1 } });
      try {
        const sleeper = await t.worker.start({ command: "sleep", args: ["60"], owner: "carol" });
        for (let i = 0; i < 10; i++) await t.worker.start({ command: "true", owner: "alice" });
        // The sleeper's end lets a queued job in just as the worker closes.
        const stopping = t.worker.stop(sleeper.id, { graceMs: 0 });
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        await t.worker.close();
        await stopping;
        const jobs = await t.worker.list();
        const unfinished = jobs.filter(
          (job) => job.state === "starting" || job.state === "running",
        );
        assert.deepEqual(unfinished, [], `after a ${delayMs} ms pause`);
        assert.deepEqual(await readdir(join(t.stateDir, "scratch")), [], "no scratch folder left");
      } finally {
        await t.dispose();
      }
    }
  });
});
