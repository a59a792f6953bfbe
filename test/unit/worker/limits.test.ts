import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { effectiveLimits, type LimitLayer } from "../../../src/worker/limit-layers.ts";
import { formatLimit } from "../../../src/worker/limits.ts";

const MiB = 1024 * 1024;

const server = (defaults = {}, ceilings = {}): LimitLayer => ({
  owner: "this server",
  defaults,
  ceilings,
});
const alice = (defaults = {}, ceilings = {}): LimitLayer => ({
  owner: "alice (role user)",
  defaults,
  ceilings,
});

describe("limits", () => {
  it("fills gaps from the defaults and keeps what the request says", () => {
    assert.deepEqual(
      effectiveLimits({ cpu: 0.5 }, [server({ cpu: 1, memoryBytes: 64 * MiB })], 2),
      {
        cpu: 0.5,
        memoryBytes: 64 * MiB,
      },
    );
  });

  it("the caller's policy comes first, the server's rules after", () => {
    const layers = [
      alice({ memoryBytes: 128 * MiB }, { cpu: 1, pids: 256 }),
      server({ cpu: 2, memoryBytes: 1024 * MiB, pids: 1024 }, { memoryBytes: 512 * MiB }),
    ];
    // The policy's default wins; the server's where the policy has none,
    // lowered to the policy's ceiling; the policy's ceiling fills a gap.
    assert.deepEqual(effectiveLimits({}, layers, 2), {
      cpu: 1,
      memoryBytes: 128 * MiB,
      pids: 256,
    });
    assert.throws(() => effectiveLimits({ cpu: 1.5 }, layers, 2), {
      code: "permission_denied",
      message: "the cpu limit of 1.5 cores is above the ceiling of 1 core for alice (role user)",
    });
    assert.throws(() => effectiveLimits({ memoryBytes: 600 * MiB }, layers, 2), {
      code: "permission_denied",
      message: "the memory limit of 600 MiB is above the ceiling of 512 MiB for this server",
    });
  });

  it("a ceiling alone means never unlimited; no rule at all leaves a limit unset", () => {
    assert.deepEqual(effectiveLimits({}, [alice({}, { ioWeight: 500 }), server()], 2), {
      ioWeight: 500,
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
      [{ diskBytes: 1000 }, /disk of 1000 bytes is below the minimum of 1 MiB/],
    ];
    for (const [limits, message] of cases) {
      assert.throws(() => effectiveLimits(limits, [server()], 2), {
        code: "invalid_argument",
        message,
      });
    }
  });

  it("formats values for people", () => {
    assert.equal(formatLimit("ioReadBytesPerSecond", MiB), "1 MiB/s");
    assert.equal(formatLimit("cpu", 1), "1 core");
    assert.equal(formatLimit("cpu", 0.5), "0.5 cores");
  });
});
