/**
 * End to end: `jobworker serve` runs with its soft open-file limit at the
 * hard limit even when started from a shell with a low soft limit (1024 is
 * a common default), so the descriptors its stream ceiling is derived from
 * are all there. Node raises the limit itself at startup (open-file-limit.ts).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { startCliServer, type CliServer } from "./cli-harness.ts";

function openFiles(limits: string): { soft: number; hard: number } {
  const [, soft, hard] = /^Max open files\s+(\d+)\s+(\d+)/m.exec(limits) ?? [];
  return { soft: Number(soft), hard: Number(hard) };
}

let server: CliServer;

before(async () => {
  server = await startCliServer({ softOpenFileLimit: 1024 });
});

after(async () => {
  await server.dispose();
});

describe("serve's open-file limit", () => {
  it("is raised to the hard limit from a shell at ulimit -Sn 1024", async () => {
    const shell = await promisify(execFile)("sh", [
      "-c",
      "ulimit -Sn 1024 && cat /proc/self/limits",
    ]);
    const hard = openFiles(await readFile("/proc/self/limits", "utf8")).hard;
    assert.deepEqual(openFiles(shell.stdout), { soft: 1024, hard });
    const served = openFiles(await readFile(`/proc/${server.process.pid}/limits`, "utf8"));
    assert.deepEqual(served, { soft: hard, hard });
  });
});
