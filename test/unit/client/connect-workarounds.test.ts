/**
 * The client's workarounds (src/client/connect-workarounds.ts), each against
 * the real connect-node and Node on loopback HTTP/2: one test pins the
 * behaviour worked around (it fails once an upgrade changes it: time to
 * remove the workaround), another that the workaround does its job.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import {
  connect,
  constants,
  createSecureServer,
  createServer,
  type ClientHttp2Session,
  type Http2SecureServer,
  type Http2Server,
} from "node:http2";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { JobService } from "../../../src/gen/jobworker/v1/jobworker_pb.js";
import { createJobClient } from "../../../src/client/index.ts";
import { classify } from "../../../src/client/classify.ts";
import {
  readToEnd,
  reportsBrokenConnection,
  streamResetCode,
} from "../../../src/client/connect-workarounds.ts";
import { createCa, issueClientCert, issueServerCert } from "../../../src/pki/index.ts";

function portOf(server: Http2Server | Http2SecureServer): number {
  return (server.address() as AddressInfo).port;
}

describe("1. reading a response to its end (nodejs/node#65677)", () => {
  let server: Http2Server;
  let session: ClientHttp2Session;
  before(async () => {
    server = createServer();
    server.on("stream", (stream, headers) => {
      // (The client's destroy below resets the stream; that is expected.)
      stream.on("error", () => undefined);
      stream.resume();
      stream.on("end", () => {
        if (headers[":path"] === "/cut") {
          stream.respond({ ":status": 200 });
          stream.write("half of it");
          return;
        }
        // A gRPC-shaped answer: headers, a message, trailers.
        stream.respond({ ":status": 200 }, { waitForTrailers: true });
        stream.on("wantTrailers", () => {
          stream.sendTrailers({ "grpc-status": "0" });
        });
        stream.end("complete response");
      });
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    session = connect(`http://127.0.0.1:${portOf(server)}`);
  });
  after(() => {
    session.close();
    server.close();
  });

  /** A response whose stream has closed with its whole body still buffered. */
  async function closedResponse() {
    const request = session.request({ ":method": "POST", ":path": "/" });
    request.end("x");
    await once(request, "trailers");
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(request.closed, true, "the stream closed with its body still buffered");
    return request;
  }

  it("Node's own iteration still fails such a response (remove the workaround when this fails)", async () => {
    const request = await closedResponse();
    await assert.rejects(
      (async () => {
        for await (const chunk of request) assert.ok(chunk);
      })(),
      { code: "ERR_STREAM_PREMATURE_CLOSE" },
    );
  });

  it("readToEnd reads every byte of a stream that closed before it was read", async () => {
    for (let i = 0; i < 20; i++) {
      const request = await closedResponse();
      const chunks: Buffer[] = [];
      for await (const chunk of readToEnd(request)) chunks.push(chunk);
      assert.equal(Buffer.concat(chunks).toString(), "complete response");
    }
  });

  it("readToEnd fails a stream that breaks before its end, after the bytes that came", async () => {
    const request = session.request({ ":method": "POST", ":path": "/cut" });
    // connect-node, the reader's user, listens for stream errors too.
    request.on("error", () => undefined);
    request.end("x");
    const chunks: Buffer[] = [];
    await assert.rejects(
      (async () => {
        for await (const chunk of readToEnd(request)) {
          chunks.push(chunk);
          request.destroy(Object.assign(new Error("the line went dead"), { code: "ECUT" }));
        }
      })(),
      { code: "ECUT" },
    );
    assert.equal(Buffer.concat(chunks).toString(), "half of it");
  });
});

describe("2. the HTTP/2 code of a reset stream, from the message", () => {
  it("connect-node keeps a CANCEL reset only in its message (remove the parsing when this fails)", async () => {
    const server = createServer((_request, response) => {
      response.stream.close(constants.NGHTTP2_CANCEL);
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const transport = createGrpcTransport({ baseUrl: `http://127.0.0.1:${portOf(server)}` });
    try {
      const err = await createClient(JobService, transport)
        .getJob({ id: "x" })
        .then(
          () => assert.fail("the call succeeded"),
          (e: unknown) => ConnectError.from(e),
        );
      assert.deepEqual(
        [err.code, err.rawMessage, err.cause],
        [Code.Canceled, "http/2 stream closed with error code CANCEL (0x8)", undefined],
      );
      assert.equal(streamResetCode(err), "CANCEL");
      assert.equal(classify(err).kind, "stream-cancelled");
    } finally {
      server.close();
    }
  });

  it("is how a TLS 1.3 server's refusal of the client certificate arrives", async () => {
    const ca = await createCa();
    const otherCa = await createCa();
    const serverCert = await issueServerCert(ca, { names: ["127.0.0.1"] });
    const foreign = await issueClientCert(otherCa, { user: "mallory", role: "user" });
    const server = createSecureServer({
      key: serverCert.keyPem,
      cert: serverCert.certPem,
      ca: ca.certPem,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: "TLSv1.3",
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const client = createJobClient({
      server: `127.0.0.1:${portOf(server)}`,
      caPem: ca.certPem,
      certPem: foreign.certPem,
      keyPem: foreign.keyPem,
    });
    try {
      const err = await client.listJobs({}).then(
        () => assert.fail("the call succeeded"),
        (e: unknown) => ConnectError.from(e),
      );
      assert.deepEqual([err.code, streamResetCode(err)], [Code.Canceled, "CANCEL"]);
    } finally {
      client.close();
      server.close();
    }
  });

  it("reads no code from any other message", () => {
    for (const message of ["stream closed with error code CANCEL", "connect ECONNREFUSED", ""]) {
      assert.equal(streamResetCode(new ConnectError(message, Code.Canceled)), undefined, message);
    }
    const reset = new ConnectError(
      "http/2 stream closed with error code PROTOCOL_ERROR (0x1)",
      Code.Internal,
    );
    assert.equal(streamResetCode(reset), "PROTOCOL_ERROR");
  });
});

describe("3. a broken connection reported in a peer's UNAVAILABLE message", () => {
  it("names a TLS alert or a hang-up, in any case", () => {
    for (const message of [
      "upstream TLS error: SSLV3_ALERT_CERTIFICATE_EXPIRED",
      "tlsv13 alert certificate required",
      "Socket hang up",
    ]) {
      assert.equal(reportsBrokenConnection(new ConnectError(message, Code.Unavailable)), true);
    }
    assert.equal(
      reportsBrokenConnection(new ConnectError("the server is shutting down", Code.Unavailable)),
      false,
    );
  });
});
