/**
 * A state directory whose disk is full, on a real 2 MiB tmpfs: a start is
 * refused with resource_exhausted (and the process lives on), a stop still
 * answers and its record reaches the disk once space returns, and a job
 * whose output filled the disk says so in its reason.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { isJobError } from "../../src/worker/index.ts";
import { fillUp } from "../helpers/disk.ts";
import { openTestWorker, type TestWorker } from "../helpers/worker.ts";

async function recordState(stateDir: string, id: string): Promise<string> {
  const text = await readFile(join(stateDir, "jobs", id, "record.json"), "utf8");
  return (JSON.parse(text) as { job: { state: string } }).job.state;
}

describe("a full state disk", () => {
  let mountPoint: string;
  let t: TestWorker;
  before(async () => {
    mountPoint = await mkdtemp(join(tmpdir(), "jw-full-"));
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=2m,mode=0711", "jw-full", mountPoint]);
    t = await openTestWorker({ stateRoot: mountPoint });
  });
  after(async () => {
    await t.dispose();
    execFileSync("umount", [mountPoint]);
    await rm(mountPoint, { recursive: true, force: true });
  });

  it("refuses a start, still stops, and writes the stop once space returns", async () => {
    const running = await t.worker.start({ command: "sleep", args: ["30"], owner: "alice" });
    const filler = join(t.stateDir, "filler");
    await fillUp(filler);

    await assert.rejects(
      t.worker.start({ command: "echo", args: ["hi"], owner: "alice" }),
      (err: unknown) =>
        isJobError(err) &&
        err.code === "resource_exhausted" &&
        /could not write the record of job .*: no space left on device/.test(err.message),
    );
    assert.equal((await t.worker.list()).length, 1, "the refused job left no trace");

    await t.worker.stop(running.id, { graceMs: 1000 });
    const stopped = await t.worker.wait(running.id);
    assert.equal(stopped.state, "stopped");
    assert.equal(await recordState(t.stateDir, running.id), "running", "the disk took nothing");

    await rm(filler);
    let onDisk = "running";
    for (let i = 0; i < 40 && onDisk !== "stopped"; i++) {
      await sleep(100);
      onDisk = await recordState(t.stateDir, running.id);
    }
    assert.equal(onDisk, "stopped", "the record write is retried without another transition");
  });

  it("a job whose output filled the disk says so", async () => {
    const job = await t.worker.start({
      command: "head",
      args: ["-c", "8M", "/dev/zero"],
      owner: "alice",
    });
    const ended = await t.worker.wait(job.id);
    assert.equal(ended.state, "failed");
    assert.match(ended.reason, /exited with code 1 \(the state directory's file system is full/);
    assert.ok(ended.outputBytes > 0 && ended.outputBytes < 2 * 1024 * 1024);
  });
});
