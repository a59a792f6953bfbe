/**
 * Every bad request is refused with a typed error and a clear message:
 * before any process starts, or (for what only the job's uid may look at:
 * its program and working directory) by the launcher, before the command
 * runs, with the job removed again.
 */
import assert from "node:assert/strict";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { JobSpec } from "../../src/worker/index.ts";
import { Worker } from "../../src/worker/index.ts";
import { makeJobVisibleDir } from "../helpers/dirs.ts";
import { openTestWorker, type TestWorker } from "../helpers/worker.ts";

describe("bad input", () => {
  let t: TestWorker;
  let dir: string;
  before(async () => {
    t = await openTestWorker({
      ceilings: { memoryBytes: 512 * 1024 * 1024 },
      defaultLimits: { memoryBytes: 256 * 1024 * 1024 },
    });
    dir = await makeJobVisibleDir("jw-bad-");
    await chmod(dir, 0o755);
    await writeFile(join(dir, "data.txt"), "not a program");
    await chmod(join(dir, "data.txt"), 0o644);
  });
  after(async () => {
    await t.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  const cases: [string, () => Partial<JobSpec>, string, RegExp][] = [
    ["empty command", () => ({ command: "" }), "invalid_argument", /^the command is empty$/],
    [
      "command not on PATH",
      () => ({ command: "no-such-program-jw" }),
      "invalid_argument",
      /^command not found on the server's PATH: no-such-program-jw$/,
    ],
    [
      "not executable",
      () => ({ command: join(dir, "data.txt") }),
      "invalid_argument",
      /is not executable$/,
    ],
    ["a directory", () => ({ command: dir }), "invalid_argument", /is a directory$/],
    [
      "NUL in command",
      () => ({ command: "ec\0ho" }),
      "invalid_argument",
      /command contains a NUL byte/,
    ],
    [
      "NUL in an argument",
      () => ({ command: "echo", args: ["a", "b\0"] }),
      "invalid_argument",
      /argument 2 contains a NUL byte/,
    ],
    [
      "NUL in env value",
      () => ({ command: "echo", env: { A: "x\0" } }),
      "invalid_argument",
      /environment variable A contains a NUL byte/,
    ],
    [
      "'=' in env name",
      () => ({ command: "echo", env: { "A=B": "x" } }),
      "invalid_argument",
      /environment variable name "A=B" is not valid/,
    ],
    [
      "empty owner",
      () => ({ command: "echo", owner: "" }),
      "invalid_argument",
      /^owner "" is not valid/,
    ],
    [
      "malformed owner",
      () => ({ command: "echo", owner: "../root" }),
      "invalid_argument",
      /^owner "..\/root" is not valid/,
    ],
    [
      "negative cpu",
      () => ({ command: "echo", limits: { cpu: -1 } }),
      "invalid_argument",
      /cpu must be a positive number/,
    ],
    [
      "zero memory",
      () => ({ command: "echo", limits: { memoryBytes: 0 } }),
      "invalid_argument",
      /memory must be a positive number/,
    ],
    [
      "tiny memory",
      () => ({ command: "echo", limits: { memoryBytes: 4096 } }),
      "invalid_argument",
      /below the minimum of 4 MiB/,
    ],
    [
      "cpu above host cores",
      () => ({ command: "echo", limits: { cpu: 1000 } }),
      "invalid_argument",
      /more than the host's/,
    ],
    [
      "memory above ceiling",
      () => ({ command: "echo", limits: { memoryBytes: 1024 ** 3 } }),
      "permission_denied",
      /above the ceiling of 512 MiB/,
    ],
    [
      "zero pids",
      () => ({ command: "echo", limits: { pids: 0 } }),
      "invalid_argument",
      /process limit must be a positive number/,
    ],
    [
      "missing cwd",
      () => ({ command: "echo", cwd: "/no/such/dir" }),
      "invalid_argument",
      /^working directory \/no\/such\/dir does not exist$/,
    ],
    [
      "relative cwd",
      () => ({ command: "echo", cwd: "tmp" }),
      "invalid_argument",
      /must be an absolute path/,
    ],
    [
      "cwd is a file",
      () => ({ command: "echo", cwd: join(dir, "data.txt") }),
      "invalid_argument",
      /is not a directory$/,
    ],
    [
      "bad timeout",
      () => ({ command: "echo", timeoutMs: -5 }),
      "invalid_argument",
      /timeout must be a positive/,
    ],
  ];

  for (const [name, spec, code, message] of cases) {
    it(`refuses ${name}`, async () => {
      const before = await t.worker.list();
      await assert.rejects(t.worker.start({ owner: "alice", command: "echo", ...spec() }), {
        name: "JobError",
        code,
        message,
      });
      assert.equal((await t.worker.list()).length, before.length, "no job was recorded");
    });
  }

  it("refuses a bad grace period and a bad watch interval", async () => {
    const job = await t.worker.start({ command: "true", owner: "alice" });
    await assert.rejects(t.worker.stop(job.id, { graceMs: -1 }), { code: "invalid_argument" });
    await assert.rejects(t.worker.watch(job.id, { intervalMs: 0 }).next(), {
      code: "invalid_argument",
    });
  });
});

describe("a state directory the job users cannot reach", () => {
  it("is refused at open with the fix", async () => {
    const closed = await mkdtemp(join(tmpdir(), "jw-closed-"));
    await chmod(closed, 0o700);
    try {
      await assert.rejects(
        Worker.open({ stateDir: join(closed, "state"), cgroupParent: "jobworker-test-closed" }),
        {
          code: "failed_precondition",
          message: `jobs could not reach their scratch folders: ${closed} (above the state directory) is mode 0700; allow others to enter it (chmod o+x ${closed}) or use another state directory`,
        },
      );
    } finally {
      await rm(closed, { recursive: true, force: true });
    }
  });
});
