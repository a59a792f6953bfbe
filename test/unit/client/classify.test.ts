/** Every failure a call can end with, named once (src/client/classify.ts). */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { JobService } from "../../../src/gen/jobworker/v1/jobworker_pb.js";
import { classify, type FailureKind } from "../../../src/client/classify.ts";

/** An error as connect-node makes it from a Node error with `code`. */
const fromNode = (code: string, grpc = Code.Internal, message = code): ConnectError =>
  new ConnectError(
    message,
    grpc,
    undefined,
    undefined,
    Object.assign(new Error(message), { code }),
  );

describe("classify", () => {
  it("names each failure the CLI tells apart", () => {
    const cases: [unknown, FailureKind][] = [
      [
        new ConnectError("the client certificate has been revoked", Code.Unauthenticated),
        "refused-certificate",
      ],
      [
        new ConnectError("http/2 stream closed with error code CANCEL (0x8)", Code.Canceled),
        "stream-cancelled",
      ],
      [fromNode("ECONNRESET", Code.Aborted), "connection-reset"],
      [
        new ConnectError("upstream: tlsv13 alert certificate required", Code.Unavailable),
        "connection-reset",
      ],
      [new ConnectError("socket hang up", Code.Unavailable), "connection-reset"],
      [fromNode("SELF_SIGNED_CERT_IN_CHAIN"), "untrusted-server"],
      [fromNode("UNABLE_TO_VERIFY_LEAF_SIGNATURE"), "untrusted-server"],
      [fromNode("CERT_HAS_EXPIRED"), "expired-server-certificate"],
      [fromNode("ERR_TLS_CERT_ALTNAME_INVALID"), "wrong-server-name"],
      [new ConnectError("job 1234 not found", Code.NotFound), "not-found"],
      [new ConnectError("not yours", Code.PermissionDenied), "permission-denied"],
      [new ConnectError("the server is shutting down", Code.Unavailable), "outage"],
      [new ConnectError("PING timed out", Code.DeadlineExceeded), "deadline"],
      [fromNode("EPIPE"), "connection-lost"],
      [fromNode("ERR_HTTP2_GOAWAY_SESSION"), "connection-lost"],
      [
        fromNode(
          "ERR_HTTP2_STREAM_ERROR",
          Code.Internal,
          "Stream closed with error code NGHTTP2_REFUSED_STREAM",
        ),
        "connection-lost",
      ],
      [new ConnectError("the command is empty", Code.InvalidArgument), "other"],
      [new ConnectError("This operation was aborted", Code.Canceled), "other"],
      [new Error("a bug"), "other"],
      ["not even an error", "other"],
    ];
    for (const [err, kind] of cases) {
      assert.equal(classify(err).kind, kind, err instanceof Error ? err.message : String(err));
    }
  });

  it("names the Node error behind an unreachable server", () => {
    for (const code of [
      "ECONNREFUSED",
      "ENOTFOUND",
      "EAI_AGAIN",
      "EHOSTUNREACH",
      "ENETUNREACH",
      "ETIMEDOUT",
    ]) {
      assert.deepEqual(classify(fromNode(code, Code.Unavailable)), {
        kind: "unreachable",
        cause: code,
      });
    }
  });

  it("finds the cause connect-node keeps for a refused connection", async () => {
    // Port 1 on loopback: nothing listens there.
    const client = createClient(JobService, createGrpcTransport({ baseUrl: "http://127.0.0.1:1" }));
    const err: unknown = await client.getJob({ id: "x" }).then(
      () => assert.fail("the call succeeded"),
      (e: unknown) => e,
    );
    assert.deepEqual(classify(err), { kind: "unreachable", cause: "ECONNREFUSED" });
  });
});
