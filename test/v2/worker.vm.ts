/**
 * The whole job library on a real pure cgroup v2 kernel (inside vm-run):
 * the limits the issue names, enforced by v2's files, and isolation.
 * The state directory lives on the VM's scratch disk (/dev/vda, formatted
 * here), so io.max applies to the job's own files. CPU timing is not
 * checked here: the emulated guest's CPU time is not faithful.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import {
  checkDirectWritesAreThrottled,
  checkForkLoopIsCapped,
  checkMemoryHogIsOomKilled,
} from "../helpers/limit-checks.ts";
import {
  collectOutput,
  openTestWorker,
  waitForOutput,
  type TestWorker,
} from "../helpers/worker.ts";

const STATE_DISK = "/mnt/jobworker-v2";

describe("the job library on cgroup v2", () => {
  let t: TestWorker;
  before(async () => {
    assert.match(readFileSync("/proc/self/mountinfo", "utf8"), / \/sys\/fs\/cgroup .* - cgroup2 /);
    mkdirSync(STATE_DISK, { recursive: true });
    execFileSync("mkfs.ext4", ["-q", "-F", "/dev/vda"]);
    // vm-run's initramfs loads only what it needs itself; ext4 is a module.
    execFileSync("modprobe", ["ext4"]);
    execFileSync("mount", ["/dev/vda", STATE_DISK]);
    t = await openTestWorker({ stateRoot: STATE_DISK });
    assert.equal(t.worker.cgroupCapabilities.mode, "v2");
  });
  after(async () => {
    await t.dispose();
  });

  it("a memory hog is OOM-killed and reported oomKilled", async () => {
    await checkMemoryHogIsOomKilled(t.worker);
  });

  it("a fork loop never exceeds a pids limit of 20", async () => {
    await checkForkLoopIsCapped(t.worker);
  });

  it("O_DIRECT writes under a 1 MiB/s write limit are throttled", async () => {
    await checkDirectWritesAreThrottled(t.worker);
  });

  it("isolation: own processes only, loopback only, unprivileged uid", async () => {
    const job = await t.worker.start({
      command: "sh",
      args: ["-c", "ls /proc | grep -c '^[0-9]'; ls /sys/class/net; id -u"],
      owner: "alice",
    });
    await t.worker.wait(job.id);
    const [processes, net, uid] = (await collectOutput(t.worker.output(job.id)))
      .toString()
      .trim()
      .split("\n");
    assert.ok(Number(processes) <= 4, `saw ${processes} processes`);
    assert.equal(net, "lo");
    assert.notEqual(uid, "0");
  });

  it("the job's cgroup namespace shows its own cgroup only, read-only, and seccomp is on", async () => {
    const other = await t.worker.start({ command: "sleep", args: ["30"], owner: "bob" });
    try {
      const job = await t.worker.start({
        command: "sh",
        args: [
          "-c",
          "cat /proc/self/cgroup; cat /sys/fs/cgroup/memory.max; ls /sys/fs/cgroup | grep -c -- -; " +
            "echo 1 > /sys/fs/cgroup/cgroup.kill 2>&1; grep ^Seccomp: /proc/self/status; " +
            "unshare -Ur id 2>&1; true",
        ],
        owner: "alice",
        limits: { memoryBytes: 64 * 1024 * 1024 },
      });
      await t.worker.wait(job.id);
      const output = (await collectOutput(t.worker.output(job.id))).toString();
      assert.match(output, /^0::\/\n67108864\n0\n/, "its own root, its own limit, no job folders");
      assert.doesNotMatch(output, new RegExp(other.id));
      assert.match(output, /Read-only file system/);
      assert.match(output, /^Seccomp:\s+2$/m);
      assert.match(output, /unshare failed: Operation not permitted/);
    } finally {
      await t.worker.stop(other.id, { graceMs: 0 });
    }
  });

  it("a job ignoring SIGTERM is killed after the grace period", async () => {
    const job = await t.worker.start({
      command: "sh",
      args: ["-c", "trap '' TERM; (setsid sleep 300 &); echo ready; while :; do sleep 1; done"],
      owner: "alice",
    });
    await waitForOutput(t.worker, job.id, "ready");
    const stopped = await t.worker.stop(job.id, { graceMs: 300 });
    assert.equal(stopped.state, "stopped");
    assert.match(stopped.reason, /killed with SIGKILL after the 300 ms grace period/);
  });
});
