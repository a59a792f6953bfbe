/**
 * What a job leaves behind, and what a worker does about it: a scratch tree
 * deeper than any path (which crashed the v1 server, and kept it from
 * starting again), one that cannot be removed yet, and uids that must not
 * come back to a later job while a file of theirs remains, across restarts
 * and across servers.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { chown, lstat, mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { WorkerEvent } from "../../src/worker/index.ts";
import { collectOutput, openTestWorker } from "../helpers/worker.ts";

/** 60 levels of 200-character names: 12,000 bytes of path, 3 times PATH_MAX,
 * with a file, a symlink to / and a fifo on the way, and a folder nobody may enter. */
const DEEP_TREE = [
  "python3",
  "-c",
  `import os
for i in range(60):
    os.mkdir("d" * 200); os.chdir("d" * 200)
    open("f", "w").write("x"); os.symlink("/", "up")
os.mkfifo("pipe"); os.chmod(".", 0)
print("deep")`,
] as const;

async function until(what: string, check: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

async function gone(path: string): Promise<boolean> {
  return lstat(path).then(
    () => false,
    () => true,
  );
}

describe("cleaning up after jobs", () => {
  it("a scratch tree deeper than any path is removed when its job ends; the worker lives on", async () => {
    const t = await openTestWorker();
    try {
      const [command, ...args] = DEEP_TREE;
      const job = await t.worker.start({ command, args, owner: "mallory" });
      const ended = await t.worker.wait(job.id);
      assert.equal(ended.state, "succeeded", ended.reason);
      assert.equal((await collectOutput(t.worker.output(job.id))).toString(), "deep\n");
      assert.ok(await gone(job.cwd), "the scratch folder is gone");
      const next = await t.worker.start({ command: "true", owner: "bob" });
      assert.equal((await t.worker.wait(next.id)).state, "succeeded");
    } finally {
      await t.dispose();
    }
  });

  it("a leftover deep tree keeps no worker from opening, and is removed in the background", async () => {
    const t = await openTestWorker();
    try {
      // A server that died while the job ran: the tree is still there.
      const leftover = join(t.stateDir, "scratch", "left-by-a-crash");
      await mkdir(leftover, { mode: 0o700 });
      execFileSync(DEEP_TREE[0], DEEP_TREE.slice(1), { cwd: leftover });
      const began = Date.now();
      const again = await t.reopen();
      assert.ok(Date.now() - began < 5_000, "open did not wait for the removal");
      await until("the leftover to be removed", () => gone(leftover));
      const job = await again.start({ command: "true", owner: "bob" });
      assert.equal((await again.wait(job.id)).state, "succeeded");
    } finally {
      await t.dispose();
    }
  });

  it("a folder that cannot be removed yet is reported, retried, and its uid held until it is gone", async () => {
    const uidRange = { first: 1_500_000 + (process.pid % 1000) * 2, last: 0 };
    uidRange.last = uidRange.first + 1;
    const t = await openTestWorker({ uidRange });
    const problems: string[] = [];
    const onProblem = (message: unknown): void => {
      problems.push((message as WorkerEvent).error.message);
    };
    subscribe("jobworker:worker", onProblem);
    const leftover = join(t.stateDir, "scratch", "stuck");
    const stuck = join(leftover, "immutable");
    try {
      await mkdir(leftover, { mode: 0o700 });
      await writeFile(stuck, "x");
      await chown(leftover, uidRange.first, uidRange.first);
      // Not even root may remove an immutable file (until the flag is cleared).
      execFileSync("chattr", ["+i", stuck]);
      const again = await t.reopen();
      await until("the failure to be reported", () => Promise.resolve(problems.length > 0));
      assert.match(
        problems[0] ?? "",
        /^could not remove the scratch folder .*stuck \(trying again in 1 s; its uid stays reserved\): /,
      );
      // The range's other uid is the only one left.
      const job = await again.start({ command: "sleep", args: ["5"], owner: "bob" });
      assert.equal(job.uid, uidRange.last);
      const refused = await again
        .start({ command: "true", owner: "bob" })
        .catch((err: unknown) => err);
      assert.match(String(refused), /no free job uid left/);
      await again.stop(job.id, { graceMs: 0 });
      execFileSync("chattr", ["-i", stuck]);
      await until("the retry to remove it", () => gone(leftover));
      const later = await again.start({ command: "true", owner: "bob" });
      assert.equal((await again.wait(later.id)).state, "succeeded");
    } finally {
      unsubscribe("jobworker:worker", onProblem);
      if (!(await gone(stuck))) execFileSync("chattr", ["-i", stuck]);
      await t.dispose();
    }
  });
});

describe("job uids", () => {
  it("a restarted worker goes on where the last one left off, so files of a uid are never handed on", async () => {
    const t = await openTestWorker();
    try {
      const uids: number[] = [];
      for (let i = 0; i < 3; i++) {
        const job = await t.worker.start({ command: "true", owner: "alice" });
        uids.push((await t.worker.wait(job.id)).uid ?? 0);
      }
      await t.worker.close();
      const again = await t.reopen();
      const job = await again.start({ command: "true", owner: "bob" });
      const uid = (await again.wait(job.id)).uid ?? 0;
      assert.ok(!uids.includes(uid), `bob got ${uid}, one of alice's ${uids.join(", ")}`);
      assert.equal(uid, Math.max(...uids) + 1);
    } finally {
      await t.dispose();
    }
  });

  it("a second server on the host may not use an overlapping uid range", async () => {
    const first = await openTestWorker();
    try {
      const range = { first: first.uidRange.first + 500, last: first.uidRange.last + 500 };
      await assert.rejects(openTestWorker({ uidRange: range }), {
        code: "failed_precondition",
        message:
          /overlaps .* which the jobworker server pid \d+ \(state directory .*\) uses: give each server on a host its own range$/,
      });
      const records = await readdir("/var/lib/jobworker-uid-ranges");
      assert.ok(records.some((name) => name.startsWith(`${first.uidRange.first}-`)));
    } finally {
      await first.dispose();
    }
    const records = await readdir("/var/lib/jobworker-uid-ranges");
    assert.ok(
      !records.some((name) => name.startsWith(`${first.uidRange.first}-`)),
      "a clean close with nothing left behind removes the record",
    );
  });
});
