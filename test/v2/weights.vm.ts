/**
 * CPU weights, IOPS caps, io weights and the parent's totals on a real pure
 * cgroup v2 kernel (inside vm-run, see run-in-vm.sh). Timings of CPU are not
 * faithful in the emulated guest, so CPU weights are checked by the value
 * written; the IOPS cap is checked by the kernel's own counter (io.stat).
 * /dev/vda is the VM's blank scratch disk: written raw first, then formatted
 * as the state directory's disk for the io weight checks.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { rmdir, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { openCgroupDriver } from "../../src/worker/cgroup/detect.ts";
import type { CgroupDriver, JobCgroup } from "../../src/worker/cgroup/driver.ts";
import { activeScheduler } from "../../src/worker/cgroup/state-disk.ts";
import { CGROUP_ROOT, assertIopsCap, read, spawnIn } from "../helpers/cgroup.ts";

const PARENT = `jobworker-weights-test-${process.pid}`;
const PARENT_DIR = `${CGROUP_ROOT}/${PARENT}`;
const STATE_DISK = "/mnt/jobworker-weights";
const SCHEDULER = "/sys/block/vda/queue/scheduler";
const MiB = 1024 * 1024;

let driver: CgroupDriver;
let vda: string;
let firstScheduler: string;
let mounted = false;

const dirOf = (cgroup: JobCgroup) => dirname(cgroup.procsFiles[0] ?? "");

before(async () => {
  driver = await openCgroupDriver({ parent: PARENT });
  assert.equal(driver.mode, "v2");
  vda = await read("/sys/block/vda/dev");
  firstScheduler = activeScheduler(await read(SCHEDULER));
});

after(async () => {
  await writeFile(SCHEDULER, firstScheduler);
  if (mounted) execFileSync("umount", [STATE_DISK]);
  await rmdir(PARENT_DIR); // fails (EBUSY) if a job cgroup or probe was left behind
});

describe("cgroup v2 weights, IOPS caps and totals (VM)", () => {
  it("writes cpu.weight, io.max riops/wiops and the parent's totals", async () => {
    const cgroup = await driver.create(
      "values",
      {
        cpuWeight: 300,
        ioReadIopsPerSecond: 120,
        ioWriteIopsPerSecond: 50,
        ioWriteBytesPerSecond: MiB,
      },
      [],
    );
    try {
      assert.equal(await read(`${dirOf(cgroup)}/cpu.weight`), "300");
      assert.match(
        await read(`${dirOf(cgroup)}/io.max`),
        new RegExp(`^${vda} rbps=max wbps=${MiB} riops=120 wiops=50$`, "m"),
      );
    } finally {
      await cgroup.remove();
    }
    await driver.setParentLimits({ cpu: 1.5, memoryBytes: 256 * MiB, pids: 100 });
    assert.equal(await read(`${PARENT_DIR}/cpu.max`), "150000 100000");
    assert.equal(await read(`${PARENT_DIR}/memory.max`), String(256 * MiB));
    assert.equal(await read(`${PARENT_DIR}/pids.max`), "100");
    await driver.setParentLimits({});
    assert.equal(await read(`${PARENT_DIR}/cpu.max`), "max 100000");
    assert.equal(await read(`${PARENT_DIR}/memory.max`), "max");
    assert.equal(await read(`${PARENT_DIR}/pids.max`), "max");
  });

  it("holds raw 4 KiB O_DIRECT writes to about 50 per second, by io.stat", async () => {
    const cgroup = await driver.create("iops", { ioWriteIopsPerSecond: 50 }, []);
    try {
      const child = spawnIn(
        cgroup,
        "exec dd if=/dev/zero of=/dev/vda bs=4k count=100000 oflag=direct",
        { quiet: true, stdout: "ignore" },
      );
      await sleep(1_000); // node and dd start slowly in the emulated guest
      await assertIopsCap(
        50,
        async () => {
          const stat = await read(`${dirOf(cgroup)}/io.stat`);
          return Number(new RegExp(`^${vda} .*\\bwios=(\\d+)`, "m").exec(stat)?.[1] ?? "0");
        },
        () => {
          assert.equal(child.exitCode, null, "dd ended early");
        },
      );
    } finally {
      await cgroup.remove();
    }
  });

  it("io weight: refused unless the state disk uses BFQ or io.cost, then written", async () => {
    mkdirSync(STATE_DISK, { recursive: true });
    execFileSync("mkfs.ext4", ["-q", "-F", "/dev/vda"]);
    execFileSync("modprobe", ["ext4"]); // vm-run's initramfs loads only what it needs
    execFileSync("mount", ["/dev/vda", STATE_DISK]);
    mounted = true;
    if (firstScheduler === "bfq") await writeFile(SCHEDULER, "mq-deadline");
    const scheduler = activeScheduler(await read(SCHEDULER));

    const plain = await openCgroupDriver({ parent: PARENT, stateDir: STATE_DISK });
    assert.equal(
      plain.capabilities().unenforceable.ioWeight,
      `the disk vda of the state directory uses the ${scheduler} scheduler, which ignores io ` +
        "weights (BFQ, or io.cost enabled for the disk, needed)",
    );

    // io.cost on for the disk: io.weight, on the v2 scale as is.
    await writeFile("/sys/fs/cgroup/io.cost.qos", `${vda} enable=1`);
    try {
      const withCost = await openCgroupDriver({ parent: PARENT, stateDir: STATE_DISK });
      assert.equal(withCost.capabilities().unenforceable.ioWeight, undefined);
      const cgroup = await withCost.create("iocost", { ioWeight: 300 }, []);
      assert.match(await read(`${dirOf(cgroup)}/io.weight`), /^default 300$/m);
      await cgroup.remove();
    } finally {
      await writeFile("/sys/fs/cgroup/io.cost.qos", `${vda} enable=0`);
    }

    // BFQ (a module in Debian's kernel) on the disk: io.bfq.weight, on BFQ's 1-1000 scale.
    execFileSync("modprobe", ["bfq"]);
    await writeFile(SCHEDULER, "bfq");
    const bfq = await openCgroupDriver({ parent: PARENT, stateDir: STATE_DISK });
    assert.equal(bfq.capabilities().unenforceable.ioWeight, undefined);
    const cgroup = await bfq.create("bfq", { ioWeight: 300 }, []);
    try {
      assert.match(await read(`${dirOf(cgroup)}/io.bfq.weight`), /^default 118$/m);
    } finally {
      await cgroup.remove();
    }
  });
});
