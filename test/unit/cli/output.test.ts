import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { JobSchema, JobState, StopOutcome } from "../../../src/gen/jobworker/v1/jobworker_pb.js";
import { colorEnabled, painter } from "../../../src/cli/colors.ts";
import { endNeedsExplaining, jobExitStatus } from "../../../src/cli/exit-status.ts";
import { describeStop } from "../../../src/cli/commands/stop.ts";
import {
  formatJobTable,
  formatLimits,
  formatStatus,
  formatTable,
  timeAgo,
} from "../../../src/cli/format.ts";
import { jobToJson, type EndCauseName } from "../../../src/cli/job-json.ts";

describe("jobToJson", () => {
  it("gives camelCase keys, lowercase states, numbers and null where unset", () => {
    const job = create(JobSchema, {
      id: "id-1",
      owner: "alice",
      command: "sleep",
      args: ["1"],
      state: JobState.RUNNING,
      reason: "running",
      pid: 0,
      createdAt: timestampFromDate(new Date("2026-01-02T03:04:05.678Z")),
      limits: { cpu: 0.5, memoryBytes: 1024n },
      usage: { cpuUsec: 5n, pids: 2 },
      outputBytes: 12n,
    });
    assert.deepEqual(jobToJson(job), {
      id: "id-1",
      owner: "alice",
      command: "sleep",
      args: ["1"],
      state: "running",
      queuePosition: null,
      exitCode: null,
      signal: null,
      oomKilled: false,
      reason: "running",
      pid: null,
      uid: null,
      createdAt: "2026-01-02T03:04:05.678Z",
      startedAt: null,
      endedAt: null,
      limits: {
        cpu: 0.5,
        memoryBytes: 1024,
        ioReadBytesPerSecond: null,
        ioWriteBytesPerSecond: null,
        pids: null,
        cpuWeight: null,
        ioWeight: null,
        ioReadIopsPerSecond: null,
        ioWriteIopsPerSecond: null,
        diskBytes: null,
      },
      limitsNotInForce: [],
      limitsNotInForceReasons: {},
      timeoutMs: null,
      usage: {
        cpuUsec: 5,
        cpuThrottledUsec: 0,
        memoryCurrentBytes: 0,
        memoryPeakBytes: 0,
        ioReadBytes: 0,
        ioWriteBytes: 0,
        pids: 2,
        oomKills: 0,
        diskBytes: 0,
      },
      outputBytes: 12,
      envNames: [],
      cwd: null,
      stopOutcome: null,
      endCause: null,
      program: null,
    });
  });

  it("carries the queue position, uid, stop outcome and the newer limits", () => {
    const job = jobToJson(
      create(JobSchema, {
        state: JobState.QUEUED,
        queuePosition: 2,
        uid: 600123,
        stopOutcome: StopOutcome.FORCE_ENDED,
        limits: {
          cpuWeight: 300,
          ioWeight: 50,
          ioReadIopsPerSecond: 100n,
          ioWriteIopsPerSecond: 7n,
        },
        limitsNotInForce: ["ioWeight"],
        limitsNotInForceReasons: { ioWeight: "vda uses mq-deadline, BFQ needed" },
      }),
    );
    assert.deepEqual(
      [job.state, job.queuePosition, job.uid, job.stopOutcome, job.limitsNotInForce],
      ["queued", 2, 600123, "force-ended", ["ioWeight"]],
    );
    assert.deepEqual(job.limitsNotInForceReasons, { ioWeight: "vda uses mq-deadline, BFQ needed" });
    assert.deepEqual(
      [
        job.limits.cpuWeight,
        job.limits.ioWeight,
        job.limits.ioReadIopsPerSecond,
        job.limits.ioWriteIopsPerSecond,
      ],
      [300, 50, 100, 7],
    );
    const outcomes = [
      StopOutcome.UNSPECIFIED,
      StopOutcome.ALREADY_ENDED,
      StopOutcome.NEVER_STARTED,
      StopOutcome.TERMINATED,
      StopOutcome.FORCE_ENDED,
    ].map((stopOutcome) => jobToJson(create(JobSchema, { stopOutcome })).stopOutcome);
    assert.deepEqual(outcomes, [
      null,
      "already-ended",
      "never-started",
      "terminated",
      "force-ended",
    ]);
  });

  it("names every state", () => {
    const names = [
      JobState.QUEUED,
      JobState.STARTING,
      JobState.RUNNING,
      JobState.SUCCEEDED,
      JobState.FAILED,
      JobState.STOPPED,
    ].map((state) => jobToJson(create(JobSchema, { state })).state);
    assert.deepEqual(names, ["queued", "starting", "running", "succeeded", "failed", "stopped"]);
  });
});

describe("jobExitStatus", () => {
  it("follows the shell: the code, 128+N for a signal, 127 when the command never ran", () => {
    const exit = (exitCode: number | null, signal: string | null, endCause: EndCauseName | null) =>
      jobExitStatus({ exitCode, signal, endCause });
    assert.equal(exit(0, null, "exited"), 0);
    assert.equal(exit(3, null, "exited"), 3);
    assert.equal(exit(null, "SIGKILL", "stopped"), 137);
    assert.equal(exit(null, "SIGTERM", "signaled"), 143);
    assert.equal(exit(null, null, "start-failed"), 127);
    assert.equal(exit(null, null, null), 1, "a server that did not say");
  });

  it("explains every end but a plain exit", () => {
    assert.equal(endNeedsExplaining({ state: "succeeded", endCause: "exited" }), false);
    assert.equal(endNeedsExplaining({ state: "failed", endCause: "exited" }), false);
    for (const cause of ["signaled", "oom", "stopped", "timeout", "start-failed"] as const) {
      assert.equal(endNeedsExplaining({ state: "failed", endCause: cause }), true, cause);
    }
    assert.equal(endNeedsExplaining({ state: "failed", endCause: null }), true);
  });
});

describe("formatting", () => {
  it("aligns table columns like docker ps", () => {
    assert.equal(
      formatTable(
        ["A", "BB"],
        [
          ["xxx", "y"],
          ["z", "wwww"],
        ],
      ),
      "A    BB\nxxx  y\nz    wwww\n",
    );
  });

  it("prints the full job ID, the command as sh would read it, and the end", () => {
    const now = Date.parse("2026-01-01T00:01:00Z");
    const job = jobToJson(
      create(JobSchema, {
        id: "0b5c8f7e-1111-4222-8333-944455556666",
        owner: "alice",
        command: "sh",
        args: ["-c", "exit 3"],
        state: JobState.FAILED,
        exitCode: 3,
        createdAt: timestampFromDate(new Date("2026-01-01T00:00:00Z")),
      }),
    );
    const text = formatJobTable([job], { now });
    const [header, row] = text.split("\n");
    assert.match(header ?? "", /^ID\s+OWNER\s+COMMAND\s+STATE\s+EXIT\s+CREATED$/);
    assert.match(
      row ?? "",
      /^0b5c8f7e-1111-4222-8333-944455556666 {2}alice {2}sh -c 'exit 3' {2}failed {2}3 {5}1 minute ago$/,
    );
  });

  it("shows a queued job's place in the queue in ps and status", () => {
    const job = jobToJson(
      create(JobSchema, { id: "q", command: "true", state: JobState.QUEUED, queuePosition: 2 }),
    );
    assert.match(formatJobTable([job]).split("\n")[1] ?? "", / queued \(#2\) +- /);
    const status = formatStatus(job);
    assert.match(status, /^State: +queued \(#2\)$/m);
    assert.match(status, /^Queue: +#2$/m);
  });

  it("lists every limit in status with its requested value and whether it is in force", () => {
    const job = jobToJson(
      create(JobSchema, {
        state: JobState.STOPPED,
        stopOutcome: StopOutcome.TERMINATED,
        limits: { cpu: 0.5, memoryBytes: 64n * 1024n * 1024n, ioWeight: 200, cpuWeight: 300 },
        limitsNotInForce: ["ioWeight"],
      }),
    );
    const lines = formatLimits(job);
    assert.equal(lines.length, 11);
    assert.match(lines[0] ?? "", /^ {2}limit +requested +effective$/);
    const text = formatStatus(job);
    assert.match(text, /^ {2}cpu +0\.5 cores +in force$/m);
    assert.match(text, /^ {2}memory +64 MiB +in force$/m);
    assert.match(text, /^ {2}io read ops +none$/m);
    assert.match(text, /^ {2}cpu weight +300 \(100 = normal\) +in force$/m);
    assert.match(text, /^ {2}io weight +200 \(100 = normal\) +NOT in force on this host$/m);
    assert.match(text, /^Stop outcome: +terminated$/m);
  });

  it("says how a stop ended the job, from the stop's outcome", () => {
    const job = (state: JobState, reason: string, exitCode?: number) =>
      jobToJson(
        create(JobSchema, {
          id: "J",
          state,
          reason,
          ...(exitCode === undefined ? {} : { exitCode }),
        }),
      );
    assert.equal(
      describeStop(job(JobState.SUCCEEDED, "exited with code 0", 0), "already-ended"),
      "job J had already ended: exited with code 0\n",
    );
    assert.equal(
      describeStop(
        job(JobState.STOPPED, "stopped by request: ended after SIGTERM (exited with code 7)", 7),
        "terminated",
      ),
      "job J stopped: ended after SIGTERM (exited with code 7)\n",
    );
    assert.equal(
      describeStop(
        job(
          JobState.STOPPED,
          "stopped by request: killed with SIGKILL after the 10 s grace period",
        ),
        "force-ended",
      ),
      "job J force-ended: killed with SIGKILL after the 10 s grace period\n",
    );
    assert.equal(
      describeStop(job(JobState.STOPPED, "stopped by request before it started"), "never-started"),
      "job J stopped before it started (it was queued)\n",
    );
    // A timeout's stop already under way keeps its own reason.
    assert.equal(
      describeStop(
        job(JobState.FAILED, "timed out after 1 s: ended after SIGTERM (killed by SIGTERM)"),
        "terminated",
      ),
      "job J failed: timed out after 1 s: ended after SIGTERM (killed by SIGTERM)\n",
    );
  });

  it("says how long ago", () => {
    const now = Date.parse("2026-01-02T00:00:00Z");
    assert.equal(timeAgo("2026-01-01T23:59:59Z", now), "1 second ago");
    assert.equal(timeAgo("2026-01-01T23:00:00Z", now), "1 hour ago");
    assert.equal(timeAgo("2025-12-30T00:00:00Z", now), "3 days ago");
    assert.equal(timeAgo(null, now), "-");
  });
});

describe("colours", () => {
  it("only on a terminal, never with NO_COLOR set", () => {
    assert.equal(colorEnabled({ isTTY: true }, {}), true);
    assert.equal(colorEnabled({ isTTY: false }, {}), false);
    assert.equal(colorEnabled({}, {}), false);
    assert.equal(colorEnabled({ isTTY: true }, { NO_COLOR: "1" }), false);
    assert.equal(colorEnabled({ isTTY: true }, { NO_COLOR: "" }), true);
    assert.equal(painter(false).state("failed"), "failed");
    assert.equal(painter(true).state("failed"), "\u001b[31mfailed\u001b[39m");
  });
});
