/**
 * End to end, the ecosystem's conventions and the one config file: a server
 * started with `serve --config FILE` (its flags winning over the file), the
 * seed example typed as is, a limit this host cannot enforce run with a
 * warning (docker's convention), a command not found exiting 127 (126 for
 * one that cannot be executed), `top`, and the queue line of `run`.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { cleanEnv, runCli, startCliServer, type CliServer } from "./cli-harness.ts";

let server: CliServer;
let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "jw-e2e-config-"));
  const config = join(dir, "jobworker.yaml");
  await writeFile(
    config,
    [
      "# the harness's --listen 127.0.0.1:0 wins over this",
      "listen: 127.0.0.1:1",
      "logLevel: debug",
      "metrics:",
      "  listen: 127.0.0.1:0",
      "capacity:",
      "  memoryBytes: 536870912",
      "  maxRunning: 1",
      "",
    ].join("\n"),
  );
  server = await startCliServer({ args: ["--config", config] });
});

after(async () => {
  await server.dispose();
  await rm(dir, { recursive: true, force: true });
});

function idOf(stdout: string): string {
  const id = stdout.trim();
  assert.match(id, /^[0-9a-f-]{36}$/);
  return id;
}

describe("serve --config", () => {
  it("takes the file's settings, the flags winning over it", async () => {
    assert.match(server.startup, /^capacity: 512 MiB memory, .*, 1 job$/m);
    const metrics = /^metrics on (http:\/\/127\.0\.0\.1:\d+\/metrics)$/m.exec(server.startup);
    assert.ok(metrics?.[1] !== undefined, server.startup);
    const response = await fetch(metrics[1]);
    assert.equal(response.status, 200);
    assert.match(await response.text(), /^jobworker_capacity_jobs 1$/m);
  });

  it("refuses a file with an unknown key or a bad value, naming the key path", async () => {
    const bad = join(dir, "bad.yaml");
    await writeFile(bad, "capacity:\n  maxRuning: 2\nstrictLimits: yes\n");
    const result = await runCli(["serve", "--config", bad], cleanEnv());
    assert.equal(result.code, 1);
    assert.equal(
      result.stderr,
      `jobworker: ${bad}: strictLimits must be true or false; capacity.maxRuning is not a known key: use memoryBytes, cpu, pids, maxRunning\n`,
    );
  });
});

describe("the ecosystem's conventions", () => {
  it("runs the seed example as typed, warning of a limit this host cannot enforce", async () => {
    const started = await server.cli([
      "start",
      "echo 'Life is Great'",
      "--cpu-weight",
      "1024",
      "--memory-limit",
      "100M",
      "--io-weight",
      "100",
    ]);
    assert.equal(started.code, 0, started.stderr);
    const id = idOf(started.stdout);
    assert.equal((await server.cli(["wait", id])).code, 0);
    const [logs, json] = await Promise.all([
      server.cli(["logs", id]),
      server.cli(["status", "--json", id]),
    ]);
    assert.equal(logs.stdout, "Life is Great\n");
    const job = JSON.parse(json.stdout) as {
      limits: Record<string, number | null>;
      limitsNotInForce: string[];
      limitsNotInForceReasons: Record<string, string>;
    };
    assert.deepEqual(
      [job.limits["cpuWeight"], job.limits["memoryBytes"], job.limits["ioWeight"]],
      [1024, 100 * 1024 * 1024, 100],
    );
    // One warning line per limit not in force, with the server's reason.
    const warnings = job.limitsNotInForce.map((name) => {
      const label = name === "ioWeight" ? "io weight" : name === "cpuWeight" ? "cpu weight" : name;
      return `jobworker: ${label} not in force: ${job.limitsNotInForceReasons[name] ?? ""}\n`;
    });
    assert.equal(started.stderr, warnings.join(""));
  });

  it("exits 127 for a command not found and 126 for one that cannot be executed", async () => {
    // One at a time: the server runs one job at once, and a start that
    // queued would fail later, as a job, instead of being refused.
    const run = await server.cli(["run", "--memory", "64M", "--", "no-such-command-here"]);
    const detached = await server.cli(["run", "-d", "--memory", "64M", "no-such-command-here"]);
    const start = await server.cli(["start", "--memory", "64M", "no-such-command-here"]);
    const notExecutable = await server.cli(["run", "--memory", "64M", "--", "/etc/hostname"]);
    for (const result of [run, detached, start]) {
      assert.equal(result.code, 127, result.stderr);
      assert.equal(
        result.stderr,
        "jobworker: command not found on the server's PATH: no-such-command-here\n",
      );
    }
    assert.equal(notExecutable.code, 126, notExecutable.stderr);
    // The program is found, the kernel refuses it ("is not executable", or
    // "could not start: exec format error" where its x bit is set).
    assert.match(
      notExecutable.stderr,
      /^jobworker: (command \/etc\/hostname is not executable|could not start: .+)\n$/,
    );
  });

  it("top shows the capacity, what jobs reserve, and the jobs per owner", async () => {
    const id = idOf(
      (await server.cli(["start", "--memory", "64M", "--cpu", "0.5", "--", "sleep", "30"])).stdout,
    );
    try {
      const [json, text] = await Promise.all([server.cli(["top", "--json"]), server.cli(["host"])]);
      assert.equal(json.code, 0, json.stderr);
      const host = JSON.parse(json.stdout) as {
        capacity: { jobs: number; memoryBytes: number };
        reserved: { jobs: number; memoryBytes: number; cpu: number };
        owners: { owner: string; running: number; queued: number }[];
      };
      assert.equal(host.capacity.jobs, 1);
      assert.equal(host.capacity.memoryBytes, 512 * 1024 * 1024);
      assert.deepEqual(
        [host.reserved.jobs, host.reserved.memoryBytes, host.reserved.cpu],
        [1, 64 * 1024 * 1024, 0.5],
      );
      assert.deepEqual(
        host.owners.map(({ owner, running, queued }) => [owner, running, queued]),
        [["admin", 1, 0]],
      );
      assert.match(text.stdout, /^memory +512 MiB +64 MiB \(13%\)/m);
      assert.match(text.stdout, /^admin +1 +0 +0\.5 +64 MiB/m);
    } finally {
      await server.cli(["stop", "--grace", "0", id]);
    }
  });

  it("run in the queue says where it stands in plain lines when not on a terminal", async () => {
    const blocker = idOf(
      (await server.cli(["start", "--memory", "64M", "--", "sleep", "30"])).stdout,
    );
    const waiting = server.cli(["run", "--memory", "64M", "--", "echo", "after the wait"]);
    // Let it queue, then make room.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await server.cli(["stop", "--grace", "0", blocker]);
    const result = await waiting;
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, "after the wait\n");
    assert.match(
      result.stderr,
      /^jobworker: job [0-9a-f-]{36} is queued \(#1\): waiting for room within the server's capacity\n$/,
    );
  });
});

describe("serve --strict-limits", () => {
  it("refuses a job whose limits this host cannot enforce, with the reason", async () => {
    // A uid range of its own: the file's other server is running.
    const strict = await startCliServer({
      args: ["--strict-limits", "--uid-range", "690000-690099"],
    });
    try {
      const started = await strict.cli(["start", "--io-weight", "100", "--", "true"]);
      assert.equal(started.code, 1);
      assert.equal(started.stdout, "");
      assert.match(
        started.stderr,
        /^jobworker: this host cannot enforce the io weight limit: the disk \S+ of the state directory uses the \S+ scheduler, which ignores io weights \(BFQ needed\)\n$/,
      );
    } finally {
      await strict.dispose();
    }
  });
});
