import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, rm, chown } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { UidPool } from "../../src/worker/uid-pool.ts";
import { claimUidRange } from "../../src/worker/uid-range-registry.ts";

describe("uid pool", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "jw-uids-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("hands out distinct ids and reuses a released one last", async () => {
    const pool = await UidPool.open({ first: 700000, last: 700002 });
    const a = pool.acquire();
    const b = pool.acquire();
    assert.notEqual(a, b);
    pool.release(a);
    assert.equal(pool.acquire(), 700002, "the never-used id comes before the released one");
    assert.equal(pool.acquire(), a);
    assert.throws(() => pool.acquire(), { code: "resource_exhausted", message: /no free job uid/ });
  });

  it("picks up where the last pool on the same state file left off", async () => {
    const file = join(dir, "uid-pool.json");
    const first = await UidPool.open({ first: 700000, last: 700009 }, file);
    assert.deepEqual([first.acquire(), first.acquire(), first.acquire()], [700000, 700001, 700002]);
    await first.flush();
    // A restart: the next id is not the range's first one again.
    const second = await UidPool.open({ first: 700000, last: 700009 }, file);
    assert.equal(second.acquire(), 700003);
  });

  it("never hands out a held id", async () => {
    const pool = await UidPool.open({ first: 700000, last: 700001 });
    pool.hold(700000);
    assert.equal(pool.acquire(), 700001);
    assert.throws(() => pool.acquire(), { code: "resource_exhausted" });
  });

  it("never hands out an id that /etc/passwd or /etc/group uses", async () => {
    // nobody/nogroup is 65534 on Debian; a range around it must skip it.
    const pool = await UidPool.open({ first: 65534, last: 65535 });
    assert.equal(pool.acquire(), 65535);
    assert.throws(() => pool.acquire(), { code: "resource_exhausted" });
  });

  it("refuses a range that could reach system accounts", async () => {
    await assert.rejects(UidPool.open({ first: 0, last: 10 }), { code: "invalid_argument" });
    await assert.rejects(UidPool.open({ first: 5000, last: 4000 }), { code: "invalid_argument" });
  });
});

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

  it("holds the ids a stopped server's leftover files own; forgets a stale record", async () => {
    const stopped = join(states, "stopped");
    await mkdir(join(stopped, "scratch", "job-1"), { recursive: true });
    await chown(join(stopped, "scratch", "job-1"), 900042, 900042);
    // A record as a server that died leaves it: a pid that is not running.
    const { writeFile } = await import("node:fs/promises");
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
