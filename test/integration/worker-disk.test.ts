/**
 * A job's disk: its output counted by what it takes on disk as well as by
 * its size, its scratch folder measured against its disk limit, no file
 * larger than that limit, and nothing it reserved kept after it ends.
 * Against the v1 code: 3 GiB reserved behind a 23-byte output, a 10 TiB
 * sparse output followers read zeros from without end, and a scratch folder
 * that could fill the state disk.
 */
import assert from "node:assert/strict";
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { collectOutput, openTestWorker, type TestWorker } from "../helpers/worker.ts";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** Raw system calls on the job's stdout (python3 ignores SIGXFSZ, so EFBIG is an error). */
function python(body: string): { command: string; args: string[] } {
  const prelude = "import ctypes, os, sys\nlibc = ctypes.CDLL(None, use_errno=True)\n";
  return { command: "python3", args: ["-c", prelude + body] };
}

describe("disk limits", () => {
  let t: TestWorker;
  before(async () => {
    t = await openTestWorker({ outputCapBytes: 64 * MiB });
  });
  after(async () => {
    await t.dispose();
  });

  it("space reserved behind the output (fallocate KEEP_SIZE) counts, and is given back", async () => {
    const job = await t.worker.start({
      owner: "mallory",
      ...python(
        `print("reserving", flush=True)
r = libc.fallocate(1, 1, ctypes.c_long(0), ctypes.c_long(3 << 30))  # FALLOC_FL_KEEP_SIZE
print("fallocate", r, os.strerror(ctypes.get_errno()) if r else "ok", flush=True)
import time; time.sleep(30)`,
      ),
    });
    const ended = await t.worker.wait(job.id);
    assert.equal(ended.state, "failed");
    assert.match(ended.reason, /^output exceeded the cap of 64 MiB: killed with SIGKILL/);
    const output = join(t.stateDir, "jobs", job.id, "output");
    const info = await stat(output);
    assert.ok(info.size < 100, `output is ${info.size} bytes`);
    assert.ok(info.blocks * 512 <= 64 * 1024, `${info.blocks * 512} bytes still allocated`);
  });

  it("over both, the lower limit is the one named (a disk limit below the output cap)", async () => {
    const job = await t.worker.start({
      owner: "mallory",
      limits: { diskBytes: 16 * MiB },
      ...python(
        `libc.fallocate(1, 1, ctypes.c_long(0), ctypes.c_long(1 << 30))
import time; time.sleep(30)`,
      ),
    });
    const ended = await t.worker.wait(job.id);
    assert.match(ended.reason, /^exceeded its disk limit of 16 MiB \(output 1 GiB, /);
    assert.equal(ended.endCause, "disk-limit");
  });

  it("a sparse output cannot grow past the disk limit (RLIMIT_FSIZE)", async () => {
    const job = await t.worker.start({
      owner: "mallory",
      limits: { diskBytes: 32 * MiB },
      ...python(
        `r = libc.ftruncate(1, ctypes.c_long(10 << 40))
print("ftruncate", r, os.strerror(ctypes.get_errno()) if r else "ok", flush=True)`,
      ),
    });
    const ended = await t.worker.wait(job.id);
    const text = (await collectOutput(t.worker.output(job.id))).toString();
    assert.equal(text, "ftruncate -1 File too large\n");
    assert.equal(ended.outputBytes, text.length, "no 10 TiB of zeros to stream");
  });

  it("a file that grows to the limit ends the job with SIGXFSZ and says why", async () => {
    const job = await t.worker.start({
      owner: "mallory",
      limits: { diskBytes: 4 * MiB },
      command: "dd",
      args: ["if=/dev/zero", "of=big", "bs=1M", "count=8"],
    });
    const ended = await t.worker.wait(job.id);
    assert.equal(ended.state, "failed");
    assert.equal(ended.reason, "a file grew to its disk limit of 4 MiB: killed by SIGXFSZ");
  });

  it("a scratch folder over the disk limit stops the job with the figures", async () => {
    const job = await t.worker.start({
      owner: "mallory",
      limits: { diskBytes: 16 * MiB },
      command: "sh",
      args: ["-c", "for i in $(seq 64); do head -c 1M /dev/urandom > f$i; done; sleep 30"],
    });
    const ended = await t.worker.wait(job.id);
    assert.equal(ended.state, "failed");
    assert.match(
      ended.reason,
      /^exceeded its disk limit of 16 MiB \(output \d+ bytes, scratch folder \d+(\.\d)? MiB\): killed with SIGKILL \(no grace period\)$/,
    );
    assert.ok(ended.usage.diskBytes > 16 * MiB, `usage says ${ended.usage.diskBytes}`);
    await assert.rejects(stat(job.cwd), { code: "ENOENT" }, "and its folder is gone");
  });

  it("empty files are not free: each counts as a 4 KiB block", async () => {
    const job = await t.worker.start({
      owner: "mallory",
      limits: { diskBytes: 8 * MiB },
      ...python(`for i in range(4000): open(f"e{i}", "w").close()
import time; time.sleep(30)`),
    });
    const ended = await t.worker.wait(job.id);
    assert.equal(ended.state, "failed");
    assert.match(ended.reason, /^exceeded its disk limit of 8 MiB/);
  });

  it("the default disk limit is 1 GiB, and one larger than the state disk is refused", async () => {
    const job = await t.worker.start({ owner: "alice", command: "true" });
    assert.equal(job.limits.diskBytes, GiB);
    await assert.rejects(
      t.worker.start({ owner: "alice", command: "true", limits: { diskBytes: 2 ** 52 } }),
      {
        code: "permission_denied",
        message: /^the disk limit of 4096 TiB is above the ceiling of .* for this server$/,
      },
    );
  });
});
