import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { UidPool } from "../../../src/worker/uid-pool.ts";

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
