/** Proto messages <-> library values (src/server/convert.ts), every uint64 checked. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, fromBinary } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import {
  EndCause,
  JobState,
  LimitsSchema,
  ListJobsRequestSchema,
  StartJobRequestSchema,
  StopOutcome,
} from "../../../src/gen/jobworker/v1/jobworker_pb.js";
import {
  jobToProto,
  limitsFromProto,
  specFromProto,
  stateFromProto,
  stopOutcomeToProto,
  toSafeNumber,
} from "../../../src/server/convert.ts";
import { isJobError, type JobStatus } from "../../../src/worker/index.ts";

const TOO_LARGE = BigInt(Number.MAX_SAFE_INTEGER) + 1n;

function status(overrides: Partial<JobStatus> = {}): JobStatus {
  return {
    id: "j1",
    owner: "alice",
    command: "echo",
    args: ["hi"],
    envNames: ["LANG"],
    cwd: "/srv",
    state: "running",
    queuePosition: null,
    exitCode: null,
    signal: null,
    oomKilled: false,
    reason: "running",
    pid: 4242,
    uid: 600001,
    createdAt: "2026-01-02T03:04:05.000Z",
    startedAt: "2026-01-02T03:04:06.000Z",
    endedAt: null,
    limits: { cpu: 0.5, memoryBytes: 2 ** 40, pids: 64, diskBytes: 2 ** 33 },
    limitsNotInForce: [],
    limitsNotInForceReasons: {},
    timeoutMs: null,
    usage: {
      cpuUsec: 1500,
      cpuThrottledUsec: 0,
      memoryCurrentBytes: 4096,
      memoryPeakBytes: 8192,
      ioReadBytes: 0,
      ioWriteBytes: 0,
      pids: 1,
      oomKills: 0,
      diskBytes: 4096,
    },
    outputBytes: 3,
    stopOutcome: null,
    endCause: null,
    program: "/usr/bin/echo",
    ...overrides,
  };
}

describe("toSafeNumber", () => {
  it("passes 2^53-1 and refuses anything larger, naming the field", () => {
    assert.equal(toSafeNumber(BigInt(Number.MAX_SAFE_INTEGER), "offset"), Number.MAX_SAFE_INTEGER);
    assert.throws(
      () => toSafeNumber(TOO_LARGE, "offset"),
      (err) =>
        isJobError(err, "invalid_argument") && err.message === `offset ${TOO_LARGE} is too large`,
    );
  });
});

describe("limitsFromProto", () => {
  it("keeps what is set, converts uint64s, and refuses a uint64 past 2^53-1", () => {
    assert.equal(limitsFromProto(undefined), undefined);
    assert.deepEqual(
      limitsFromProto(create(LimitsSchema, { cpu: 1.5, memoryBytes: 1024n, pids: 8 })),
      { cpu: 1.5, memoryBytes: 1024, pids: 8 },
    );
    assert.throws(
      () => limitsFromProto(create(LimitsSchema, { diskBytes: TOO_LARGE })),
      /disk_bytes \d+ is too large/,
    );
  });
});

describe("specFromProto", () => {
  it("leaves out what the request does not set", () => {
    assert.deepEqual(specFromProto(create(StartJobRequestSchema, { command: "true" })), {
      command: "true",
      args: [],
      env: {},
    });
  });

  it("carries cwd, limits and the timeout", () => {
    const request = create(StartJobRequestSchema, {
      command: "sleep",
      args: ["1"],
      env: { A: "b" },
      cwd: "/tmp",
      limits: { cpu: 1 },
      timeoutMs: 5000n,
    });
    assert.deepEqual(specFromProto(request), {
      command: "sleep",
      args: ["1"],
      env: { A: "b" },
      cwd: "/tmp",
      limits: { cpu: 1 },
      timeoutMs: 5000,
    });
    assert.throws(
      () => specFromProto(create(StartJobRequestSchema, { command: "x", timeoutMs: TOO_LARGE })),
      /timeout_ms \d+ is too large/,
    );
  });
});

describe("stateFromProto", () => {
  it("maps every state and refuses UNSPECIFIED and unknown numbers", () => {
    assert.equal(stateFromProto(JobState.QUEUED), "queued");
    assert.equal(stateFromProto(JobState.STOPPED), "stopped");
    // State 99, as a client with a newer enum would send it.
    const [future = JobState.UNSPECIFIED] = fromBinary(
      ListJobsRequestSchema,
      new Uint8Array([10, 1, 99]),
    ).states;
    for (const state of [JobState.UNSPECIFIED, future]) {
      assert.throws(
        () => stateFromProto(state),
        (err) => isJobError(err, "invalid_argument") && /is not a job state$/.test(err.message),
      );
    }
  });
});

describe("stopOutcomeToProto", () => {
  it("is ALREADY_ENDED for a job that had ended before the request, else how the stop ended it", () => {
    const ended = status({ state: "succeeded", exitCode: 0, endCause: "exited" });
    assert.equal(stopOutcomeToProto(ended, ended), StopOutcome.ALREADY_ENDED);
    const after = status({ state: "stopped", stopOutcome: "terminated", endCause: "stopped" });
    assert.equal(stopOutcomeToProto(status(), after), StopOutcome.TERMINATED);
    const forced = status({ state: "stopped", stopOutcome: "force-ended", endCause: "stopped" });
    assert.equal(stopOutcomeToProto(status(), forced), StopOutcome.FORCE_ENDED);
    // The job ended by itself while the stop was on its way.
    const raced = status({ state: "failed", exitCode: 1, endCause: "exited" });
    assert.equal(stopOutcomeToProto(status(), raced), StopOutcome.ALREADY_ENDED);
  });
});

describe("jobToProto", () => {
  it("maps a running job: uint64s as bigint, nulls left unset, times as timestamps", () => {
    const job = jobToProto(status());
    assert.deepEqual(
      [job.state, job.limits?.memoryBytes, job.limits?.diskBytes, job.limits?.cpu],
      [JobState.RUNNING, 2n ** 40n, 2n ** 33n, 0.5],
    );
    assert.deepEqual([job.usage?.cpuUsec, job.usage?.diskBytes], [1500n, 4096n]);
    assert.equal(job.exitCode, undefined);
    assert.equal(job.signal, undefined);
    assert.equal(job.uid, 600001);
    assert.equal(job.endedAt, undefined);
    assert.equal(job.stopOutcome, StopOutcome.UNSPECIFIED);
    assert.equal(job.endCause, EndCause.UNSPECIFIED);
    assert.equal(job.program, "/usr/bin/echo");
    assert.equal(
      job.startedAt === undefined ? "" : timestampDate(job.startedAt).toISOString(),
      "2026-01-02T03:04:06.000Z",
    );
  });

  it("maps an ended job: exit code 0 is sent, the cause and outcome named", () => {
    const job = jobToProto(
      status({
        state: "stopped",
        exitCode: 0,
        endedAt: "2026-01-02T03:05:00.000Z",
        stopOutcome: "terminated",
        endCause: "stopped",
        pid: null,
        program: null,
      }),
    );
    assert.equal(job.exitCode, 0);
    assert.equal(job.stopOutcome, StopOutcome.TERMINATED);
    assert.equal(job.endCause, EndCause.STOPPED);
    assert.equal(job.pid, 0);
    assert.equal(job.program, "");
  });

  it("never hands BigInt a negative or fractional counter", () => {
    const job = jobToProto(
      status({ usage: { ...status().usage, cpuUsec: -1, memoryCurrentBytes: 1.5 } }),
    );
    assert.deepEqual([job.usage?.cpuUsec, job.usage?.memoryCurrentBytes], [0n, 0n]);
  });
});
