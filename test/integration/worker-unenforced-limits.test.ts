/**
 * A limit the host cannot enforce is never silently dropped. To get such a
 * host for real, a child process unmounts the blkio hierarchy in a private
 * mount namespace of its own (the host's mounts are untouched) and runs a
 * worker there: io limits then have no controller behind them.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { removeCgroupParent } from "../helpers/worker.ts";

const CGROUP_PARENT = `jobworker-test-unenforced-${process.pid}`;
const workerModule = new URL("../../src/worker/index.ts", import.meta.url).href;

/** Runs `body` (module code with `worker` opened) without blkio; returns its JSON output. */
async function withoutBlkio(stateDir: string, options: object, body: string): Promise<unknown> {
  const script = `
    import { Worker } from ${JSON.stringify(workerModule)};
    const worker = await Worker.open({ stateDir: ${JSON.stringify(stateDir)},
      cgroupParent: ${JSON.stringify(CGROUP_PARENT)}, ...${JSON.stringify(options)} });
    const result = {};
    try { ${body} } finally { await worker.close(); }
    console.log(JSON.stringify(result));
  `;
  const { stdout } = await promisify(execFile)("unshare", [
    "--mount",
    "--propagation",
    "private",
    "sh",
    "-c",
    'umount /sys/fs/cgroup/blkio && exec "$0" --input-type=module -e "$1"',
    process.execPath,
    script,
  ]);
  return JSON.parse(stdout);
}

describe("limits the host cannot enforce", () => {
  let stateDir: string;
  before(async () => {
    stateDir = await mkdtemp(join(tmpdir(), "jw-unenforced-"));
  });
  after(async () => {
    await rm(stateDir, { recursive: true, force: true });
    await removeCgroupParent(CGROUP_PARENT);
  });

  it("are refused with the reason by a strict worker", async () => {
    const result = await withoutBlkio(
      stateDir,
      { strictLimits: true },
      `result.unenforceable = worker.cgroupCapabilities.unenforceable;
       try {
         await worker.start({ command: "true", owner: "alice", limits: { ioWriteBytesPerSecond: 1048576 } });
       } catch (err) { result.code = err.code; result.message = err.message; }
       result.jobs = (await worker.list()).length;
       const plain = await worker.start({ command: "true", owner: "alice" });
       result.plain = (await worker.wait(plain.id)).state;`,
    );
    assert.deepEqual(result, {
      unenforceable: {
        ioReadBytesPerSecond: "the blkio controller is not mounted (cgroup v1)",
        ioWriteBytesPerSecond: "the blkio controller is not mounted (cgroup v1)",
        ioReadIopsPerSecond: "the blkio controller is not mounted (cgroup v1)",
        ioWriteIopsPerSecond: "the blkio controller is not mounted (cgroup v1)",
        ioWeight: "the blkio controller is not mounted (cgroup v1)",
      },
      code: "failed_precondition",
      message:
        "this host cannot enforce the disk write rate limit: the blkio controller is not mounted (cgroup v1)",
      jobs: 0,
      plain: "succeeded",
    });
  });

  it("run by default (as docker does), listed as not in force with the reason", async () => {
    const result = await withoutBlkio(
      stateDir,
      {},
      `const job = await worker.start({ command: "true", owner: "alice", limits: { ioWriteBytesPerSecond: 1048576 } });
       const ended = await worker.wait(job.id);
       result.state = ended.state;
       result.limits = ended.limits;
       result.notInForce = ended.limitsNotInForce;
       result.reasons = ended.limitsNotInForceReasons;`,
    );
    assert.deepEqual(result, {
      state: "succeeded",
      limits: {
        cpu: 1,
        memoryBytes: 1024 ** 3,
        ioWriteBytesPerSecond: 1048576,
        pids: 1024,
        diskBytes: 1024 ** 3,
      },
      notInForce: ["ioWriteBytesPerSecond"],
      reasons: { ioWriteBytesPerSecond: "the blkio controller is not mounted (cgroup v1)" },
    });
  });
});
