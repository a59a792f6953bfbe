/**
 * End to end: `logs --tail N` scans a huge output for its last lines in
 * bounded memory. A job makes its output a 128 MiB sparse file of zeros
 * after one line; `logs --tail 1` must scan all of it back to that line and
 * then write the zeros out. Its peak RSS is compared with that of writing
 * the same bytes out without a scan (`--from`): the scan may add little.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { spawnCli, startCliServer, type CliServer } from "./cli-harness.ts";

const MiB = 1024 * 1024;

/** The peak resident memory (VmHWM) of a running process, in bytes. */
async function peakRss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
  return Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) * 1024;
}

interface LogsRun {
  bytes: number;
  /** The first bytes written. */
  head: Buffer;
  peak: number;
}

/** Runs `jobworker logs ARGS`, counting what it writes and sampling its peak RSS. */
async function logs(server: CliServer, args: readonly string[]): Promise<LogsRun> {
  const child = spawnCli(["logs", ...args], server.env());
  let bytes = 0;
  let head: Buffer = Buffer.alloc(0);
  child.stdout?.on("data", (chunk: Buffer) => {
    if (bytes === 0) head = chunk.subarray(0, 16);
    bytes += chunk.length;
  });
  let stderr = "";
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  let code: number | null | undefined;
  child.once("close", (status) => (code = status));
  let peak = 0;
  while (code === undefined) {
    peak = Math.max(peak, await peakRss(child.pid ?? 0));
    await sleep(20);
  }
  assert.equal(code, 0, stderr);
  return { bytes, head, peak };
}

let server: CliServer;

before(async () => {
  server = await startCliServer();
});

after(async () => {
  await server.dispose();
});

describe("logs --tail", () => {
  it("finds the last line of 128 MiB without a newline in bounded memory", async () => {
    const size = 128 * MiB;
    // ftruncate on the job's stdout: "first\n", then a sparse run of zeros.
    const script = `$| = 1; print "first\\n"; truncate(STDOUT, ${size}) or die "$!"`;
    const started = await server.cli(["run", "-d", "--", "perl", "-e", script]);
    assert.equal(started.code, 0, started.stderr);
    const id = started.stdout.trim();
    const waited = await server.cli(["wait", id]);
    assert.equal(waited.code, 0, waited.stderr);

    const plain = await logs(server, ["--from", "6", id]);
    const tail = await logs(server, ["--tail", "1", id]);
    // The last line is everything after "first\n": the zeros.
    for (const run of [plain, tail]) {
      assert.deepEqual([run.bytes, run.head], [size - 6, Buffer.alloc(16)]);
    }
    const mib = (bytes: number): number => Math.round(bytes / MiB);
    console.log(
      `peak RSS writing ${mib(size)} MiB: ${mib(plain.peak)} MiB with --from, ` +
        `${mib(tail.peak)} MiB with --tail 1`,
    );
    assert.ok(tail.peak < plain.peak + 64 * MiB, `${mib(tail.peak)} MiB`);
  });
});
