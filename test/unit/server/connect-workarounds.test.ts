/**
 * The server's workarounds (src/server/connect-workarounds.ts), each
 * against the real connect-node and Node on loopback HTTP/2 (cleartext): one
 * test pins the behaviour worked around, as connect's own Node adapter
 * shows it (it fails once an upgrade changes it: time to remove the
 * workaround), another that our handler (grpc-handler.ts) does better.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import {
  connect,
  createServer,
  type ClientHttp2Session,
  type Http2Server,
  type Http2ServerResponse,
  type IncomingHttpHeaders,
} from "node:http2";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Code, ConnectError, createContextValues, type ConnectRouter } from "@connectrpc/connect";
import { createAsyncIterable } from "@connectrpc/connect/protocol";
import {
  compressionGzip,
  connectNodeAdapter,
  universalResponseToNodeResponse,
} from "@connectrpc/connect-node";
import { JobService } from "../../../src/gen/jobworker/v1/jobworker_pb.js";
import { unblockWritesOnClose, type NodeHandler } from "../../../src/server/connect-workarounds.ts";
import { createGrpcHandler } from "../../../src/server/grpc-handler.ts";
import { silentLogger } from "../../../src/server/logger.ts";

const GET_JOB = "/jobworker.v1.JobService/GetJob";
const READ_MAX_BYTES = 1024;

function routes(router: ConnectRouter): void {
  router.service(JobService, {
    getJob: () => ({}),
  });
}

const ROUTER_OPTIONS = {
  grpc: true,
  grpcWeb: false,
  connect: false,
  acceptCompression: [compressionGzip],
  readMaxBytes: READ_MAX_BYTES,
};

/** connect as it comes: its own Node adapter. */
const connectAlone = (): NodeHandler => connectNodeAdapter({ ...ROUTER_OPTIONS, routes });

/** Our handler, the workarounds applied; `refusal` answers every call before routing. */
function ours(refusal?: ConnectError): NodeHandler {
  return createGrpcHandler({
    ...ROUTER_OPTIONS,
    routes,
    contextValues: () => createContextValues(),
    admit: () => refusal ?? new AbortController().signal,
    logger: silentLogger(),
  });
}

/** Runs `test` against `handler` on a cleartext HTTP/2 server on loopback. */
async function serving(
  handler: NodeHandler,
  test: (session: ClientHttp2Session) => Promise<void>,
): Promise<void> {
  const server: Http2Server = createServer(handler);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const session = connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  try {
    await test(session);
  } finally {
    session.destroy();
    server.close();
  }
}

/** A gRPC message frame: compressed flag, length, bytes. */
function envelope(payload: Uint8Array, compressed = false): Buffer {
  const frame = Buffer.alloc(5 + payload.byteLength);
  frame[0] = compressed ? 1 : 0;
  frame.writeUInt32BE(payload.byteLength, 1);
  frame.set(payload, 5);
  return frame;
}

interface Answer {
  httpStatus: number | undefined;
  grpcStatus: string | undefined;
  grpcMessage: string;
  /** Whether the client's stream closed within a moment of the answer. */
  closed: boolean;
}

/**
 * Sends `body` to `path` (ending the request unless `stillSending`) and
 * reads the answer, from the trailers or a trailers-only response.
 */
async function call(
  session: ClientHttp2Session,
  path: string,
  body: Buffer,
  options: { headers?: Record<string, string>; stillSending?: boolean } = {},
): Promise<Answer> {
  const request = session.request({
    ":method": "POST",
    ":path": path,
    "content-type": "application/grpc",
    te: "trailers",
    ...options.headers,
  });
  request.on("error", () => undefined);
  let last: IncomingHttpHeaders = {};
  let httpStatus: number | undefined;
  request.on("response", (headers) => {
    httpStatus = headers[":status"];
    last = headers;
  });
  request.on("trailers", (trailers: IncomingHttpHeaders) => {
    last = trailers;
  });
  request.resume();
  if (options.stillSending === true) request.write(body);
  else request.end(body);
  await Promise.race([once(request, "end"), sleep(1000)]);
  // A reset follows the answer within a tick or two.
  await sleep(50);
  const status = last["grpc-status"];
  const message = last["grpc-message"];
  return {
    httpStatus,
    grpcStatus: typeof status === "string" ? status : undefined,
    grpcMessage: decodeURIComponent(typeof message === "string" ? message : ""),
    closed: request.closed,
  };
}

/** A GetJobRequest that is not protobuf: field 1 with wire type 7. */
const NOT_PROTOBUF = envelope(new Uint8Array([0x0f]));
/** A message flagged compressed, sent without saying how. */
const COMPRESSED_UNSAID = envelope(new Uint8Array([1, 2, 3]), true);
/** A message flagged gzip that is not gzip. */
const NOT_GZIP = envelope(new Uint8Array([1, 2, 3]), true);
/** The length prefix of a message far over READ_MAX_BYTES, its bytes still to come. */
const TOO_LONG_PREFIX = Buffer.from([0, 0, 0x10, 0, 0]);

describe("1. undecodable requests are INVALID_ARGUMENT", () => {
  it("connect answers them INTERNAL, with the messages matched (remove the rewrite when this fails)", async () => {
    await serving(connectAlone(), async (session) => {
      const parse = await call(session, GET_JOB, NOT_PROTOBUF);
      assert.deepEqual(
        [parse.grpcStatus, parse.grpcMessage],
        ["13", "parse binary: illegal tag: field no 1 wire type 7"],
      );
      const compressed = await call(session, GET_JOB, COMPRESSED_UNSAID);
      assert.deepEqual(
        [compressed.grpcStatus, compressed.grpcMessage],
        ["13", "received compressed envelope, but do not know how to decompress"],
      );
      // Already the caller's mistake in connect's own words: not rewritten.
      const gzip = await call(session, GET_JOB, NOT_GZIP, { headers: { "grpc-encoding": "gzip" } });
      assert.deepEqual([gzip.grpcStatus, gzip.grpcMessage], ["3", "decompression failed"]);
    });
  });

  it("our handler answers them INVALID_ARGUMENT, saying what could not be decoded", async () => {
    await serving(ours(), async (session) => {
      const parse = await call(session, GET_JOB, NOT_PROTOBUF);
      assert.deepEqual(
        [parse.grpcStatus, parse.grpcMessage],
        ["3", "the request message could not be decoded: illegal tag: field no 1 wire type 7"],
      );
      const compressed = await call(session, GET_JOB, COMPRESSED_UNSAID);
      assert.deepEqual(
        [compressed.grpcStatus, compressed.grpcMessage],
        [
          "3",
          "the request message could not be decoded: received compressed envelope, but do not know how to decompress",
        ],
      );
      const fine = await call(session, GET_JOB, envelope(new Uint8Array()));
      assert.equal(fine.grpcStatus, "0");
    });
  });
});

describe("2. a refusal sent while the client is still sending ends its stream", () => {
  it("connect and Node leave the client's half open (remove the reset when this fails)", async () => {
    await serving(connectAlone(), async (session) => {
      const answer = await call(session, GET_JOB, TOO_LONG_PREFIX, { stillSending: true });
      assert.equal(answer.grpcStatus, String(Code.ResourceExhausted));
      assert.equal(answer.closed, false);
    });
  });

  it("our handler resets the stream after the refusal", async () => {
    await serving(ours(), async (session) => {
      const answer = await call(session, GET_JOB, TOO_LONG_PREFIX, { stillSending: true });
      assert.deepEqual([answer.grpcStatus, answer.closed], [String(Code.ResourceExhausted), true]);
    });
  });

  it("and after a refusal before routing", async () => {
    const overCap = new ConnectError("too many connections", Code.ResourceExhausted);
    await serving(ours(overCap), async (session) => {
      const answer = await call(session, GET_JOB, TOO_LONG_PREFIX, { stillSending: true });
      assert.deepEqual(
        [answer.grpcStatus, answer.grpcMessage, answer.closed],
        [String(Code.ResourceExhausted), "too many connections", true],
      );
    });
  });
});

/**
 * A response whose stream takes a write and never finishes it, as an HTTP/2
 * stream under flow control does, with the methods connect-node calls.
 */
class StalledResponse extends Writable {
  headersSent = false;
  constructor() {
    super({ highWaterMark: 1 });
  }
  override _write(): void {
    // Never done: the client is not reading.
  }
  writeHead(): this {
    this.headersSent = true;
    return this;
  }
  addTrailers(): void {}
}

/** Writes one message through connect-node to `response`, which the client then resets; "pending" if that write is still unsettled 100 ms later. */
async function writeThenClose(
  response: StalledResponse,
): Promise<"pending" | "resolved" | ConnectError> {
  const written = universalResponseToNodeResponse(
    {
      status: 200,
      header: new Headers(),
      body: createAsyncIterable([new Uint8Array(1024)]),
    },
    response as unknown as Http2ServerResponse,
  ).then(
    () => "resolved" as const,
    (err: unknown) => ConnectError.from(err),
  );
  await sleep(10);
  // The client resets the stream: it is destroyed, without an error.
  response.destroy();
  return Promise.race([written, sleep(100, "pending" as const)]);
}

describe("3. a write waiting on a stream the client reset ends the call", () => {
  it("Node's compatibility layer tells the response of a failed stream by 'close' alone", async () => {
    const events: string[] = [];
    const handler: NodeHandler = (_request, response) => {
      response.on("error", () => events.push("error"));
      response.on("close", () => events.push("close"));
      response.stream.on("error", () => events.push("stream error"));
      response.writeHead(200);
      response.write("x");
      setImmediate(() => response.stream.destroy(new Error("reset by the client")));
    };
    await serving(handler, async (session) => {
      const request = session.request({ ":path": "/" });
      const closed = new Promise((resolve) => request.once("close", resolve));
      request.on("error", () => undefined);
      request.resume();
      request.end();
      await closed;
      await sleep(20);
    });
    assert.deepEqual(events, ["stream error", "close"]);
  });

  it("connect-node's write waits for 'drain' or 'error' only (remove the workaround when this fails)", async () => {
    assert.equal(await writeThenClose(new StalledResponse()), "pending");
  });

  it("unblockWritesOnClose ends the write, and the call, as CANCELED", async () => {
    const response = new StalledResponse();
    unblockWritesOnClose(response as unknown as Http2ServerResponse);
    const outcome = await writeThenClose(response);
    assert.ok(outcome instanceof ConnectError, String(outcome));
    assert.deepEqual(
      [outcome.code, outcome.rawMessage],
      [Code.Canceled, "the client closed the stream"],
    );
  });
});

describe("4. answering a call before connect routes it", () => {
  const unknown = "/jobworker.v1.JobService/Nope";

  it("connect's adapter answers an unknown method with a bare HTTP 404 (remove ours when this fails)", async () => {
    await serving(connectAlone(), async (session) => {
      const answer = await call(session, unknown, envelope(new Uint8Array()));
      assert.deepEqual([answer.httpStatus, answer.grpcStatus], [404, undefined]);
    });
  });

  it("our handler answers it UNIMPLEMENTED, naming the method", async () => {
    await serving(ours(), async (session) => {
      const answer = await call(session, unknown, envelope(new Uint8Array()));
      assert.deepEqual(
        [answer.httpStatus, answer.grpcStatus, answer.grpcMessage],
        [200, String(Code.Unimplemented), `unknown method ${unknown}`],
      );
    });
  });
});
