/**
 * The client's response reader (src/client/read-to-end.ts) on a real HTTP/2
 * connection over loopback: a response whose stream has closed with its
 * bytes still buffered is read whole (Node 24.20-24.21's own async iterator
 * throws "Premature close" there, nodejs/node#65677), and a stream that
 * breaks before its end is still an error.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { connect, createServer, type ClientHttp2Session, type Http2Server } from "node:http2";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { readToEnd } from "../../src/client/read-to-end.ts";

describe("reading a response to its end", () => {
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
    session = connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  });
  after(() => {
    session.close();
    server.close();
  });

  it("reads every byte of a stream that closed before it was read", async () => {
    for (let i = 0; i < 50; i++) {
      const request = session.request({ ":method": "POST", ":path": "/" });
      request.end("x");
      await once(request, "trailers");
      await sleep(5);
      assert.equal(request.closed, true, "the stream closed with its body still buffered");
      const chunks: Buffer[] = [];
      for await (const chunk of readToEnd(request)) chunks.push(chunk);
      assert.equal(Buffer.concat(chunks).toString(), "complete response");
    }
  });

  it("fails a stream that breaks before its end, after the bytes that came", async () => {
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
