/**
 * What a job can see and do: its own processes, loopback only, its own
 * unprivileged uid, no capabilities, no inherited descriptors, and a
 * scratch folder no other job can read.
 */
import assert from "node:assert/strict";
import { stat } from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import { collectOutput, openTestWorker, type TestWorker } from "../helpers/worker.ts";

async function run(t: TestWorker, script: string): Promise<string> {
  const job = await t.worker.start({ command: "sh", args: ["-c", script], owner: "alice" });
  const ended = await t.worker.wait(job.id);
  const output = (await collectOutput(t.worker.output(job.id))).toString();
  assert.equal(ended.state, "succeeded", output);
  return output;
}

describe("isolation", () => {
  let t: TestWorker;
  before(async () => {
    t = await openTestWorker();
  });
  after(async () => {
    await t.dispose();
  });

  it("ps inside a job shows only the job's processes", async () => {
    const output = await run(t, "ps -e -o pid=,comm=");
    const commands = output
      .trim()
      .split("\n")
      .map((line) => line.trim().split(/\s+/)[1]);
    assert.ok(commands.length <= 4, `saw ${output}`);
    assert.ok(!commands.includes("node"), "the server is not visible");
  });

  it("the network has only loopback, and it is up", async () => {
    const output = await run(
      t,
      "cat /proc/net/dev; cat /sys/class/net/lo/operstate /sys/class/net/lo/flags",
    );
    const interfaces = output
      .split("\n")
      .slice(2)
      .filter((l) => l.includes(":"))
      .map((l) => l.split(":")[0]?.trim());
    assert.deepEqual(interfaces, ["lo"]);
    assert.match(output, /0x9\n?$/m, "lo has IFF_UP (flags 0x9: UP|LOOPBACK)");
  });

  it("runs as an unprivileged uid of its own, no groups, no capabilities, no_new_privs", async () => {
    const output = await run(
      t,
      "id -u; id -g; grep -E '^(Groups|CapEff|CapPrm|NoNewPrivs):' /proc/self/status",
    );
    const [uid, gid] = output.split("\n");
    assert.notEqual(uid, "0");
    assert.ok(Number(uid) >= 1_000_000, `uid ${uid} is from the test worker's range`);
    assert.equal(gid, uid);
    assert.match(output, /^Groups:\s*$/m);
    assert.match(output, /^CapEff:\s*0+$/m);
    assert.match(output, /^CapPrm:\s*0+$/m);
    assert.match(output, /^NoNewPrivs:\s*1$/m);
  });

  it("inherits no file descriptors besides stdin, stdout and stderr", async () => {
    const output = await run(t, "ls /proc/self/fd");
    // ls itself opens one descriptor for the listing.
    assert.deepEqual(
      output
        .trim()
        .split("\n")
        .map(Number)
        .filter((fd) => fd > 2).length <= 1,
      true,
      output,
    );
  });

  it("starts in a fresh scratch folder owned by the job's uid, mode 0700, removed after", async () => {
    const job = await t.worker.start({
      command: "sh",
      args: ["-c", "pwd; stat -c '%u %a' ."],
      owner: "alice",
    });
    await t.worker.wait(job.id);
    const [cwd, ownerAndMode] = (await collectOutput(t.worker.output(job.id)))
      .toString()
      .trim()
      .split("\n");
    assert.equal(cwd, job.cwd);
    assert.equal(ownerAndMode, `${job.uid} 700`);
    await assert.rejects(stat(job.cwd), { code: "ENOENT" });
  });

  it("cannot read the job records or another job's scratch folder", async () => {
    const other = await t.worker.start({ command: "sleep", args: ["30"], owner: "bob" });
    const output = await run(
      t,
      `cat ${t.stateDir}/jobs/${other.id}/record.json 2>&1; ls ${other.cwd} 2>&1; ls ${t.stateDir}/scratch 2>&1; true`,
    );
    assert.equal((output.match(/Permission denied/g) ?? []).length, 3, output);
    await t.worker.stop(other.id, { graceMs: 0 });
  });

  it("has its own hostname", async () => {
    const job = await t.worker.start({ command: "hostname", owner: "alice" });
    await t.worker.wait(job.id);
    assert.equal(
      (await collectOutput(t.worker.output(job.id))).toString(),
      `job-${job.id.slice(0, 8)}\n`,
    );
  });
});
