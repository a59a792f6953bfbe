/** The registry that keeps servers on one host to disjoint job uid ranges (no root needed). */
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { claimUidRange } from "../../../src/worker/uid-range-registry.ts";

describe("uid range registry", () => {
  let registry: string;
  let states: string;
  before(async () => {
    registry = await mkdtemp(join(tmpdir(), "jw-registry-"));
    states = await mkdtemp(join(tmpdir(), "jw-states-"));
  });
  after(async () => {
    await rm(registry, { recursive: true, force: true });
    await rm(states, { recursive: true, force: true });
  });

  it("refuses a range that overlaps a running server's, and lets the same state directory restart", async () => {
    const a = await claimUidRange({ first: 800000, last: 800999 }, join(states, "a"), registry);
    await assert.rejects(
      claimUidRange({ first: 800500, last: 801499 }, join(states, "b"), registry),
      {
        code: "failed_precondition",
        message: new RegExp(
          `^the job uid range 800500-801499 overlaps 800000-800999, which the jobworker server pid ${process.pid} \\(state directory .*/a\\) uses`,
        ),
      },
    );
    const again = await claimUidRange({ first: 800000, last: 800999 }, join(states, "a"), registry);
    const disjoint = await claimUidRange(
      { first: 801000, last: 801999 },
      join(states, "c"),
      registry,
    );
    await again.release();
    await a.release();
    await disjoint.release();
    assert.deepEqual(await readdir(registry), []);
  });
});
