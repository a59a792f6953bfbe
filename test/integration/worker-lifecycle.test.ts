/**
 * The job lifecycle against the real kernel: states, exit codes, signals,
 * stop escalation, timeouts, output cap, persistence across a reopen.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ORPHAN_REASON, type JobStatus } from "../../src/worker/index.ts";
import {
  collectOutput,
  openTestWorker,
  waitForOutput,
  type TestWorker,
} from "../helpers/worker.ts";

describe("job lifecycle", () => {
  let t: TestWorker;
  before(async () => {
    t = await openTestWorker({ outputCapBytes: 1024 * 1024 });
  });
  after(async () => {
    await t.dispose();
  });

  it("a job that exits 0 succeeds, with times, pid and its output", async () => {
    const started = await t.worker.start({
      command: "echo",
      args: ["hello", "world"],
      owner: "alice",
    });
    assert.equal(started.state, "running");
    assert.ok(started.pid !== null && started.pid > 0);
    assert.ok(started.startedAt !== null);
    const ended = await t.worker.wait(started.id);
    assert.equal(ended.state, "succeeded");
    assert.equal(ended.exitCode, 0);
    assert.equal(ended.signal, null);
    assert.equal(ended.reason, "exited with code 0");
    assert.ok(ended.endedAt !== null && ended.endedAt >= (ended.startedAt ?? ""));
    assert.equal((await collectOutput(t.worker.output(started.id))).toString(), "hello world\n");
    assert.equal(ended.outputBytes, 12);
  });

  it("a non-zero exit fails with its code; a signal fails with its name", async () => {
    const three = await t.worker.wait(
      (await t.worker.start({ command: "sh", args: ["-c", "exit 3"], owner: "alice" })).id,
    );
    assert.deepEqual(
      [three.state, three.exitCode, three.reason],
      ["failed", 3, "exited with code 3"],
    );
    const killed = await t.worker.wait(
      (await t.worker.start({ command: "sh", args: ["-c", "kill -KILL $$"], owner: "alice" })).id,
    );
    assert.deepEqual(
      [killed.state, killed.exitCode, killed.signal, killed.oomKilled],
      ["failed", null, "SIGKILL", false],
    );
  });

  it("stdout and stderr interleave in one output, binary unchanged", async () => {
    const job = await t.worker.start({
      command: "sh",
      args: ["-c", "echo out; echo err >&2; printf '\\377\\000\\376'; echo end"],
      owner: "alice",
    });
    await t.worker.wait(job.id);
    const output = await collectOutput(t.worker.output(job.id));
    assert.deepEqual(
      output,
      Buffer.concat([
        Buffer.from("out\nerr\n"),
        Buffer.from([0xff, 0, 0xfe]),
        Buffer.from("end\n"),
      ]),
    );
  });

  it("the environment is the request's plus a minimal PATH, never the server's", async () => {
    process.env["JW_SERVER_SECRET"] = "leak";
    try {
      const job = await t.worker.start({
        command: "env",
        env: { GREETING: "hi there" },
        owner: "alice",
      });
      await t.worker.wait(job.id);
      const lines = (await collectOutput(t.worker.output(job.id)))
        .toString()
        .trim()
        .split("\n")
        .sort();
      assert.deepEqual(lines, [
        "GREETING=hi there",
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      ]);
      assert.deepEqual((await t.worker.status(job.id)).envNames, ["GREETING", "PATH"]);
    } finally {
      delete process.env["JW_SERVER_SECRET"];
    }
  });

  it("stop: SIGTERM first, and a job that exits on it ends 'stopped'", async () => {
    const job = await t.worker.start({ command: "sleep", args: ["100"], owner: "alice" });
    const stopped = await t.worker.stop(job.id);
    assert.equal(stopped.state, "stopped");
    assert.equal(stopped.signal, "SIGTERM");
    assert.equal(stopped.reason, "stopped by request: ended after SIGTERM (killed by SIGTERM)");
    // Idempotent: a second stop returns the same final status.
    assert.deepEqual(await t.worker.stop(job.id), stopped);
  });

  it("stop: a job ignoring SIGTERM is killed after the grace period, background daemon included", async () => {
    const job = await t.worker.start({
      command: "sh",
      args: [
        "-c",
        "trap '' TERM; (trap '' TERM; setsid sleep 300 & ) ; echo ready; while :; do sleep 1; done",
      ],
      owner: "alice",
    });
    await waitForOutput(t.worker, job.id, "ready");
    // The daemon is forked in the background: it may exec a moment after "ready".
    let daemons: number[] = [];
    for (let i = 0; i < 100 && daemons.length === 0; i++) {
      daemons = await hostPidsRunning("sleep\0" + "300");
      if (daemons.length === 0) await sleep(50);
    }
    assert.ok(daemons.length > 0, "the daemon runs before the stop");
    const before = Date.now();
    const stopped = await t.worker.stop(job.id, { graceMs: 500 });
    const took = Date.now() - before;
    assert.equal(stopped.state, "stopped");
    assert.equal(
      stopped.reason,
      "stopped by request: killed with SIGKILL after the 500 ms grace period",
    );
    assert.deepEqual([stopped.stopOutcome, stopped.endCause], ["force-ended", "stopped"]);
    assert.ok(took >= 450, `stop took ${took} ms: the grace period was not given`);
    assert.deepEqual(await hostPidsRunning("sleep\0" + "300"), [], "the detached daemon died too");
  });

  it("a timeout stops the job and fails it with that reason", async () => {
    const job = await t.worker.start({
      command: "sleep",
      args: ["100"],
      owner: "alice",
      timeoutMs: 300,
    });
    const ended = await t.worker.wait(job.id);
    assert.equal(ended.state, "failed");
    assert.match(ended.reason, /^timed out after 300 ms: ended after SIGTERM/);
    assert.equal(ended.endCause, "timeout");
  });

  it("output past the cap stops the job with a clear reason", async () => {
    const job = await t.worker.start({
      command: "sh",
      args: ["-c", "while :; do echo aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa; done"],
      owner: "alice",
    });
    const ended = await t.worker.wait(job.id);
    assert.equal(ended.state, "failed");
    assert.match(ended.reason, /^output exceeded the cap of 1 MiB/);
    assert.equal(ended.endCause, "output-cap");
    assert.ok(ended.outputBytes > 1024 * 1024);
  });

  it("list filters by owner and state; an unknown id is not_found", async () => {
    const running = await t.worker.start({ command: "sleep", args: ["100"], owner: "bob" });
    const bobs = await t.worker.list({ owner: "bob" });
    assert.deepEqual(
      bobs.map((j) => j.id),
      [running.id],
    );
    const runningJobs = await t.worker.list({ states: ["running"] });
    assert.ok(runningJobs.every((j) => j.state === "running"));
    assert.ok(runningJobs.some((j) => j.id === running.id));
    await t.worker.stop(running.id, { graceMs: 0 });
    await assert.rejects(t.worker.status("no-such-job"), { code: "not_found" });
    await assert.rejects(t.worker.stop("no-such-job"), { code: "not_found" });
    assert.throws(() => t.worker.output("no-such-job"), { code: "not_found" });
  });

  it("watch yields the status until the final one", async () => {
    const job = await t.worker.start({ command: "sleep", args: ["0.3"], owner: "alice" });
    const states: string[] = [];
    for await (const status of t.worker.watch(job.id, { intervalMs: 100 }))
      states.push(status.state);
    assert.equal(states.at(-1), "succeeded");
    assert.ok(states.filter((s) => s === "running").length >= 2, `saw ${states.join(",")}`);
  });

  it("a reopened worker lists earlier jobs with their output", async () => {
    const job = await t.worker.start({ command: "echo", args: ["kept"], owner: "carol" });
    await t.worker.wait(job.id);
    const again = await t.reopen();
    const status = await again.status(job.id);
    assert.equal(status.state, "succeeded");
    assert.equal((await collectOutput(again.output(job.id))).toString(), "kept\n");
  });

  it("a record written by an older server reads in today's words", async () => {
    const job = await t.worker.start({ command: "true", owner: "carol" });
    await t.worker.wait(job.id);
    const file = join(t.stateDir, "jobs", job.id, "record.json");
    const stored = JSON.parse(await readFile(file, "utf8")) as { job: Record<string, unknown> };
    // As a server before end causes and the one stop-outcome vocabulary wrote it.
    delete stored.job["endCause"];
    stored.job["stopOutcome"] = "before-signal";
    delete (stored.job["usage"] as Record<string, unknown>)["diskBytes"];
    await writeFile(file, JSON.stringify(stored));
    const status = await (await t.reopen()).status(job.id);
    assert.deepEqual(
      [status.stopOutcome, status.endCause, status.usage.diskBytes],
      ["already-ended", null, 0],
    );
  });
});

describe("closing the worker", () => {
  it("stops running jobs with their grace period, records them, and refuses new ones", async () => {
    const t = await openTestWorker();
    try {
      const job = await t.worker.start({ command: "sleep", args: ["100"], owner: "alice" });
      await t.worker.close();
      await t.worker.close(); // idempotent
      const status = await t.worker.status(job.id);
      assert.equal(status.state, "stopped");
      assert.equal(
        status.reason,
        "stopped because the server shut down: ended after SIGTERM (killed by SIGTERM)",
      );
      await assert.rejects(t.worker.start({ command: "true", owner: "alice" }), {
        code: "failed_precondition",
      });
      const reopened = await t.reopen();
      assert.equal((await reopened.status(job.id)).state, "stopped");
    } finally {
      await t.dispose();
    }
  });
});

describe("a job left running by a server that died", () => {
  it("is killed and marked failed when the state directory is reopened", async () => {
    const t = await openTestWorker();
    try {
      // A second process runs the worker, starts a job, and is SIGKILLed.
      const { spawn } = await import("node:child_process");
      const script = `
        import { Worker } from ${JSON.stringify(new URL("../../src/worker/index.ts", import.meta.url).href)};
        const w = await Worker.open({ stateDir: ${JSON.stringify(t.stateDir)}, cgroupParent: ${JSON.stringify(t.cgroupParent)} });
        const job = await w.start({ command: "sh", args: ["-c", "echo begun; sleep 300"], owner: "dave" });
        // Killed once the job has written: its output must survive the restart.
        for await (const _ of w.output(job.id, { follow: true })) break;
        console.log(job.id);
      `;
      const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      const id = await new Promise<string>((resolve) => {
        child.stdout.once("data", (data: Buffer) => {
          resolve(data.toString().trim());
        });
      });
      child.kill("SIGKILL");
      await new Promise((resolve) => child.once("exit", resolve));
      const worker = await t.reopen();
      const status = await worker.status(id);
      assert.equal(status.state, "failed");
      assert.equal(status.reason, ORPHAN_REASON);
      assert.equal(status.endCause, "server-restart");
      assert.equal((await collectOutput(worker.output(id))).toString(), "begun\n");
    } finally {
      await t.dispose();
    }
  });
});

/** Host pids whose command line starts with `cmdline` (arguments NUL-separated). */
async function hostPidsRunning(cmdline: string): Promise<number[]> {
  const { readdir, readFile } = await import("node:fs/promises");
  const pids: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const text = await readFile(`/proc/${entry}/cmdline`, "latin1").catch(() => "");
    if (text.startsWith(cmdline)) pids.push(Number(entry));
  }
  return pids;
}

describe("job ids", () => {
  it("are UUIDv4; a unique prefix of 4+ characters names a job, only among the owner's jobs", async () => {
    const t = await openTestWorker();
    try {
      const jobs = [];
      for (let i = 0; i < 40; i++) {
        jobs.push(await t.worker.start({ command: "true", owner: i % 2 === 0 ? "alice" : "bob" }));
      }
      const [first] = jobs as [JobStatus];
      assert.match(
        first.id,
        /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
      );
      assert.equal(t.worker.resolveId(first.id), first.id);
      assert.equal(t.worker.resolveId(first.id.slice(0, 8), "alice"), first.id);
      assert.throws(() => t.worker.resolveId(first.id.slice(0, 3)), { code: "not_found" });
      // bob's view: alice's job, by id or by prefix, does not exist.
      for (const reference of [first.id, first.id.slice(0, 8)]) {
        assert.throws(() => t.worker.resolveId(reference, "bob"), {
          code: "not_found",
          message: `job ${reference} not found`,
        });
      }
      // Two ended jobs whose ids share 8 characters, as records on disk.
      const twins = [
        "abcdef01-0000-4000-8000-000000000001",
        "abcdef01-0000-4000-8000-000000000002",
      ];
      for (const id of twins) {
        await mkdir(join(t.stateDir, "jobs", id), { recursive: true });
        await writeFile(join(t.stateDir, "jobs", id, "output"), "");
        await writeFile(
          join(t.stateDir, "jobs", id, "record.json"),
          JSON.stringify({ version: 1, job: { ...(await t.worker.status(first.id)), id } }),
        );
      }
      const reopened = await t.reopen();
      assert.throws(() => reopened.resolveId("abcdef01", "alice"), {
        code: "invalid_argument",
        message: `job id prefix abcdef01 is ambiguous: it matches ${twins.join(", ")}`,
      });
    } finally {
      await t.dispose();
    }
  });
});
