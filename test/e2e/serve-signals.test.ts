/**
 * The README's way to start the server from a clone (`bin/jobworker.js
 * serve`, with the project's node_modules/.bin first on PATH for its Node
 * 24) stops cleanly on SIGTERM, as a service manager or `kill` sends it,
 * and on Ctrl-C, which a terminal sends to its whole foreground process
 * group: no process of the server's tree is left, and its port is free.
 *
 * (Not `npx jobworker serve`: npm signals only the `sh -c` it starts the
 * command in, Debian's sh does not exec that command, so SIGTERM to npx
 * kills the shell and leaves the server running without a parent; and
 * where the shell does exec it, Ctrl-C reaches the server twice, which
 * serve takes as "exit now".)
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import {
  BIN,
  cleanEnv,
  collect,
  ownServerArgs,
  removeEmptyCgroups,
  waitForLine,
} from "./cli-harness.ts";
import { portIsFree, processTree, stillThere } from "./process-tree.ts";

const BIN_DIR = new URL("../../node_modules/.bin", import.meta.url).pathname;

/** Starts the server as the README says, in a process group of its own (as a shell job is). */
async function stopsCleanly(stop: (pid: number) => void): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "jw-signals-"));
  await chmod(dir, 0o711);
  const cgroupParent = `jobworker-signals-${String(process.pid)}`;
  const server = spawn(BIN, ownServerArgs(join(dir, "state"), cgroupParent, 31_000_000), {
    env: cleanEnv({
      PATH: `${BIN_DIR}:${process.env["PATH"] ?? ""}`,
      JOBWORKER_CONFIG_DIR: join(dir, "client"),
    }),
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  const exited = collect(server);
  try {
    const [, address = ""] = await waitForLine(server, /^listening on (127\.0\.0\.1:\d+)$/m);
    // A job keeps running while the signal comes: the server stops it too.
    const env = cleanEnv({ JOBWORKER_CONFIG_DIR: join(dir, "client"), JOBWORKER_SERVER: address });
    const start = await collect(
      spawn(process.execPath, [BIN, "start", "--", "sleep", "60"], { env }),
    );
    assert.equal(start.code, 0, start.stderr);
    const tree = processTree(server.pid ?? 0);
    assert.ok(tree.length >= 3, `expected the server, its spawner and a job: ${tree.join(" ")}`);

    stop(server.pid ?? 0);
    const result = await exited;
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /shutting down/);
    assert.deepEqual(await stillThere(tree), []);
    assert.ok(await portIsFree(Number(address.split(":")[1])), `${address} is still taken`);
  } finally {
    server.kill("SIGKILL");
    await exited;
    await rm(dir, { recursive: true, force: true });
    await removeEmptyCgroups(cgroupParent);
  }
}

describe("the documented server start stops cleanly", () => {
  it("on SIGTERM to its process", async () => {
    await stopsCleanly((pid) => process.kill(pid, "SIGTERM"));
  });

  it("on Ctrl-C (SIGINT to its whole process group)", async () => {
    await stopsCleanly((pid) => process.kill(-pid, "SIGINT"));
  });
});
