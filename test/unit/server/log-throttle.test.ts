/** The log throttle that keeps a flood of refusals to a few lines. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { LogThrottle } from "../../../src/server/log-throttle.ts";
import { keptLogger } from "../../helpers/kept-logger.ts";

describe("LogThrottle", () => {
  it("writes a few lines per kind and period, then how many it suppressed", async () => {
    const { logger, lines } = keptLogger();
    const parsed = (): Record<string, unknown>[] =>
      lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const throttle = new LogThrottle(logger, { lines: 3, periodMs: 200 });
    for (let i = 0; i < 100; i++) throttle.warn({ i }, "refused");
    throttle.warn({}, "other");
    assert.deepEqual(
      parsed().map((l) => [l["msg"], l["i"]]),
      [
        ["refused", 0],
        ["refused", 1],
        ["refused", 2],
        ["other", undefined],
      ],
    );
    await sleep(300);
    assert.deepEqual(parsed().at(-1), {
      ...parsed().at(-1),
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
      parsed()
        .slice(-4)
        .map((l) => [l["msg"], l["suppressed"]]),
      [
        ["refused", undefined],
        ["refused", undefined],
        ["refused", undefined],
        ["log lines suppressed", 2],
      ],
    );
  });
});
