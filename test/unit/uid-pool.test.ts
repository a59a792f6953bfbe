import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UidPool } from "../../src/worker/uid-pool.ts";

describe("uid pool", () => {
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
