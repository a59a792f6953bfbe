/**
 * The uid range registry with leftover files owned by job uids: making them
 * takes chown, so root.
 */
import assert from "node:assert/strict";
import { chown, mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { claimUidRange } from "../../src/worker/uid-range-registry.ts";

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

  it("holds the ids a stopped server's leftover files own; forgets a stale record", async () => {
    const stopped = join(states, "stopped");
    await mkdir(join(stopped, "scratch", "job-1"), { recursive: true });
    await chown(join(stopped, "scratch", "job-1"), 900042, 900042);
    // A record as a server that died leaves it: a pid that is not running.
    const record = {
      first: 900000,
      last: 900999,
      stateDir: stopped,
      pid: 2 ** 22 + 7,
      started: "1",
    };
    const name = `900000-900999-${Buffer.from(stopped).toString("base64url")}.json`;
    await writeFile(join(registry, name), JSON.stringify(record));
    const claim = await claimUidRange(
      { first: 900000, last: 900999 },
      join(states, "new"),
      registry,
    );
    assert.deepEqual(claim.heldForOthers, [900042]);
    await claim.release();
    // Once the leftover is gone, the dead server's record goes too.
    await rm(join(stopped, "scratch", "job-1"), { recursive: true });
    const later = await claimUidRange(
      { first: 900000, last: 900999 },
      join(states, "new"),
      registry,
    );
    assert.deepEqual(later.heldForOthers, []);
    await later.release();
    assert.deepEqual(await readdir(registry), []);
  });
});
