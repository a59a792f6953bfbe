/**
 * CPU weights, IOPS caps, io weights and the parent's totals against this
 * host's real cgroup v1 kernel (root required). Processes join the job
 * cgroups by hand (a shell writes itself into the procs files), as in
 * cgroup.test.ts: the launcher is not needed to see what the kernel does.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { isJobError } from "../../src/worker/errors.ts";
import { listWholeDisks } from "../../src/worker/cgroup/block-devices.ts";
import { openCgroupDriver } from "../../src/worker/cgroup/detect.ts";
import type { CgroupDriver } from "../../src/worker/cgroup/driver.ts";
import { cpuWeightToShares, ioWeightToBfq } from "../../src/worker/cgroup/limit-values.ts";
import {
  activeScheduler,
  findStateDisk,
  splitDeviceNumber,
} from "../../src/worker/cgroup/state-disk.ts";
import {
  assertIopsCap,
  folder,
  parentFolder,
  read,
  removeParent,
  spawnIn,
  waitForLine,
} from "../helpers/cgroup.ts";

const PARENT = `jobworker-weights-test-${process.pid}`;
const TOTALS_PARENT = `jobworker-totals-test-${process.pid}`;
const MiB = 1024 * 1024;
/** v1's "no memory limit" (LONG_MAX rounded down to a page). */
const V1_NO_MEMORY_LIMIT = "9223372036854771712";

let stateDir: string;
let driver: CgroupDriver;
let jobCount = 0;
const newJobId = () => `job-${++jobCount}`;

before(async () => {
  // On the host's real disk (/var/tmp is on vda here), as a worker's state would be.
  stateDir = await mkdtemp("/var/tmp/jobworker-weights-");
  driver = await openCgroupDriver({ parent: PARENT, stateDir });
});

after(async () => {
  await removeParent(PARENT);
  await removeParent(TOTALS_PARENT);
  await rm(stateDir, { recursive: true, force: true });
});

describe("cpu weights on cgroup v1", () => {
  it("map onto cpu.shares as the kernel maps cpu.weight (weight × 1024 / 100)", async () => {
    assert.equal(driver.mode, "v1");
    for (const [weight, shares] of [
      [100, "1024"],
      [300, "3072"],
      [10_000, "102400"],
      [1, "10"],
    ] as const) {
      const cgroup = await driver.create(newJobId(), { cpuWeight: weight }, []);
      try {
        const cpu = folder(cgroup, "cpu");
        assert.equal(await read(`${cpu}/cpu.shares`), shares, `weight ${weight}`);
        // A weight is no cap: no CFS quota is written with it.
        assert.equal(await read(`${cpu}/cpu.cfs_quota_us`), "-1");
      } finally {
        await cgroup.remove();
      }
    }
    assert.equal(cpuWeightToShares(7), 72); // 71.68, rounded as the kernel rounds
  });

  it("share one CPU about 1:3 between weights 100 and 300", async () => {
    // Each job pins itself to CPU 0, then spins: they contend for that CPU
    // only. "ready" goes out in one write: the reader stops at it.
    const program =
      "import os\nos.sched_setaffinity(0, {0})\nos.write(1, b'ready\\n')\nwhile True: pass\n";
    const light = await driver.create(newJobId(), { cpuWeight: 100 }, []);
    const heavy = await driver.create(newJobId(), { cpuWeight: 300 }, []);
    try {
      const children = [light, heavy].map((cgroup) =>
        spawnIn(cgroup, `exec /usr/bin/python3 -c "${program}"`),
      );
      await Promise.all(children.map((child) => waitForLine(child, "ready")));
      await sleep(300); // both settled on CPU 0
      const before = await Promise.all([light.usage(), heavy.usage()]);
      await sleep(3_000);
      const after = await Promise.all([light.usage(), heavy.usage()]);
      const used = [0, 1].map((i) => (after[i]?.cpuUsec ?? 0) - (before[i]?.cpuUsec ?? 0));
      const [lightUsec = 0, heavyUsec = 0] = used;
      const ratio = heavyUsec / lightUsec;
      console.log(
        `cpu weight 100 used ${Math.round(lightUsec / 1000)} ms, weight 300 used ` +
          `${Math.round(heavyUsec / 1000)} ms in 3 s on one CPU: ratio ${ratio.toFixed(2)}`,
      );
      // Enough CPU time to judge (other load on CPU 0 takes its share); split by weight.
      assert.ok(lightUsec + heavyUsec > 600_000, `they used only ${lightUsec + heavyUsec} us`);
      assert.ok(ratio >= 2.25 && ratio <= 3.75, `ratio ${ratio}, expected 3 ± 25%`);
    } finally {
      await light.remove();
      await heavy.remove();
    }
  });
});

describe("IOPS caps on cgroup v1", () => {
  it("are written for every whole disk", async () => {
    const disks = await listWholeDisks();
    assert.ok(disks.length > 0);
    const cgroup = await driver.create(
      newJobId(),
      { ioReadIopsPerSecond: 120, ioWriteIopsPerSecond: 50, ioWriteBytesPerSecond: 8 * MiB },
      [],
    );
    try {
      const blkio = folder(cgroup, "blkio");
      const readRules = await read(`${blkio}/blkio.throttle.read_iops_device`);
      const writeRules = await read(`${blkio}/blkio.throttle.write_iops_device`);
      const writeBytes = await read(`${blkio}/blkio.throttle.write_bps_device`);
      for (const disk of disks) {
        assert.match(readRules, new RegExp(`^${disk.majorMinor} 120$`, "m"));
        assert.match(writeRules, new RegExp(`^${disk.majorMinor} 50$`, "m"));
        assert.match(writeBytes, new RegExp(`^${disk.majorMinor} ${8 * MiB}$`, "m"));
      }
      assert.equal(await read(`${blkio}/blkio.throttle.read_bps_device`), "");
    } finally {
      await cgroup.remove();
    }
  });

  it("hold 4 KiB O_DIRECT writes to about 50 per second, by the kernel's counters", async () => {
    const cgroup = await driver.create(newJobId(), { ioWriteIopsPerSecond: 50 }, []);
    const file = `${stateDir}/iops`;
    try {
      // O_DIRECT so every write is one 4 KiB request to the disk, not a page-cache copy.
      const child = spawnIn(
        cgroup,
        `echo ready; exec dd if=/dev/zero of=${file} bs=4k count=100000 oflag=direct 2>/dev/null`,
      );
      await waitForLine(child, "ready");
      await sleep(500); // past dd's start and the throttle's first slice
      await assertIopsCap(50, async () =>
        countWrites(await read(`${folder(cgroup, "blkio")}/blkio.throttle.io_serviced`)),
      );
    } finally {
      await cgroup.remove();
      await rm(file, { force: true });
    }
  });
});

/** Sums the "MAJ:MIN Write N" lines of blkio.throttle.io_serviced. */
function countWrites(ioServiced: string): number {
  let writes = 0;
  for (const match of ioServiced.matchAll(/^\d+:\d+ Write (\d+)$/gm)) writes += Number(match[1]);
  return writes;
}

describe("io weights on cgroup v1", () => {
  it("are refused, with the reason, where the state directory's disk is not on BFQ", async () => {
    const reason = driver.capabilities().unenforceable.ioWeight ?? "";
    const match =
      /^the disk (\S+) of the state directory uses the (\S+) scheduler, which ignores io weights \(BFQ needed\)$/.exec(
        reason,
      );
    assert.ok(match, reason);
    const [, disk = "", scheduler = ""] = match;
    assert.equal(activeScheduler(await read(`/sys/block/${disk}/queue/scheduler`)), scheduler);
    assert.notEqual(scheduler, "bfq");

    await assert.rejects(driver.create(newJobId(), { ioWeight: 300 }, []), (err) => {
      assert.ok(isJobError(err, "failed_precondition"));
      assert.match(err.message, /^could not set the io weight of job job-\d+: the disk /);
      return true;
    });
    // Skipped (the worker allowed it not in force): created, and the weight left alone.
    const cgroup = await driver.create(newJobId(), { ioWeight: 300 }, ["ioWeight"]);
    try {
      assert.equal(await read(`${folder(cgroup, "blkio")}/blkio.bfq.weight`), "100");
    } finally {
      await cgroup.remove();
    }
  });

  it("are accepted and written to blkio.bfq.weight where the state disk uses BFQ", async () => {
    // A loop device of our own switched to BFQ: the host's disk keeps its scheduler.
    const image = `${stateDir}/bfq.img`;
    const mountPoint = `${stateDir}/bfq`;
    await writeFile(image, "");
    execFileSync("truncate", ["-s", "32M", image]);
    execFileSync("mkfs.ext4", ["-q", "-F", image]);
    const loop = execFileSync("losetup", ["--find", "--show", image], { encoding: "utf8" }).trim();
    try {
      const name = loop.replace("/dev/", "");
      await writeFile(`/sys/block/${name}/queue/scheduler`, "bfq");
      await mkdir(mountPoint);
      execFileSync("mount", [loop, mountPoint]);
      try {
        const bfqDriver = await openCgroupDriver({ parent: PARENT, stateDir: mountPoint });
        assert.equal(bfqDriver.capabilities().unenforceable.ioWeight, undefined);
        const cgroup = await bfqDriver.create(newJobId(), { ioWeight: 300 }, []);
        try {
          // systemd's mapping onto BFQ's 1-1000: 100 + (300 - 100) × 900 / 9900.
          assert.equal(await read(`${folder(cgroup, "blkio")}/blkio.bfq.weight`), "118");
        } finally {
          await cgroup.remove();
        }
      } finally {
        execFileSync("umount", [mountPoint]);
      }
    } finally {
      execFileSync("losetup", ["--detach", loop]);
    }
  });

  it("find the whole disk of a path, and no disk for a virtual file system", async () => {
    const found = await findStateDisk(stateDir);
    assert.ok("disk" in found);
    assert.match(found.disk.majorMinor, /^\d+:\d+$/);
    const proc = await findStateDisk("/proc");
    assert.ok("reason" in proc);
    assert.match(
      proc.reason,
      /^the state directory \/proc is not on a block device \(device 0:\d+\)/,
    );
    const noStateDir = await openCgroupDriver({ parent: PARENT });
    assert.match(noStateDir.capabilities().unenforceable.ioWeight ?? "", /^no state directory/);
    // dev_t 259:65536 (an NVMe namespace high in the minor range) as glibc encodes it.
    assert.deepEqual(splitDeviceNumber(0x1001_0300n), { major: 259n, minor: 65536n });
    assert.deepEqual(
      [1, 100, 101, 300, 1_000, 10_000].map(ioWeightToBfq),
      [1, 100, 100, 118, 181, 1_000],
    );
  });
});

describe("totals on the jobworker parent (cgroup v1)", () => {
  it("are written in each hierarchy, lifted when left out, and enforced", async () => {
    const totals = await openCgroupDriver({ parent: TOTALS_PARENT });
    const dir = (controller: string) => parentFolder(TOTALS_PARENT, controller);
    await totals.setParentLimits({ cpu: 1.5, memoryBytes: 256 * MiB, pids: 100 });
    assert.equal(await read(`${dir("cpu")}/cpu.cfs_period_us`), "100000");
    assert.equal(await read(`${dir("cpu")}/cpu.cfs_quota_us`), "150000");
    assert.equal(await read(`${dir("memory")}/memory.limit_in_bytes`), String(256 * MiB));
    assert.equal(await read(`${dir("memory")}/memory.memsw.limit_in_bytes`), String(256 * MiB));
    assert.equal(await read(`${dir("pids")}/pids.max`), "100");

    // v1 refuses a job whose CPU limit exceeds the parent's total.
    await assert.rejects(totals.create(newJobId(), { cpu: 2 }, []), (err) =>
      isJobError(err, "invalid_argument"),
    );

    await totals.setParentLimits({ pids: 5 });
    assert.equal(await read(`${dir("cpu")}/cpu.cfs_quota_us`), "-1");
    assert.equal(await read(`${dir("memory")}/memory.limit_in_bytes`), V1_NO_MEMORY_LIMIT);
    assert.equal(await read(`${dir("memory")}/memory.memsw.limit_in_bytes`), V1_NO_MEMORY_LIMIT);

    // Each job may have 4 processes, but all jobs together only 5.
    const first = await totals.create(newJobId(), { pids: 4 }, []);
    const second = await totals.create(newJobId(), { pids: 4 }, []);
    try {
      const full = spawnIn(first, "for i in 1 2 3; do sleep 30 & done; echo ready; wait");
      await waitForLine(full, "ready");
      assert.equal((await first.pids()).length, 4);
      let output = "";
      const starved = spawnIn(second, "exec 2>/dev/null; sleep 30 & echo forked");
      for await (const chunk of starved.stdout ?? []) output += String(chunk);
      assert.equal(output, "", "the fifth process of the parent was forked");
    } finally {
      await first.remove();
      await second.remove();
    }
    await totals.setParentLimits({});
    assert.equal(await read(`${dir("pids")}/pids.max`), "max");
  });
});
