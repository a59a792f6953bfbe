import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatBytes, formatDuration } from "../../../src/common/format.ts";

describe("formats for people", () => {
  it("sizes: 1024-based, one decimal at most, none when whole", () => {
    assert.equal(formatBytes(0), "0 bytes");
    assert.equal(formatBytes(1023), "1023 bytes");
    assert.equal(formatBytes(1536), "1.5 KiB");
    assert.equal(formatBytes(256 * 1024 ** 2), "256 MiB");
    assert.equal(formatBytes(1024 ** 3 + 4096), "1 GiB");
    assert.equal(formatBytes(2 ** 52), "4096 TiB");
  });

  it("durations: short", () => {
    assert.equal(formatDuration(850), "850 ms");
    assert.equal(formatDuration(1500), "1.5 s");
    assert.equal(formatDuration(10_000), "10 s");
    assert.equal(formatDuration(245_000), "4m 05s");
    assert.equal(formatDuration(7_380_000), "2h 03m");
  });
});
