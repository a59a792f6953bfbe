/**
 * End to end: `serve`'s capacity flags and the admission queue as the CLI
 * shows them (ps, status, start, stop), and limits the host does not
 * enforce, on a server that allows them.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { runCli, cleanEnv, startCliServer, type CliServer } from "./cli-harness.ts";

let server: CliServer;

before(async () => {
  server = await startCliServer({
    args: ["--capacity-memory", "512M", "--max-running", "1", "--allow-unenforced-limits"],
  });
});

after(async () => {
  await server.dispose();
});

function idOf(stdout: string): string {
  const id = stdout.trim();
  assert.match(id, /^[0-9a-f-]{36}$/);
  return id;
}

describe("serve --capacity-*", () => {
  it("prints the capacity in force at start, the host's defaults for what was not given", () => {
    assert.match(
      server.startup,
      /^capacity: 512 MiB memory, \d+(\.\d+)? cores?, \d+ process(es)?, 1 job$/m,
    );
  });

  it("refuses bad capacity values as usage errors", async () => {
    const results = await Promise.all([
      runCli(["serve", "--capacity-memory", "lots"], cleanEnv()),
      runCli(["serve", "--capacity-cpu", "0"], cleanEnv()),
      runCli(["serve", "--max-running", "1.5"], cleanEnv()),
    ]);
    assert.deepEqual(
      results.map((result) => result.code),
      [2, 2, 2],
    );
    assert.match(results[0].stderr, /^jobworker: --capacity-memory "lots" is not a size/);
    assert.match(results[1].stderr, /^jobworker: --capacity-cpu "0" is not a positive/);
    assert.match(results[2].stderr, /^jobworker: --max-running "1.5" is not a whole/);
  });

  it("queues a job beyond the capacity: ps, status and stop show it", async () => {
    const running = idOf(
      (await server.cli(["start", "--memory", "64M", "--", "sleep", "30"])).stdout,
    );
    const queuedStart = await server.cli(["start", "--memory", "64M", "--", "true"]);
    assert.equal(queuedStart.code, 0, queuedStart.stderr);
    const queued = idOf(queuedStart.stdout);
    assert.match(queuedStart.stderr, new RegExp(`^jobworker: job ${queued} is queued \\(#1\\)`));

    const [ps, status, json, tooBig] = await Promise.all([
      server.cli(["ps"]),
      server.cli(["status", queued]),
      server.cli(["status", "--json", queued]),
      server.cli(["start", "--memory", "1G", "--", "true"]),
    ]);
    assert.match(ps.stdout, new RegExp(`^${running} .* running +- `, "m"));
    assert.match(ps.stdout, new RegExp(`^${queued} .* queued \\(#1\\) +- `, "m"));
    assert.match(status.stdout, /^State: +queued \(#1\)/m);
    assert.match(status.stdout, /^Queue: +#1$/m);
    const job = JSON.parse(json.stdout) as Record<string, unknown>;
    assert.deepEqual([job["state"], job["queuePosition"]], ["queued", 1]);
    // Could never fit: refused at once (RESOURCE_EXHAUSTED), with the numbers.
    assert.equal(tooBig.code, 1);
    assert.match(tooBig.stderr, /^jobworker: .*1 GiB.*512 MiB/);

    const stopQueued = await server.cli(["stop", "--json", queued]);
    assert.equal(stopQueued.code, 0, stopQueued.stderr);
    const stopped = JSON.parse(stopQueued.stdout) as Record<string, unknown>;
    assert.deepEqual(
      [stopped["state"], stopped["outcome"], stopped["stopOutcome"], stopped["queuePosition"]],
      ["stopped", "never-started", "never-started", null],
    );
    const [again, stopRunning] = await Promise.all([
      server.cli(["stop", queued]),
      server.cli(["stop", running]),
    ]);
    assert.match(again.stdout, new RegExp(`^job ${queued} had already ended: `));
    assert.equal(
      stopRunning.stdout,
      `job ${running} stopped: ended after SIGTERM (killed by SIGTERM)\n`,
    );
  });

  it("a stop of a queued job says it never started", async () => {
    const running = idOf(
      (await server.cli(["start", "--memory", "64M", "--", "sleep", "30"])).stdout,
    );
    const queued = idOf((await server.cli(["start", "--memory", "64M", "--", "true"])).stdout);
    const stop = await server.cli(["stop", queued]);
    assert.equal(stop.stdout, `job ${queued} stopped before it started (it was queued)\n`);
    await server.cli(["stop", "--grace", "0", running]);
  });

  it("runs a job with an io weight this host does not enforce, and says so", async () => {
    const started = await server.cli([
      "start",
      "--json",
      "--memory",
      "64M",
      "--io-weight",
      "200",
      "--",
      "true",
    ]);
    assert.equal(started.code, 0, started.stderr);
    const job = JSON.parse(started.stdout) as Record<string, unknown>;
    const id = String(job["id"]);
    await server.cli(["wait", id]);
    const [json, text] = await Promise.all([
      server.cli(["status", "--json", id]),
      server.cli(["status", id]),
    ]);
    const status = JSON.parse(json.stdout) as {
      limits: Record<string, unknown>;
      limitsNotInForce: string[];
    };
    assert.equal(status.limits["ioWeight"], 200);
    assert.deepEqual(status.limitsNotInForce, ["ioWeight"]);
    assert.match(text.stdout, /^ {2}io weight +200 \(100 = normal\) +NOT in force on this host$/m);
    assert.match(text.stdout, /^ {2}memory +64 MiB +in force$/m);
  });
});
