/**
 * End to end: a follower whose connection is cut (by a TCP proxy in the
 * test, between the real CLI and the real server) resumes at the exact byte
 * it had written, and gives up with the promised message when the server
 * stays out of reach.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { startCuttingProxy } from "./cutting-proxy.ts";
import { spawnCli, startCliServer, waitForLine, type CliServer } from "./cli-harness.ts";
import type { ChildProcess } from "node:child_process";

let server: CliServer;

before(async () => {
  server = await startCliServer();
});

after(async () => {
  await server.dispose();
});

/** The child's stdout as bytes (exact, for hashing), stderr as text, and its exit. */
function collectBytes(
  child: ChildProcess,
): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  const out: Buffer[] = [];
  let stderr = "";
  child.stdout?.on("data", (chunk: Buffer) => out.push(chunk));
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => {
      resolve({ code, stdout: Buffer.concat(out), stderr });
    });
  });
}

function sha256(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

const TWENTY_MIB = 20 * 1024 * 1024;

describe("following across dropped connections", () => {
  it("gets 20 MiB byte for byte through a proxy that cuts the connection 5 times", async () => {
    // Cut each time another 3 MiB has gone to the client: every cut lands in
    // the middle of the transfer, whatever the speed of this machine.
    const proxy = await startCuttingProxy({
      target: server.address,
      cutEveryBytes: 3 * 1024 * 1024,
      maxCuts: 5,
    });
    try {
      const started = await server.cli([
        "start",
        "--",
        "sh",
        "-c",
        `seq 1 3000000 | head -c ${TWENTY_MIB}`,
      ]);
      assert.equal(started.code, 0, started.stderr);
      const id = started.stdout.trim();
      const follower = spawnCli(
        ["stream", "--server", proxy.address, "--reconnect-timeout", "30s", id],
        server.env(),
      );
      const followed = await collectBytes(follower);
      assert.equal(followed.code, 0, followed.stderr);
      assert.equal(proxy.cuts, 5);

      const direct = await collectBytes(spawnCli(["logs", id], server.env()));
      assert.equal(direct.code, 0, direct.stderr);
      assert.equal(direct.stdout.byteLength, TWENTY_MIB);
      assert.equal(followed.stdout.byteLength, TWENTY_MIB);
      assert.equal(sha256(followed.stdout), sha256(direct.stdout));

      // One line per reconnection, each at the byte reached so far, ascending.
      const lines = followed.stderr.trimEnd().split("\n");
      const offsets = lines.map((line) => {
        const match = /^jobworker: connection lost; reconnected, resuming at byte (\d+)$/.exec(
          line,
        );
        assert.ok(match, `unexpected stderr line: ${line}`);
        return Number(match[1]);
      });
      assert.ok(offsets.length >= 3 && offsets.length <= 5, followed.stderr);
      assert.deepEqual(
        offsets,
        [...offsets].sort((a, b) => a - b),
      );
      assert.ok(offsets.every((offset) => offset > 0 && offset < TWENTY_MIB));
    } finally {
      await proxy.close();
    }
  });

  it("exits 1 saying so when the server stays out of reach for the reconnect timeout", async () => {
    const proxy = await startCuttingProxy({ target: server.address });
    const started = await server.cli(["start", "--", "sh", "-c", "echo first; exec sleep 60"]);
    assert.equal(started.code, 0, started.stderr);
    const id = started.stdout.trim();
    try {
      const follower = spawnCli(
        ["logs", "-f", "--server", proxy.address, `--job=${id}`],
        server.env({ JOBWORKER_RECONNECT_TIMEOUT: "2s" }),
      );
      const done = collectBytes(follower);
      await waitForLine(follower, /^first$/m);
      const lostAt = Date.now();
      await proxy.close();
      const result = await done;
      const waited = Date.now() - lostAt;
      assert.equal(result.code, 1);
      assert.equal(result.stdout.toString(), "first\n");
      assert.match(
        result.stderr,
        new RegExp(
          `^jobworker: lost the connection to ${proxy.address.replaceAll(".", "\\.")} and could not reconnect within 2 s \\(last error: .*\\)\\n$`,
        ),
      );
      // The timeout, plus a CLI process's exit on a loaded machine.
      assert.ok(waited >= 2000 && waited < 15_000, `gave up after ${waited} ms`);
    } finally {
      await proxy.close();
      await server.cli(["stop", "--grace", "0", id]);
    }
  });
});
