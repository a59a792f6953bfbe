/**
 * StopJob says how the job ended: on its own before the stop, after
 * SIGTERM, killed after the grace period ("force ended"), or never started
 * (it was queued) — in the response and in the job's status.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { JobState, StopOutcome } from "../../src/gen/jobworker/v1/jobworker_pb.js";
import { waitForOutput } from "../helpers/worker.ts";
import { startTestServer, type TestServer } from "./server-fixture.ts";

const MiB = 1024 * 1024;

describe("StopJob outcomes", () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ worker: { capacity: { memoryBytes: 256 * MiB } } });
  });
  after(async () => {
    await t.close();
  });

  const small = { memoryBytes: BigInt(64 * MiB) };

  it("a job that had already ended: ALREADY_ENDED, its own exit kept", async () => {
    const alice = t.client("alice");
    const { job } = await alice.startJob({ command: "true", limits: small });
    await t.worker.worker.wait(job?.id ?? "");
    const stopped = await alice.stopJob({ id: job?.id ?? "" });
    assert.equal(stopped.outcome, StopOutcome.ALREADY_ENDED);
    assert.equal(stopped.job?.state, JobState.SUCCEEDED);
  });

  it("a job that exits on SIGTERM: TERMINATED", async () => {
    const alice = t.client("alice");
    const { job } = await alice.startJob({ command: "sleep", args: ["60"], limits: small });
    const stopped = await alice.stopJob({ id: job?.id ?? "" });
    assert.equal(stopped.outcome, StopOutcome.TERMINATED);
    assert.equal(stopped.job?.state, JobState.STOPPED);
    assert.equal(stopped.job.signal, "SIGTERM");
    assert.equal(stopped.job.stopOutcome, StopOutcome.TERMINATED);
  });

  it("a job ignoring SIGTERM: FORCE_ENDED after the grace period", async () => {
    const alice = t.client("alice");
    const { job } = await alice.startJob({
      command: "sh",
      args: ["-c", "trap '' TERM; echo ready; while :; do sleep 1; done"],
      limits: small,
    });
    const id = job?.id ?? "";
    await waitForOutput(t.worker.worker, id, "ready");
    const stopped = await alice.stopJob({ id, graceMs: 200n });
    assert.equal(stopped.outcome, StopOutcome.FORCE_ENDED);
    assert.equal(stopped.job?.signal, "SIGKILL");
  });

  it("a queued job: NEVER_STARTED", async () => {
    const alice = t.client("alice");
    const blocker = await alice.startJob({
      command: "sleep",
      args: ["60"],
      limits: { memoryBytes: BigInt(256 * MiB) },
    });
    const { job } = await alice.startJob({ command: "true", limits: small });
    assert.equal(job?.state, JobState.QUEUED);
    assert.equal(job.queuePosition, 1);
    const stopped = await alice.stopJob({ id: job.id });
    assert.equal(stopped.outcome, StopOutcome.NEVER_STARTED);
    assert.equal(stopped.job?.state, JobState.STOPPED);
    await alice.stopJob({ id: blocker.job?.id ?? "", graceMs: 0n });
  });
});
