/** Library errors become gRPC codes in one place (src/server/error-codes.ts). */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  INTERNAL_MESSAGE,
  MAX_MESSAGE_CHARS,
  toConnectError,
} from "../../../src/server/error-codes.ts";
import { silentLogger } from "../../../src/server/logger.ts";
import { keptLogger } from "../../helpers/kept-logger.ts";
import { JobError } from "../../../src/worker/index.ts";

describe("toConnectError", () => {
  it("maps every library error code in one place; anything else is a generic INTERNAL", () => {
    const logger = silentLogger();
    const expected: Record<string, Code> = {
      invalid_argument: Code.InvalidArgument,
      not_found: Code.NotFound,
      failed_precondition: Code.FailedPrecondition,
      resource_exhausted: Code.ResourceExhausted,
      permission_denied: Code.PermissionDenied,
    };
    for (const [code, grpc] of Object.entries(expected)) {
      const mapped = toConnectError(
        new JobError(code as JobError["code"], "it went wrong"),
        logger,
        "x",
      );
      assert.deepEqual([mapped.code, mapped.rawMessage], [grpc, "it went wrong"]);
    }
    for (const err of [
      new JobError("internal", "/var/lib/secret path"),
      new TypeError("x is undefined"),
      "boom",
    ]) {
      const mapped = toConnectError(err, logger, "x");
      assert.deepEqual([mapped.code, mapped.rawMessage], [Code.Internal, INTERNAL_MESSAGE]);
    }
  });

  it("logs what it hides from the client, and passes a ConnectError unchanged", () => {
    const { logger, lines } = keptLogger();
    toConnectError(new TypeError("x is undefined"), logger, "jobworker.v1.JobService/StartJob");
    assert.equal(lines.length, 1);
    assert.match(lines[0] ?? "", /"msg":"internal error"/);
    assert.match(lines[0] ?? "", /x is undefined/);
    const answer = new ConnectError("no such job", Code.NotFound);
    assert.equal(toConnectError(answer, logger, "x"), answer);
  });

  it("a call its client abandoned is CANCELED, logged at debug only", () => {
    const { logger, lines } = keptLogger();
    const aborted = AbortSignal.abort();
    const gone = Object.assign(new Error("Premature close"), {
      code: "ERR_STREAM_PREMATURE_CLOSE",
    });
    for (const [err, signal] of [
      [new Error("write ECANCELED"), aborted],
      [gone, undefined],
    ] as const) {
      const mapped = toConnectError(err, logger, "x", signal);
      assert.deepEqual(
        [mapped.code, mapped.rawMessage],
        [Code.Canceled, "the client closed the call"],
      );
    }
    assert.deepEqual(lines, []);
  });

  it("shortens a message too long for a header, keeping its code", () => {
    const long = `command ${"x".repeat(10 * MAX_MESSAGE_CHARS)} does not exist`;
    const mapped = toConnectError(new JobError("invalid_argument", long), silentLogger(), "x");
    assert.equal(mapped.code, Code.InvalidArgument);
    // About MAX_MESSAGE_CHARS: today one over, the note being 21 characters, not 20.
    assert.ok(mapped.rawMessage.length <= MAX_MESSAGE_CHARS + 1, `${mapped.rawMessage.length}`);
    assert.match(mapped.rawMessage, /^command x+… \(message shortened\)$/);
  });
});
