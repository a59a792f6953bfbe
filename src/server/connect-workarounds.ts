/**
 * Where the server works around connect-node and Node's HTTP/2
 * compatibility layer instead of going through them: each entry says what
 * it works around, where that is tracked upstream, and when to remove it.
 * Written against @connectrpc/connect and @connectrpc/connect-node 2.2.0 on
 * Node 24.21.0; each entry has a test in
 * test/unit/server/connect-workarounds.test.ts that fails when an upgrade
 * changes the behaviour it works around. grpc-handler.ts applies them all.
 */
import {
  constants,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type ServerHttp2Stream,
} from "node:http2";
import { Code, ConnectError } from "@connectrpc/connect";

export type NodeHandler = (request: Http2ServerRequest, response: Http2ServerResponse) => void;

/*
 * 1. Undecodable requests are INVALID_ARGUMENT, not INTERNAL.
 *
 * A request body connect cannot decode (malformed protobuf, invalid UTF-8 in
 * a string field, a compressed message without an encoding) is the caller's
 * mistake, but connect reports it as INTERNAL (as gRPC's own status code
 * table has it), and does so before any interceptor runs (for unary calls),
 * so error-codes.ts never sees it. The status is rewritten in the response
 * trailers, recognised by connect's message, so that INTERNAL keeps meaning
 * "a fault of the server". (A message that does not decompress connect
 * already answers INVALID_ARGUMENT.)
 *
 * Upstream: no issue found in connectrpc/connect-es. To file: "a way for a
 * server to tell request decoding failures apart (a distinct error class,
 * or a cause) so it can map them", or an option to answer them
 * INVALID_ARGUMENT.
 * Remove when: connect answers these INVALID_ARGUMENT itself, or lets an
 * interceptor see them.
 */

/** connect's messages for a request it could not decode. */
const DECODE_FAILURES = [
  /^parse binary: /,
  /^received compressed envelope, but do not know how to decompress$/,
];

type Trailers = Parameters<Http2ServerResponse["addTrailers"]>[0];

function asInvalidArgument(trailers: Trailers): Trailers {
  if (String(trailers["grpc-status"]) !== String(Code.Internal)) return trailers;
  let message: string;
  try {
    message = decodeURIComponent(String(trailers["grpc-message"] ?? ""));
  } catch {
    return trailers;
  }
  if (!DECODE_FAILURES.some((pattern) => pattern.test(message))) return trailers;
  const detail = message.replace(/^parse binary: /, "");
  return {
    ...trailers,
    "grpc-status": String(Code.InvalidArgument),
    // grpc-message is percent-encoded (gRPC over HTTP/2 spec).
    "grpc-message": encodeURIComponent(`the request message could not be decoded: ${detail}`),
  };
}

/*
 * 2. A refusal sent while the client is still sending ends its stream.
 *
 * When a refusal is complete while the client is still sending its request
 * (a message refused from its length prefix, a call refused before it was
 * routed), neither connect nor Node end the client's half of the stream:
 * the unread bytes keep the connection's flow-control window, and every
 * later call on that connection stalls. gRPC servers reset such a stream
 * with NO_ERROR, as RFC 9113 section 8.1 provides for a response complete
 * before its request.
 *
 * Upstream: no issue found in connectrpc/connect-es or nodejs/node. To file
 * (connect-es): "connect-node: after a response that ends before the
 * request body was read, reset the stream with NO_ERROR".
 * Remove when: connect or Node resets such streams itself.
 */

/** Resets `stream` with NO_ERROR, after what is queued, if the client is still sending. */
function resetIfStillSending(stream: ServerHttp2Stream): void {
  setImmediate(() => {
    if (!stream.closed && stream.state.remoteClose === 0) stream.close(constants.NGHTTP2_NO_ERROR);
  });
}

/** `handler` with entries 1 and 2 applied to every call it answers. */
export function guardRequests(handler: NodeHandler): NodeHandler {
  return (request, response) => {
    let refused = false;
    const addTrailers = response.addTrailers.bind(response);
    response.addTrailers = (headers) => {
      const rewritten = asInvalidArgument(headers);
      refused = String(rewritten["grpc-status"] ?? "0") !== "0";
      addTrailers(rewritten);
    };
    // Node's compat layer sends the trailers from its own 'wantTrailers'
    // listener, registered before this one; the reset goes out after them.
    // Only after a refusal: a call that succeeded has read its whole
    // request, and the client's END_STREAM may simply not have arrived yet
    // (under load it often has not); resetting such a stream makes Node
    // clients fail a call that succeeded ("Premature close").
    request.stream.once("wantTrailers", () => {
      if (refused) resetIfStillSending(request.stream);
    });
    handler(request, response);
  };
}

/*
 * 3. A write waiting on a stream the client reset ends the call.
 *
 * connect-node writes a message and, when the response's buffer is full,
 * waits for 'drain' or 'error' (universalResponseToNodeResponse). Node's
 * compatibility layer never forwards a stream's 'error' to the response,
 * and a destroyed stream emits no 'drain': a stream the client resets
 * while a written message waits (a cancelled follower that stopped
 * reading) ends with 'close' alone, and the call hangs, holding its output
 * reader and file descriptor until garbage collection (found by the
 * reliability suite's 10,000 dropped streams). The close is turned into
 * the error the write waits for.
 *
 * Upstream: Node's side is by design (nodejs/node#22323: "errors in
 * compatibility mode are not forwarded"). No issue found in
 * connectrpc/connect-es. To file: "connect-node: a write to an
 * Http2ServerResponse waits for 'drain' or 'error', and hangs when the
 * stream closes in between; also listen for 'close'".
 * Remove when: connect-node's write also settles on 'close'.
 */

export function unblockWritesOnClose(response: Http2ServerResponse): void {
  response.once("close", () => {
    if (!response.writableFinished && response.listenerCount("error") > 0) {
      response.emit("error", new ConnectError("the client closed the stream", Code.Canceled));
    }
  });
}

/*
 * 4. Answering a call before connect routes it.
 *
 * connect answers only the calls it routes; its Node adapter answers a
 * path it does not know with a bare HTTP 404, where gRPC servers answer
 * status UNIMPLEMENTED with a message that names the method (a client can
 * only guess UNIMPLEMENTED from the 404). A call refused before routing (an
 * unknown method, a connection over its cap) is answered here: a
 * trailers-only gRPC response (HEADERS with END_STREAM) written by hand,
 * and the reset of entry 2.
 *
 * Upstream: none; the 404 is the adapter's documented `fallback`. To file
 * (connect-es): "connectNodeAdapter: answer an unknown gRPC method with
 * grpc-status 12 (UNIMPLEMENTED), as gRPC servers do".
 * Remove when: connect can answer a call with a status before routing it.
 */

export function answerAtOnce(request: Http2ServerRequest, error: ConnectError): void {
  const stream = request.stream;
  if (stream.destroyed) return;
  stream.respond(
    {
      ":status": 200,
      "content-type": "application/grpc",
      "grpc-status": String(error.code),
      // grpc-message is percent-encoded (gRPC over HTTP/2 spec).
      "grpc-message": encodeURIComponent(error.rawMessage),
    },
    { endStream: true },
  );
  resetIfStillSending(stream);
}
