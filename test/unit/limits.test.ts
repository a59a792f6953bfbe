import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { effectiveLimits, formatBytes, formatLimit } from "../../src/worker/limits.ts";

const MiB = 1024 * 1024;

describe("limits", () => {
  it("fills gaps from the defaults and keeps what the request says", () => {
    assert.deepEqual(effectiveLimits({ cpu: 0.5 }, { cpu: 1, memoryBytes: 64 * MiB }, {}, 2), {
      cpu: 0.5,
      memoryBytes: 64 * MiB,
    });
  });

  it("refuses values out of range with the limit named", () => {
    const cases: [object, RegExp][] = [
      [{ cpu: -1 }, /cpu must be a positive number/],
      [{ cpu: 0 }, /cpu must be a positive number/],
      [{ cpu: 3 }, /cpu of 3 cores is more than the host's 2/],
      [{ memoryBytes: 1024 }, /memory of 1 KiB is below the minimum of 4 MiB/],
      [{ memoryBytes: 5 * MiB + 0.5 }, /memory must be a whole number/],
      [{ pids: 0 }, /process limit must be a positive number/],
      [{ pids: 2 }, /process limit of 2 is below the minimum of 4/],
      [{ ioWriteBytesPerSecond: Number.POSITIVE_INFINITY }, /disk write rate must be a positive/],
      [{ ioReadBytesPerSecond: Number.NaN }, /disk read rate must be a positive/],
    ];
    for (const [limits, message] of cases) {
      assert.throws(() => effectiveLimits(limits, {}, {}, 2), {
        code: "invalid_argument",
        message,
      });
    }
  });

  it("refuses a value above its ceiling, defaults included", () => {
    assert.throws(
      () => effectiveLimits({ memoryBytes: 512 * MiB }, {}, { memoryBytes: 256 * MiB }, 2),
      {
        code: "permission_denied",
        message: "memory of 512 MiB is above the ceiling of 256 MiB",
      },
    );
    assert.throws(() => effectiveLimits({}, { pids: 100 }, { pids: 50 }, 2), {
      code: "permission_denied",
    });
  });

  it("formats values for people", () => {
    assert.equal(formatBytes(1536), "1.5 KiB");
    assert.equal(formatBytes(100), "100 bytes");
    assert.equal(formatBytes(3 * MiB), "3 MiB");
    assert.equal(formatLimit("ioReadBytesPerSecond", MiB), "1 MiB/s");
    assert.equal(formatLimit("cpu", 1), "1 core");
    assert.equal(formatLimit("cpu", 0.5), "0.5 cores");
  });
});
