/**
 * The v1 and v2 mapping of limits onto cgroup files, as data: no root, no
 * cgroups (the integration tests check the kernel takes them).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { v1Settings, v2Settings } from "../../../../src/worker/cgroup/cgroup-settings.ts";
import { cgroupLimits } from "../../../../src/worker/cgroup/limit-values.ts";

const MiB = 1024 * 1024;
const every = {
  cpu: 0.5,
  memoryBytes: 64 * MiB,
  ioReadBytesPerSecond: MiB,
  ioWriteIopsPerSecond: 50,
  pids: 32,
  cpuWeight: 300,
  ioWeight: 1000,
};

const lines = (settings: ReturnType<typeof v2Settings>): string[] =>
  settings.map(
    ({ hierarchy, file, value, perDisk }) =>
      `${hierarchy}/${file} = ${perDisk === true ? "MAJ:MIN " : ""}${value}`,
  );

describe("limits as cgroup writes", () => {
  it("v2: one folder, in an order the kernel accepts", () => {
    const host = {
      swapAccounting: true,
      ioWeight: { file: "io.bfq.weight", value: (weight: number) => `default ${weight / 10}` },
    };
    assert.deepEqual(lines(v2Settings(every, host)), [
      "unified/cpu.max = 50000 100000",
      "unified/cpu.weight = 300",
      "unified/memory.max = 67108864",
      "unified/memory.swap.max = 0",
      "unified/io.max = MAJ:MIN rbps=1048576 wiops=50",
      "unified/io.bfq.weight = default 100",
      "unified/pids.max = 32",
    ]);
  });

  it("v1: per controller, memory before memsw, weights on the kernel's scales", () => {
    assert.deepEqual(lines(v1Settings(every, { swapAccounting: true })), [
      "cpu/cpu.cfs_period_us = 100000",
      "cpu/cpu.cfs_quota_us = 50000",
      "cpu/cpu.shares = 3072",
      "memory/memory.limit_in_bytes = 67108864",
      "memory/memory.memsw.limit_in_bytes = 67108864",
      "blkio/blkio.throttle.read_bps_device = MAJ:MIN 1048576",
      "blkio/blkio.throttle.write_iops_device = MAJ:MIN 50",
      "blkio/blkio.bfq.weight = 181",
      "pids/pids.max = 32",
    ]);
  });

  it("writes no swap limit where the kernel accounts none, and nothing for unset limits", () => {
    assert.deepEqual(lines(v2Settings({ memoryBytes: 8 * MiB }, { swapAccounting: false })), [
      "unified/memory.max = 8388608",
    ]);
    assert.deepEqual(v1Settings({}, { swapAccounting: true }), []);
  });

  it("takes the cgroup's own limits only, and leaves out the skipped", () => {
    assert.deepEqual(cgroupLimits({ cpu: 1, diskBytes: 1024 * MiB, ioWeight: 100 }, ["ioWeight"]), {
      cpu: 1,
    });
  });
});
