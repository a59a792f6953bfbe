/** Audit lines: the request's strings are clipped, so a line's size is the server's. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AUDIT_ARGS, AUDIT_STRING_CHARS, audit } from "../../../src/server/logger.ts";
import { keptLogger } from "../../helpers/kept-logger.ts";

describe("audit", () => {
  it("clips a huge job id, command, argument and detail, saying how long each was", () => {
    const { logger, lines } = keptLogger();
    const huge = "x".repeat(3 * 2 ** 20);
    const detail = `job ${huge} not found`;
    audit(logger, {
      action: "stop",
      who: { user: "mallory", role: "user" },
      command: huge,
      args: [huge, "short"],
      jobId: huge,
      result: "invalid_argument",
      detail,
    });
    assert.equal(lines.length, 1);
    const line = lines[0] ?? "";
    assert.ok(line.length < 8 * AUDIT_STRING_CHARS, `a line of ${line.length} characters`);
    const fields = JSON.parse(line) as Record<string, unknown>;
    const clippedId = `${"x".repeat(AUDIT_STRING_CHARS)}… (${huge.length} characters)`;
    assert.equal(fields["jobId"], clippedId);
    assert.equal(fields["command"], clippedId);
    assert.deepEqual(fields["args"], [clippedId, "short"]);
    assert.equal(
      fields["detail"],
      `job ${"x".repeat(AUDIT_STRING_CHARS - 4)}… (${detail.length} characters)`,
    );
    assert.equal(fields["user"], "mallory");
  });

  it("lists the first arguments and how many there were", () => {
    const { logger, lines } = keptLogger();
    const args = Array.from({ length: 30_000 }, (_, i) => String(i));
    audit(logger, { action: "start", who: { user: "bob", role: "user" }, args, result: "ok" });
    const fields = JSON.parse(lines[0] ?? "") as { args: string[] };
    assert.equal(fields.args.length, AUDIT_ARGS + 1);
    assert.deepEqual(fields.args.slice(0, 3), ["0", "1", "2"]);
    assert.equal(fields.args.at(-1), "… (30000 arguments)");
  });

  it("keeps ordinary requests whole", () => {
    const { logger, lines } = keptLogger();
    audit(logger, {
      action: "start",
      who: { user: "bob", role: "user" },
      command: "echo",
      args: ["hello", "world"],
      result: "ok",
      detail: "running",
    });
    const fields = JSON.parse(lines[0] ?? "") as Record<string, unknown>;
    assert.equal(fields["command"], "echo");
    assert.deepEqual(fields["args"], ["hello", "world"]);
    assert.equal(fields["detail"], "running");
  });
});
