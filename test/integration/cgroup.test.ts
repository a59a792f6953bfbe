/**
 * The cgroup driver against this host's real kernel (root required). Each
 * test makes its own job cgroups under a parent unique to this file and
 * removes them; the parent itself is removed at the end, which also proves
 * nothing was left behind (rmdir of a cgroup with children fails).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { ZERO_USAGE } from "../../src/worker/types.ts";
import { isJobError } from "../../src/worker/errors.ts";
import { findV1Mounts, openCgroupDriver, parseMountInfo } from "../../src/worker/cgroup/detect.ts";
import type { CgroupDriver } from "../../src/worker/cgroup/driver.ts";
import { listWholeDisks } from "../../src/worker/cgroup/block-devices.ts";
import {
  CGROUP_ROOT,
  exitOf,
  folder,
  read,
  removeParent,
  spawnIn,
  waitForLine,
} from "../helpers/cgroup.ts";

const PARENT = `jobworker-cgroup-test-${process.pid}`;
const MiB = 1024 * 1024;
const DETECT_MODULE = fileURLToPath(import.meta.resolve("../../src/worker/cgroup/detect.ts"));

let driver: CgroupDriver;
let jobCount = 0;
const newJobId = () => `job-${++jobCount}`;

before(async () => {
  driver = await openCgroupDriver({ parent: PARENT });
});

after(async () => {
  // The parent exists once per hierarchy; rmdir fails (EBUSY) if a job cgroup is left.
  await removeParent(PARENT);
});

describe("cgroup v1 driver (this host)", () => {
  it("detects v1 and reports what the host can enforce", () => {
    assert.equal(driver.mode, "v1");
    // This host mounts cpu, memory, blkio and pids, has swap accounting
    // (memory.memsw.*) and a virtio disk that takes throttle rules. Io
    // weights depend on the state directory's disk, not given here
    // (test/integration/cgroup-weights.test.ts covers them).
    assert.deepEqual(driver.capabilities(), {
      mode: "v1",
      unenforceable: {
        ioWeight:
          "no state directory was given, so the disk that would honour io weights is unknown",
      },
    });
  });

  it("refuses to open without root, as failed_precondition", async () => {
    const script =
      `import { openCgroupDriver } from ${JSON.stringify(DETECT_MODULE)};` +
      `await openCgroupDriver({ parent: "x" }).catch((e) => console.log(e.code, e.message));`;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
      uid: 65534,
      gid: 65534,
      stdio: ["ignore", "pipe", "inherit"],
    });
    let output = "";
    for await (const chunk of child.stdout) output += String(chunk);
    assert.equal(
      output.trim(),
      "failed_precondition managing cgroups needs root, but this process runs as uid 65534",
    );
  });

  it("joins a folder in every hierarchy used, and never cpuset", async () => {
    const cgroup = await driver.create(newJobId(), {}, []);
    try {
      const hierarchies = cgroup.procsFiles.map(
        (file) => file.slice(CGROUP_ROOT.length + 1).split("/", 1)[0],
      );
      assert.deepEqual(hierarchies.sort(), [
        "blkio",
        "cpu",
        "cpuacct",
        "freezer",
        "memory",
        "pids",
      ]);
    } finally {
      await cgroup.remove();
    }
  });

  it("writes every limit to its file", async () => {
    const disks = await listWholeDisks();
    assert.ok(disks.length > 0);
    const cgroup = await driver.create(
      newJobId(),
      {
        cpu: 0.5,
        memoryBytes: 64 * MiB,
        ioReadBytesPerSecond: 1 * MiB,
        ioWriteBytesPerSecond: 2 * MiB,
        pids: 50,
      },
      [],
    );
    try {
      const cpu = folder(cgroup, "cpu");
      assert.equal(await read(`${cpu}/cpu.cfs_period_us`), "100000");
      assert.equal(await read(`${cpu}/cpu.cfs_quota_us`), "50000");
      const memory = folder(cgroup, "memory");
      assert.equal(await read(`${memory}/memory.limit_in_bytes`), String(64 * MiB));
      assert.equal(await read(`${memory}/memory.memsw.limit_in_bytes`), String(64 * MiB));
      const blkio = folder(cgroup, "blkio");
      const readRules = await read(`${blkio}/blkio.throttle.read_bps_device`);
      const writeRules = await read(`${blkio}/blkio.throttle.write_bps_device`);
      for (const disk of disks) {
        assert.match(readRules, new RegExp(`^${disk.majorMinor} ${MiB}$`, "m"));
        assert.match(writeRules, new RegExp(`^${disk.majorMinor} ${2 * MiB}$`, "m"));
      }
      assert.equal(await read(`${folder(cgroup, "pids")}/pids.max`), "50");
    } finally {
      await cgroup.remove();
    }
  });

  it("leaves absent and skipped limits unwritten", async () => {
    const cgroup = await driver.create(
      newJobId(),
      { cpu: 0.004, pids: 10, memoryBytes: 64 * MiB },
      ["pids", "memoryBytes"],
    );
    try {
      // 0.004 cores would be 400 us: raised to the kernel's 1 ms minimum.
      assert.equal(await read(`${folder(cgroup, "cpu")}/cpu.cfs_quota_us`), "1000");
      assert.equal(await read(`${folder(cgroup, "pids")}/pids.max`), "max");
      const memory = folder(cgroup, "memory");
      assert.equal(await read(`${memory}/memory.limit_in_bytes`), "9223372036854771712");
      assert.equal(await read(`${folder(cgroup, "blkio")}/blkio.throttle.read_bps_device`), "");
    } finally {
      await cgroup.remove();
    }
  });

  // Limit values are checked once, before any driver sees them (limit-layers.ts).
  it("refuses a bad job id and a job id already in use", async () => {
    await assert.rejects(driver.create("../escape", {}, []), (err) =>
      isJobError(err, "invalid_argument"),
    );
    const jobId = newJobId();
    const cgroup = await driver.create(jobId, {}, []);
    try {
      await assert.rejects(driver.create(jobId, {}, []), (err) =>
        isJobError(err, "failed_precondition"),
      );
    } finally {
      await cgroup.remove();
    }
  });

  it("reports usage of the processes inside, including CPU throttling", async () => {
    const cgroup = await driver.create(newJobId(), { cpu: 0.1 }, []);
    try {
      const child = spawnIn(
        cgroup,
        "i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done; echo ready; exec sleep 30",
      );
      await waitForLine(child, "ready");
      const usage = await cgroup.usage();
      assert.ok(usage.cpuUsec > 10_000, `cpuUsec ${usage.cpuUsec}`);
      assert.ok(usage.cpuThrottledUsec > 0, `cpuThrottledUsec ${usage.cpuThrottledUsec}`);
      assert.ok(usage.memoryCurrentBytes > 0);
      assert.ok(usage.memoryPeakBytes >= usage.memoryCurrentBytes);
      assert.equal(usage.pids, 1);
      assert.equal(usage.oomKills, 0);
      assert.deepEqual(await cgroup.pids(), [child.pid]);
    } finally {
      await cgroup.remove();
    }
  });

  it("throttles disk reads and writes and counts the bytes", async () => {
    // O_DIRECT so the IO reaches the disk (and the throttle) rather than the page cache.
    const dir = await mkdtemp("/var/tmp/jobworker-io-");
    const cgroup = await driver.create(
      newJobId(),
      { ioReadBytesPerSecond: 4 * MiB, ioWriteBytesPerSecond: 4 * MiB },
      [],
    );
    try {
      await writeFile(`${dir}/in`, Buffer.alloc(2 * MiB, 1));
      const started = Date.now();
      const child = spawnIn(
        cgroup,
        `dd if=${dir}/in of=/dev/null bs=64k iflag=direct 2>/dev/null && ` +
          `dd if=/dev/zero of=${dir}/out bs=64k count=32 oflag=direct 2>/dev/null`,
      );
      assert.deepEqual(await exitOf(child), { code: 0, signal: null });
      // 4 MiB at 4 MiB/s: unthrottled this takes a few tens of milliseconds.
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 700, `4 MiB of direct IO at 4 MiB/s took only ${elapsed} ms`);
      const usage = await cgroup.usage();
      assert.ok(usage.ioReadBytes >= 2 * MiB, `ioReadBytes ${usage.ioReadBytes}`);
      assert.ok(usage.ioWriteBytes >= 2 * MiB, `ioWriteBytes ${usage.ioWriteBytes}`);
    } finally {
      await cgroup.remove();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("keeps the number of processes under pids.max", async () => {
    const cgroup = await driver.create(newJobId(), { pids: 4 }, []);
    try {
      // The shell and three sleeps fill the quota: the fourth fork must fail
      // (and a failed fork ends a non-interactive sh).
      const child = spawnIn(
        cgroup,
        "exec 2>/dev/null; for i in 1 2 3; do sleep 30 >/dev/null & done; " +
          "sleep 30 >/dev/null & echo forked-a-fourth",
      );
      let output = "";
      for await (const chunk of child.stdout ?? []) output += String(chunk);
      assert.notEqual((await exitOf(child)).code, 0);
      assert.equal(output, "");
      assert.equal((await cgroup.usage()).pids, 3);
      assert.equal((await cgroup.pids()).length, 3);
    } finally {
      await cgroup.remove();
    }
  });

  it("killAll kills a process and the child it forked into the background", async () => {
    const cgroup = await driver.create(newJobId(), {}, []);
    try {
      const child = spawnIn(cgroup, "sleep 60 & sleep 60 & echo ready; wait");
      await waitForLine(child, "ready");
      assert.equal((await cgroup.pids()).length, 3);
      await cgroup.killAll();
      assert.deepEqual(await cgroup.pids(), []);
      assert.deepEqual(await exitOf(child), { code: null, signal: "SIGKILL" });
      await cgroup.killAll(); // nothing left: returns at once
    } finally {
      await cgroup.remove();
    }
  });

  it("OOM-kills a process over its memory limit and counts it", async () => {
    const cgroup = await driver.create(newJobId(), { memoryBytes: 32 * MiB }, []);
    try {
      // tail keeps the whole newline-free input in memory looking for the last line.
      const child = spawnIn(
        cgroup,
        "exec 2>/dev/null; head -c 200M /dev/zero | tail -n 1 >/dev/null",
      );
      const { code } = await exitOf(child);
      assert.notEqual(code, 0);
      const usage = await cgroup.usage();
      assert.ok(usage.oomKills >= 1, `oomKills ${usage.oomKills}`);
      assert.ok(usage.memoryPeakBytes >= 30 * MiB, `memoryPeakBytes ${usage.memoryPeakBytes}`);
    } finally {
      await cgroup.remove();
    }
  });

  it("opens a job left by an earlier driver, and remove() leaves nothing", async () => {
    const jobId = newJobId();
    const first = await driver.create(jobId, { pids: 20 }, []);
    const child = spawnIn(first, "echo ready; exec sleep 60");
    await waitForLine(child, "ready");

    const later = await openCgroupDriver({ parent: PARENT });
    const reopened = await later.open(jobId);
    assert.ok(reopened);
    assert.deepEqual(reopened.procsFiles, first.procsFiles);
    assert.deepEqual(await reopened.pids(), [child.pid]);

    await reopened.remove();
    assert.deepEqual(await exitOf(child), { code: null, signal: "SIGKILL" });
    for (const file of first.procsFiles) {
      await assert.rejects(readdir(dirname(file)), { code: "ENOENT" });
    }
    await reopened.remove(); // idempotent
    await first.remove();
    assert.equal(await later.open(jobId), undefined);
    // The cgroup's part of the usage (the disk is measured apart).
    assert.deepEqual({ ...(await first.usage()), diskBytes: 0 }, ZERO_USAGE);
  });
});

describe("cgroup mount detection", () => {
  it("finds co-mounted and separate v1 controllers, preferring those under the root", () => {
    const mountinfo = [
      "30 22 0:27 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755",
      "31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct",
      "32 30 0:29 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset",
      "33 30 0:30 / /sys/fs/cgroup/memory rw shared:9 - cgroup cgroup rw,memory",
      "34 22 0:30 / /mnt/my\\040memory rw - cgroup cgroup rw,memory",
      "35 30 0:31 / /sys/fs/cgroup/net_cls,net_prio rw - cgroup cgroup rw,net_cls,net_prio",
      "36 30 0:32 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw",
      "37 22 0:33 / /elsewhere/pids rw - cgroup cgroup rw,pids",
    ].join("\n");
    const mounts = parseMountInfo(mountinfo);
    assert.equal(mounts[4]?.mountPoint, "/mnt/my memory");
    assert.deepEqual(findV1Mounts(mounts, "/sys/fs/cgroup"), {
      cpu: "/sys/fs/cgroup/cpu,cpuacct",
      cpuacct: "/sys/fs/cgroup/cpu,cpuacct",
      memory: "/sys/fs/cgroup/memory",
      pids: "/elsewhere/pids",
    });
  });
});
