/**
 * Two guards around connect-node's Node request handler, at the HTTP/2 edge.
 *
 * 1. Decode errors. A request body connect-node cannot decode (malformed protobuf, invalid
 * UTF-8 in a string field, a compressed message without an encoding) is the
 * caller's mistake, but connect reports it as INTERNAL, and does so before
 * any interceptor runs (for unary calls), so error-codes.ts never sees it.
 * This wrapper of the Node request handler rewrites exactly those statuses
 * in the response trailers to INVALID_ARGUMENT, so INTERNAL keeps meaning
 * "a fault of the server".
 *
 * 2. Early answers. When a refusal is complete while the client is still
 * sending its request (a message refused from its length prefix), the
 * stream is reset with NO_ERROR, as gRPC servers do. Otherwise the unread
 * bytes keep the connection's flow-control window, and every later call on
 * that connection stalls.
 */
import { constants, type Http2ServerRequest, type Http2ServerResponse } from "node:http2";
import { Code } from "@connectrpc/connect";

type NodeHandler = (request: Http2ServerRequest, response: Http2ServerResponse) => void;

/** connect's messages for input it could not decode (connect-es 2.x). */
const DECODE_FAILURES = [
  /^parse binary: /,
  /^received compressed envelope, but do not know how to decompress$/,
  /^decompression failed$/,
];

export function guardRequests(handler: NodeHandler): NodeHandler {
  return (request, response) => {
    let refused = false;
    const addTrailers = response.addTrailers.bind(response);
    response.addTrailers = (headers) => {
      const rewritten = rewrite(headers);
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
      setImmediate(() => {
        const stream = request.stream;
        if (refused && !stream.closed && stream.state.remoteClose === 0) {
          stream.close(constants.NGHTTP2_NO_ERROR);
        }
      });
    });
    handler(request, response);
  };
}

function rewrite(headers: Parameters<Http2ServerResponse["addTrailers"]>[0]): typeof headers {
  if (String(headers["grpc-status"]) !== String(Code.Internal)) return headers;
  const raw = headers["grpc-message"];
  let message: string;
  try {
    message = decodeURIComponent(String(raw ?? ""));
  } catch {
    return headers;
  }
  if (!DECODE_FAILURES.some((pattern) => pattern.test(message))) return headers;
  const detail = message.replace(/^parse binary: /, "");
  return {
    ...headers,
    "grpc-status": String(Code.InvalidArgument),
    // grpc-message is percent-encoded (gRPC over HTTP/2 spec).
    "grpc-message": encodeURIComponent(`the request message could not be decoded: ${detail}`),
  };
}
