/** The per-user quota of streams and connections, alone. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UserQuota } from "../../../src/server/user-quota.ts";
import { isJobError } from "../../../src/worker/index.ts";

const alice = { user: "alice", role: "user" } as const;
const bob = { user: "bob", role: "user" } as const;

describe("UserQuota", () => {
  it("holds each user to its own cap and everyone to the ceiling", () => {
    const quota = new UserQuota("streams", (who) => (who.user === "alice" ? 2 : 10), 4);
    const first = quota.take(alice);
    quota.take(alice);
    assert.throws(
      () => quota.take(alice),
      (err) =>
        isJobError(err, "resource_exhausted") &&
        err.message === "alice has 2 streams open, the most allowed; close some first",
    );
    quota.take(bob);
    quota.take(bob);
    assert.throws(
      () => quota.take(bob),
      (err) =>
        isJobError(err, "resource_exhausted") &&
        err.message === "the server has 4 streams open, the most it allows; try again later",
    );
    first();
    first();
    assert.deepEqual([quota.heldBy("alice"), quota.heldBy("bob"), quota.total], [1, 2, 3]);
    quota.take(bob);
  });
});
