/**
 * Output: many readers at their own pace, from any offset, live and after
 * the end, byte for byte.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdir, readlink } from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { collectOutput, openTestWorker, type TestWorker } from "../helpers/worker.ts";

const MiB = 1024 * 1024;

async function sha256(
  chunks: AsyncIterable<Uint8Array>,
  delayEveryChunk = 0,
): Promise<{ hash: string; bytes: number }> {
  const hash = createHash("sha256");
  let bytes = 0;
  for await (const chunk of chunks) {
    hash.update(chunk);
    bytes += chunk.length;
    if (delayEveryChunk > 0 && bytes % (4 * MiB) < chunk.length) await sleep(delayEveryChunk);
  }
  return { hash: hash.digest("hex"), bytes };
}

async function openFilesUnder(dir: string): Promise<number> {
  let count = 0;
  for (const fd of await readdir("/proc/self/fd")) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => "");
    if (target.startsWith(dir)) count++;
  }
  return count;
}

describe("job output", () => {
  let t: TestWorker;
  before(async () => {
    t = await openTestWorker();
  });
  after(async () => {
    await t.dispose();
  });

  it("three concurrent followers of 50 MiB get identical bytes; a late reader gets all", async () => {
    // Numbered lines, so a lost or repeated chunk changes the hash.
    const job = await t.worker.start({
      command: "sh",
      args: ["-c", "seq 1 7000000 | head -c 52428800"],
      owner: "alice",
    });
    const followers = [0, 0, 50].map((delay) =>
      sha256(t.worker.output(job.id, { follow: true }), delay),
    );
    const results = await Promise.all(followers);
    const ended = await t.worker.wait(job.id);
    assert.equal(ended.state, "succeeded");
    for (const result of results) assert.deepEqual(result, results[0]);
    assert.equal(results[0]?.bytes, 50 * MiB);
    assert.deepEqual(await sha256(t.worker.output(job.id)), results[0]);
  });

  it("a follower's stream ends only once the job's final state is visible", async () => {
    for (let i = 0; i < 10; i++) {
      const job = await t.worker.start({ command: "echo", args: [String(i)], owner: "alice" });
      await collectOutput(t.worker.output(job.id, { follow: true }));
      assert.equal((await t.worker.status(job.id)).state, "succeeded");
    }
  });

  it("a follower from an offset continues exactly there", async () => {
    const job = await t.worker.start({
      command: "sh",
      args: ["-c", "echo 0123456789; sleep 0.2; echo abc"],
      owner: "alice",
    });
    const tail = await collectOutput(t.worker.output(job.id, { offset: 5, follow: true }));
    assert.equal(tail.toString(), "56789\nabc\n");
    // Past the end: nothing, and no error.
    assert.equal((await collectOutput(t.worker.output(job.id, { offset: 10_000 }))).length, 0);
  });

  it("a follower that starts before any output waits for the first byte", async () => {
    const job = await t.worker.start({
      command: "sh",
      args: ["-c", "sleep 0.3; printf late"],
      owner: "alice",
    });
    assert.equal(
      (await collectOutput(t.worker.output(job.id, { follow: true }))).toString(),
      "late",
    );
  });

  it("an aborted follower releases its file descriptor", async () => {
    const job = await t.worker.start({ command: "sleep", args: ["30"], owner: "alice" });
    const before = await openFilesUnder(t.stateDir);
    const controller = new AbortController();
    const reading = collectOutput(
      t.worker.output(job.id, { follow: true, signal: controller.signal }),
    );
    await sleep(100);
    assert.equal(await openFilesUnder(t.stateDir), before + 1);
    controller.abort();
    await reading;
    assert.equal(await openFilesUnder(t.stateDir), before);
    await t.worker.stop(job.id, { graceMs: 0 });
  });
});
