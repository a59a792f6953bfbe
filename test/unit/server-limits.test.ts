/**
 * The counting and rate-limiting pieces of the server's limits, alone: the
 * per-user quota, the log throttle and the source a handshake counts against.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { createLogger } from "../../src/server/index.ts";
import { sourceOf } from "../../src/server/handshake-guard.ts";
import { LogThrottle } from "../../src/server/log-throttle.ts";
import { UserQuota } from "../../src/server/user-quota.ts";
import { isJobError } from "../../src/worker/index.ts";

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

describe("LogThrottle", () => {
  it("writes a few lines per kind and period, then how many it suppressed", async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger({
      destination: {
        write(line: string) {
          lines.push(JSON.parse(line) as Record<string, unknown>);
        },
      },
    });
    const throttle = new LogThrottle(logger, { lines: 3, periodMs: 200 });
    for (let i = 0; i < 100; i++) throttle.warn({ i }, "refused");
    throttle.warn({}, "other");
    assert.deepEqual(
      lines.map((l) => [l["msg"], l["i"]]),
      [
        ["refused", 0],
        ["refused", 1],
        ["refused", 2],
        ["other", undefined],
      ],
    );
    await sleep(300);
    assert.deepEqual(lines.at(-1), {
      ...lines.at(-1),
      msg: "log lines suppressed",
      kind: "refused",
      suppressed: 97,
      periodMs: 200,
    });
    // A new period writes again; close() reports what its period suppressed.
    for (let i = 0; i < 5; i++) throttle.warn({ i }, "refused");
    throttle.close();
    throttle.close();
    assert.deepEqual(
      lines.slice(-4).map((l) => [l["msg"], l["suppressed"]]),
      [
        ["refused", undefined],
        ["refused", undefined],
        ["refused", undefined],
        ["log lines suppressed", 2],
      ],
    );
  });
});

describe("sourceOf", () => {
  it("counts IPv4 per address and IPv6 per /64", () => {
    assert.equal(sourceOf("127.0.0.2"), "127.0.0.2");
    assert.equal(sourceOf("::ffff:10.1.2.3"), "10.1.2.3");
    assert.equal(sourceOf("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
    assert.equal(sourceOf("2001:db8:1:2:bbbb:cccc:dddd:eeee"), "2001:db8:1:2::/64");
    assert.equal(sourceOf("2001:db8::5"), "2001:db8:0:0::/64");
    assert.equal(sourceOf("::1"), "0:0:0:0::/64");
    assert.equal(sourceOf("fe80::1%eth0"), "fe80:0:0:0::/64");
  });
});
