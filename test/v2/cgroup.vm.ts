/**
 * The cgroup driver against a real pure-v2 kernel: run inside the VM by
 * test/v2/run-in-vm.sh (npm run test:v2). Kept lean: node itself runs
 * emulated there. /dev/vda is the VM's blank scratch disk.
 */
import assert from "node:assert/strict";
import { readdir, rmdir } from "node:fs/promises";
import { dirname } from "node:path";
import { after, before, describe, it } from "node:test";
import { openCgroupDriver } from "../../src/worker/cgroup/detect.ts";
import type { CgroupDriver } from "../../src/worker/cgroup/driver.ts";
import { CGROUP_ROOT, exitOf, read, spawnIn, waitForLine } from "../helpers/cgroup.ts";

const PARENT = `jobworker-cgroup-test-${process.pid}`;
const PARENT_DIR = `${CGROUP_ROOT}/${PARENT}`;
const MiB = 1024 * 1024;

let driver: CgroupDriver;

before(async () => {
  driver = await openCgroupDriver({ parent: PARENT });
});

after(async () => {
  await rmdir(PARENT_DIR); // fails (EBUSY) if any job cgroup or probe was left behind
});

describe("cgroup v2 driver (VM)", () => {
  it("enables the controllers and writes every limit", async () => {
    assert.equal(driver.mode, "v2");
    // Io weights depend on the state directory's disk, not given here (weights.vm.ts).
    assert.deepEqual(driver.capabilities(), {
      mode: "v2",
      unenforceable: {
        ioWeight:
          "no state directory was given, so the disk that would honour io weights is unknown",
      },
    });
    const enabled = (await read(`${PARENT_DIR}/cgroup.subtree_control`)).split(" ");
    for (const controller of ["cpu", "io", "memory", "pids"])
      assert.ok(enabled.includes(controller));

    const cgroup = await driver.create(
      "limits",
      {
        cpu: 1.5,
        memoryBytes: 64 * MiB,
        ioReadBytesPerSecond: 1 * MiB,
        ioWriteBytesPerSecond: 2 * MiB,
        pids: 50,
      },
      ["pids"],
    );
    try {
      const dir = dirname(cgroup.procsFiles[0] ?? "");
      assert.deepEqual(cgroup.procsFiles, [`${PARENT_DIR}/limits/cgroup.procs`]);
      assert.equal(await read(`${dir}/cpu.max`), "150000 100000");
      assert.equal(await read(`${dir}/memory.max`), String(64 * MiB));
      assert.equal(await read(`${dir}/memory.swap.max`), "0");
      assert.match(await read(`${dir}/io.max`), new RegExp(`rbps=${MiB} wbps=${2 * MiB}`));
      assert.equal(await read(`${dir}/pids.max`), "max");
    } finally {
      await cgroup.remove();
    }
  });

  it("throttles raw disk writes and counts them", async () => {
    const cgroup = await driver.create("io", { ioWriteBytesPerSecond: 1 * MiB }, []);
    try {
      const started = Date.now();
      const child = spawnIn(cgroup, "dd if=/dev/zero of=/dev/vda bs=64k count=32 oflag=direct", {
        quiet: true,
      });
      assert.deepEqual(await exitOf(child), { code: 0, signal: null });
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 1_200, `2 MiB at 1 MiB/s took only ${elapsed} ms`);
      const usage = await cgroup.usage();
      assert.ok(usage.ioWriteBytes >= 2 * MiB, `ioWriteBytes ${usage.ioWriteBytes}`);
    } finally {
      await cgroup.remove();
    }
  });

  it("reports usage, kills a forked background child, opens and removes", async () => {
    const cgroup = await driver.create("kill", { pids: 10 }, []);
    const child = spawnIn(cgroup, "sleep 60 & echo ready; wait", { quiet: true });
    await waitForLine(child, "ready");

    const usage = await cgroup.usage();
    assert.ok(usage.cpuUsec > 0);
    assert.ok(usage.memoryCurrentBytes > 0);
    assert.ok(usage.memoryPeakBytes >= usage.memoryCurrentBytes);
    assert.equal(usage.pids, 2);

    const reopened = await (await openCgroupDriver({ parent: PARENT })).open("kill");
    assert.ok(reopened);
    assert.equal((await reopened.pids()).length, 2);
    await reopened.killAll();
    assert.deepEqual(await reopened.pids(), []);
    assert.deepEqual(await exitOf(child), { code: null, signal: "SIGKILL" });

    await reopened.remove();
    await cgroup.remove(); // idempotent
    assert.equal(await driver.open("kill"), undefined);
    assert.deepEqual(await readdir(PARENT_DIR, { withFileTypes: true }).then(folders), []);
  });

  it("OOM-kills a process over its memory limit and counts it", async () => {
    const cgroup = await driver.create("oom", { memoryBytes: 32 * MiB }, []);
    try {
      const child = spawnIn(cgroup, "head -c 200M /dev/zero | tail -n 1 >/dev/null", {
        quiet: true,
      });
      assert.notEqual((await exitOf(child)).code, 0);
      const usage = await cgroup.usage();
      assert.ok(usage.oomKills >= 1, `oomKills ${usage.oomKills}`);
      assert.ok(usage.memoryPeakBytes >= 30 * MiB, `memoryPeakBytes ${usage.memoryPeakBytes}`);
    } finally {
      await cgroup.remove();
    }
  });
});

function folders(entries: { name: string; isDirectory(): boolean }[]): string[] {
  return entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name);
}
