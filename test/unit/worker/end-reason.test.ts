import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decideEnd, OUTPUT_DISK_FULL_NOTE, type EndFacts } from "../../../src/worker/end-reason.ts";

const base: EndFacts = {
  exitCode: 0,
  signal: null,
  oomKills: 0,
  stop: undefined,
  timeoutMs: null,
  outputCapBytes: 1024 ** 3,
  memoryLimitBytes: 64 * 1024 * 1024,
  diskLimitBytes: 1024 ** 3,
  outputDiskFull: false,
};

describe("how a job ended", () => {
  it("exit 0 succeeds, other exits and signals fail", () => {
    assert.deepEqual(decideEnd(base), {
      state: "succeeded",
      cause: "exited",
      reason: "exited with code 0",
      oomKilled: false,
    });
    assert.equal(decideEnd({ ...base, exitCode: 3 }).reason, "exited with code 3");
    assert.equal(decideEnd({ ...base, exitCode: 3 }).state, "failed");
    const segv = decideEnd({ ...base, exitCode: null, signal: "SIGSEGV" });
    assert.deepEqual(segv, {
      state: "failed",
      cause: "signaled",
      reason: "killed by SIGSEGV",
      oomKilled: false,
    });
  });

  it("the disk limit: stopped over it, or a file that grew to it (SIGXFSZ)", () => {
    const detail = "exceeded its disk limit of 1 GiB (output 4 KiB, scratch folder 1.2 GiB)";
    const over = decideEnd({
      ...base,
      exitCode: null,
      signal: "SIGKILL",
      stop: { cause: "disk-limit", detail, graceMs: 0, stage: "kill" },
    });
    assert.deepEqual(over, {
      state: "failed",
      cause: "disk-limit",
      reason: `${detail}: killed with SIGKILL (no grace period)`,
      oomKilled: false,
    });
    const grew = decideEnd({ ...base, exitCode: null, signal: "SIGXFSZ" });
    assert.equal(grew.reason, "a file grew to its disk limit of 1 GiB: killed by SIGXFSZ");
    assert.equal(grew.state, "failed");
    assert.equal(grew.cause, "disk-limit");
  });

  it("OOM comes from the kernel's counter, not from SIGKILL alone", () => {
    const killed = { ...base, exitCode: null, signal: "SIGKILL" };
    assert.equal(decideEnd(killed).oomKilled, false);
    const oom = decideEnd({ ...killed, oomKills: 1 });
    assert.deepEqual(oom, {
      state: "failed",
      cause: "oom",
      reason: "out of memory (limit 64 MiB): killed by SIGKILL",
      oomKilled: true,
    });
  });

  it("the first stop cause decides, and the stage says how it ended", () => {
    const term = decideEnd({
      ...base,
      exitCode: null,
      signal: "SIGTERM",
      stop: { cause: "request", graceMs: 10_000, stage: "term" },
    });
    assert.deepEqual(term, {
      state: "stopped",
      cause: "stopped",
      reason: "stopped by request: ended after SIGTERM (killed by SIGTERM)",
      oomKilled: false,
    });
    const kill = decideEnd({
      ...base,
      exitCode: null,
      signal: "SIGKILL",
      stop: { cause: "request", graceMs: 2000, stage: "kill" },
    });
    assert.equal(kill.reason, "stopped by request: killed with SIGKILL after the 2 s grace period");
    const timeout = decideEnd({
      ...base,
      exitCode: null,
      signal: "SIGTERM",
      timeoutMs: 1500,
      stop: { cause: "timeout", graceMs: 10_000, stage: "term" },
    });
    assert.equal(timeout.state, "failed");
    assert.equal(timeout.cause, "timeout");
    assert.equal(timeout.reason, "timed out after 1.5 s: ended after SIGTERM (killed by SIGTERM)");
    const cap = decideEnd({
      ...base,
      exitCode: null,
      signal: "SIGKILL",
      stop: { cause: "output-cap", graceMs: 0, stage: "kill" },
    });
    assert.equal(
      cap.reason,
      "output exceeded the cap of 1 GiB: killed with SIGKILL (no grace period)",
    );
    assert.equal(cap.cause, "output-cap");
    const shutdown = decideEnd({
      ...base,
      exitCode: 143,
      stop: { cause: "shutdown", graceMs: 10_000, stage: "term" },
    });
    assert.deepEqual([shutdown.state, shutdown.cause], ["stopped", "stopped"]);
  });

  it("a full state disk is said after the reason, whatever the state", () => {
    assert.deepEqual(decideEnd({ ...base, exitCode: 1, outputDiskFull: true }), {
      state: "failed",
      cause: "disk-full",
      reason: `exited with code 1 (${OUTPUT_DISK_FULL_NOTE})`,
      oomKilled: false,
    });
    assert.equal(decideEnd({ ...base, outputDiskFull: true }).state, "succeeded");
  });
});
